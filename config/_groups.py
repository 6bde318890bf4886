"""The settings by group, each setting declared once: its environment variable, default, checks and meaning.

`config.Settings` is all the groups together. A group's docstring is its heading in docs/configuration.md (the
first line) and what it is for (the rest); a setting's docstring is what it means. Names are the environment
variables' names (the contract other tools rely on); values that hold a list are comma-separated, as a person
would type them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config._keyvault import UNRESOLVED, unresolved
from config._signing import (
    MIN_SIGNING_BITS,
    MIN_SIGNING_KEY,
    PLACEHOLDER_KEYS,
    PLACEHOLDER_STEM,
    contains,
    entropy_bits,
    guessing_bits,
    repeats,
)

__all__ = ["DEFAULT_SYNC_SCHEDULE", "GROUPS", "NO_SUCH_FILE", "EmailSettings", "FormSettings", "GraphRequestSettings",
           "GuestSettings", "NotifySettings", "PrivacySettings", "ServiceSettings", "SessionSettings",
           "TenantSettings", "WorkplaceSettings"]

CommaList = Annotated[tuple[str, ...], NoDecode]
DEFAULT_SYNC_SCHEDULE = "0 */5 * * * *"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
NO_SUCH_FILE = "no such file"
UUID = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
NOTIFY_KEY = re.compile(r".+-" + UUID[1:-1] + "-" + UUID[1:-1])  # {key name}-{service id}-{secret}


def _split_commas(value: Any) -> Any:
    """"a.org, B.org" as ("a.org", "b.org"); a Key Vault reference's text is left whole, for `_resolved` to refuse
    (a group's own validators run before those it shares with every group)."""
    if isinstance(value, str) and not unresolved(value):
        return tuple(part.strip().lower() for part in value.split(",") if part.strip())
    return value


class _Group(BaseSettings):
    """What every group of settings shares: how they are read, and the checks that apply to any setting."""

    # A blank value means "not set": the deployment (infra/) lists every setting, blank where the default holds.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True, env_ignore_empty=True)

    @field_validator("*", mode="before")
    @classmethod
    def _resolved(cls, value: Any) -> Any:
        # every setting, secret or not, may be a Key Vault reference; its text is never a good value (_keyvault)
        if unresolved(value):
            raise ValueError(UNRESOLVED)
        return value

    @field_validator("authority_host", "graph_endpoint", "public_url", "notify_base_url", check_fields=False)
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be a URL starting with https://")
        return value.rstrip("/")

    @field_validator("public_url", "notify_base_url", check_fields=False)
    @classmethod
    def _https_unless_local(cls, value: str) -> str:
        # links in emails carry tokens, and Notify's requests its key: over plain http anyone on the way could
        # read and use them
        host = urlsplit(value).hostname or ""
        if value.startswith("http://") and host not in LOCAL_HOSTS:
            raise ValueError("must start with https:// (plain http is only for localhost)")
        return value


class TenantSettings(_Group):
    """Microsoft 365: the tenant and the app's identity.

    Who the service is in the tenant, and where it gets its tokens. [docs/permissions.md](permissions.md) says
    what to grant.
    """

    tenant_id: str = Field(min_length=1, validation_alias="M365_TENANT_ID")
    """Entra tenant id (a GUID, or the tenant's domain)."""
    client_id: str = Field(min_length=1, validation_alias="M365_CLIENT_ID")
    """The app registration's application (client) id."""
    client_certificate_path: Path | None = Field(default=None, validation_alias="M365_CLIENT_CERTIFICATE_PATH")
    """PEM file holding the private key and the certificate of the app."""
    client_secret: SecretStr | None = Field(default=None, validation_alias="M365_CLIENT_SECRET")
    """Client secret. A certificate is preferred; one of the two is required."""
    use_managed_identity: bool = Field(default=False, validation_alias="M365_USE_MANAGED_IDENTITY")
    """`true`: Graph tokens (and the state store, given an account URL) from the Function App's managed identity,
    with no secret or certificate; M365_CLIENT_ID is then the user-assigned identity's client id."""
    authority_host: str = Field(default="https://login.microsoftonline.com", validation_alias="M365_AUTHORITY_HOST")
    """Token authority; national clouds have their own."""
    graph_endpoint: str = Field(default="https://graph.microsoft.com", validation_alias="M365_GRAPH_ENDPOINT")
    """Graph base URL, without `/v1.0`; national clouds have their own."""
    ca_bundle: Path | None = Field(default=None, validation_alias="M365_CA_BUNDLE")
    """Extra CA certificates to trust for the authority and Graph (the emulator's CA, a TLS proxy)."""

    @field_validator("ca_bundle", "client_certificate_path")
    @classmethod
    def _a_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{NO_SUCH_FILE}: {value}")
        return value

    @property
    def graph_base_url(self) -> str:
        """`https://graph.microsoft.com/v1.0`, without a trailing slash."""
        return f"{self.graph_endpoint}/v1.0"


class WorkplaceSettings(_Group):
    """Microsoft 365: the programme's site, mailbox, organiser and guest group.

    What the service works on. [docs/permissions.md](permissions.md), section 5, says how to find each id.
    """

    site_id: str = Field(min_length=1, validation_alias="M365_SITE_ID")
    """The programme's SharePoint site id."""
    sender: str = Field(min_length=1, validation_alias="M365_SENDER")
    """Mailbox (UPN or id) that sends mail."""
    organizer_id: str = Field(min_length=1, validation_alias="M365_ORGANIZER_ID")
    """Object id (or UPN) of the user who organises the Teams meetings."""
    guest_group_id: str = Field(min_length=1, validation_alias="M365_GUEST_GROUP_ID")
    """Group whose members may use the programme's site."""


class ServiceSettings(_Group):
    """The service: its state, its links and its runs.

    Where the service keeps what it has done, how its links are made, and when it runs.
    """

    programme_name: str = Field(default="Co-production programme", min_length=1, max_length=80,
                                validation_alias="COPROD_PROGRAMME_NAME")
    """The programme's name, as participants see it on pages and in emails."""
    state: str = Field(default="sqlite:///coprod-state.sqlite3", validation_alias="COPROD_STATE")
    """State store: `sqlite:///path`, or an Azure Storage connection string."""
    state_prefix: str = Field(default="coprod", pattern=r"^[A-Za-z][A-Za-z0-9]{0,40}$",
                              validation_alias="COPROD_STATE_PREFIX")
    """On Azure Table Storage, the start of the tables' names (`<prefix>ledger`, ...): two deployments may share
    one storage account with different prefixes. Letters and digits, starting with a letter."""
    public_url: str = Field(default="http://localhost:7071", validation_alias="COPROD_PUBLIC_URL")
    """Base URL of the public pages, used in links in emails."""
    signing_key: SecretStr = Field(validation_alias="COPROD_SIGNING_KEY")
    """Secret for signed links (confirm, unsubscribe) and the address digests in them: at least 32 random
    characters (`python -c "import secrets; print(secrets.token_urlsafe(32))"`); placeholders (or a key containing
    one), the tenant's or app's id, and repetitive values or runs such as abc, 123 or qwerty are refused."""
    sync_schedule: str = Field(default=DEFAULT_SYNC_SCHEDULE, validation_alias="COPROD_SYNC_SCHEDULE")
    """NCRONTAB schedule of the sync timer (six fields, seconds first)."""
    lease_seconds: float = Field(default=120, ge=10, validation_alias="COPROD_LEASE_SECONDS")
    """How long a run's lease lasts unless renewed (it is renewed every third of this while the run works): the
    longest a run that died keeps the next one waiting."""
    recheck_seconds: float = Field(default=300, gt=0, validation_alias="COPROD_RECHECK_SECONDS")
    """How long an email or invitation whose answer was lost is left before the service looks whether it went
    (Sent Items, the directory), and a list row being added before another run may add it: Exchange and Entra
    take a few minutes to show what they did."""
    resync_hours: float = Field(default=24, ge=1, le=24 * 30, validation_alias="COPROD_RESYNC_HOURS")
    """How often every list is read whole and held against the service's copy, for any change Microsoft's change
    feed never reported (a run does it when this long has passed since the last; `sync --once --resync` now)."""

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        # the three forms coprod.store.open_store takes; the store's own errors would otherwise come at first use
        value = value.strip()
        if value.startswith("sqlite:///"):  # the store makes its folder
            return value
        parts = {part.split("=", 1)[0].strip().lower() for part in value.split(";") if "=" in part}
        if "usedevelopmentstorage" in parts:
            return value
        if parts & {"accountname", "tableendpoint"}:
            if not parts & {"accountkey", "sharedaccesssignature"}:
                raise ValueError("the Azure Storage connection string has no AccountKey or SharedAccessSignature "
                                 "(in Azure, use the account URL https://<account>.table.core.windows.net and the "
                                 "managed identity instead)")
            return value
        if value.startswith("https://") and ".table." in value:
            return value
        raise ValueError("expected sqlite:///path, an Azure Storage connection string, or "
                         "https://<account>.table.core.windows.net")

    @field_validator("sync_schedule")
    @classmethod
    def _ncrontab(cls, value: str) -> str:
        # NCRONTAB has six fields, seconds first ("0 */5 * * * *"); the Functions host also takes a TimeSpan.
        if len(value.split()) != 6 and not re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", value.strip()):
            raise ValueError("must be an NCRONTAB schedule with six fields, seconds first, e.g. 0 */5 * * * *")
        return value.strip()

    @field_validator("signing_key")
    @classmethod
    def _strong_enough(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        key = value.get_secret_value()
        folded = key.strip().casefold()
        if folded in PLACEHOLDER_KEYS or PLACEHOLDER_STEM in folded:
            raise ValueError("is the documentation's placeholder, or contains it; set a random value of your own")
        for variable, field in (("M365_TENANT_ID", "tenant_id"), ("M365_CLIENT_ID", "client_id")):
            if contains(folded, str(info.data.get(field) or "")):
                raise ValueError(f"is {variable}, or contains it, and that is not secret; use a random value, e.g. "
                                 "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        if len(key) < MIN_SIGNING_KEY:
            raise ValueError(f"must be at least {MIN_SIGNING_KEY} characters long")
        if min(entropy_bits(key), guessing_bits(key)) < MIN_SIGNING_BITS or repeats(key):
            raise ValueError("is too predictable (repeated, few different characters, or runs such as abc, 123 or "
                             "qwerty); use a random value, e.g. "
                             "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        return value

    @property
    def site_name(self) -> str:
        """How participants' emails and pages name the programme's SharePoint site."""
        return f"the {self.programme_name} SharePoint site"


class GraphRequestSettings(_Group):
    """Graph requests.

    How long one request to Microsoft Graph may take, and how long it is retried.
    """

    graph_timeout_seconds: float = Field(default=30, gt=0, validation_alias="COPROD_GRAPH_TIMEOUT")
    """Timeout of one Graph request."""
    graph_max_attempts: int = Field(default=8, ge=1, validation_alias="COPROD_GRAPH_MAX_ATTEMPTS")
    """Attempts of one Graph request before a throttled or failing call gives up."""
    graph_max_retry_seconds: float = Field(default=300, gt=0, validation_alias="COPROD_GRAPH_MAX_RETRY_SECONDS")
    """Total time one Graph request may spend waiting between retries."""
    graph_concurrency: int = Field(default=4, ge=1, le=16, validation_alias="COPROD_GRAPH_CONCURRENCY")
    """`$batch` requests (of 20 list writes or reads each) in flight at once. A throttled answer on any of them
    holds them all until its Retry-After; 1 sends them one after another."""


class EmailSettings(_Group):
    """Email.

    How email leaves, and how fast. Every email goes through the outbox, at the sending mailbox's limits.
    """

    mail_transport: Literal["graph", "acs"] = Field(default="graph", validation_alias="COPROD_MAIL_TRANSPORT")
    """How email leaves: `graph` (sendMail from M365_SENDER) or `acs` (Azure Communication Services Email, for
    lists beyond Exchange's 10,000 recipients a day)."""
    send_per_minute: int = Field(default=30, ge=1, validation_alias="COPROD_SEND_PER_MINUTE")
    """Messages the sender's mailbox may send a minute (Exchange Online: 30)."""
    send_per_day: int = Field(default=10_000, ge=1, validation_alias="COPROD_SEND_PER_DAY")
    """Recipients the sender's mailbox may reach a day (Exchange Online: 10,000)."""
    acs_connection_string: SecretStr | None = Field(default=None, validation_alias="COPROD_ACS_CONNECTION_STRING")
    """Azure Communication Services connection string (`endpoint=https://...;accesskey=...`), when `acs`."""
    acs_sender: str | None = Field(default=None, validation_alias="COPROD_ACS_SENDER")
    """The verified sender address of the ACS Email domain (`DoNotReply@...`), when `acs`."""


class NotifySettings(_Group):
    """Texts and letters: GOV.UK Notify.

    Optional. With a key and a template, people who chose to hear from us by phone get a text, and by post a
    letter, through GOV.UK Notify, instead of a place on the team's daily list; without them, the team's list as
    before. [docs/notify.md](notify.md) says how to make the two templates.
    """

    notify_api_key: SecretStr | None = Field(default=None, validation_alias="COPROD_NOTIFY_API_KEY")
    """The Notify API key, as Notify showed it once: `{key name}-{service id}-{secret}`. A live key (a team key
    cannot send letters, nor text people outside the team)."""
    notify_base_url: str = Field(default="https://api.notifications.service.gov.uk",
                                 validation_alias="COPROD_NOTIFY_BASE_URL")
    """Notify's API (the tests point it at a stand-in on this machine)."""
    notify_sms_template_id: str | None = Field(default=None, validation_alias="COPROD_NOTIFY_SMS_TEMPLATE_ID")
    """The text message template's id: its message is `((message))`. Unset: nobody is texted."""
    notify_letter_template_id: str | None = Field(default=None, validation_alias="COPROD_NOTIFY_LETTER_TEMPLATE_ID")
    """The letter template's id: its heading is `((subject))` and its body `((body))`. Unset: nobody is written
    to."""
    notify_email_template_id: str | None = Field(default=None, validation_alias="COPROD_NOTIFY_EMAIL_TEMPLATE_ID")
    """An email template's id: accepted, and not used yet (emails go from the programme's mailbox)."""

    @field_validator("notify_api_key")
    @classmethod
    def _notify_key(cls, value: SecretStr | None) -> SecretStr | None:
        key = value.get_secret_value().strip() if value is not None else None
        if key is not None and not NOTIFY_KEY.fullmatch(key):
            raise ValueError("is not a GOV.UK Notify API key: it is the key's name, then the service id and the "
                             "secret key (two ids of 36 characters, xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), joined by "
                             "hyphens, as Notify showed it when the key was made")
        return SecretStr(key) if key is not None else None

    @field_validator("notify_sms_template_id", "notify_letter_template_id", "notify_email_template_id")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(UUID, value.strip()):
            raise ValueError("is not a Notify template id: copy it from the template's page in Notify")
        return value.strip() if value is not None else None


class SessionSettings(_Group):
    """Sessions: meetings, reminders, briefs and pre-reading.

    What happens around each session.
    """

    meeting_lobby: Literal["organization", "organizer", "everyone"] = Field(
        default="organization", validation_alias="COPROD_MEETING_LOBBY")
    """Who skips the Teams lobby: `organization` (people from outside wait to be let in), `organizer` (everyone
    but the organiser waits), or `everyone` (no lobby)."""
    reminder_hours: float = Field(default=24, gt=0, validation_alias="COPROD_REMINDER_HOURS")
    """How long before a session its reminder goes."""
    brief_hours: float = Field(default=48, gt=0, validation_alias="COPROD_BRIEF_HOURS")
    """How long before a session its facilitators get their brief."""
    prereading_hours: float = Field(default=48, ge=0, le=24 * 30, validation_alias="COPROD_PREREADING_HOURS")
    """Pre-reading added or changed more than this many hours before a session is emailed to the people booked;
    later, it goes in their reminder."""


class GuestSettings(_Group):
    """Guest access and the admins.

    Who becomes a guest of the tenant without an admin, and what the admins are sent.
    """

    guest_auto_approve_domains: CommaList = Field(default=(), validation_alias="COPROD_GUEST_AUTO_APPROVE_DOMAINS")
    """Domains whose verified addresses are approved without an admin."""
    guest_blocked_domains: CommaList = Field(default=(), validation_alias="COPROD_GUEST_BLOCKED_DOMAINS")
    """Domains whose guest requests are refused."""
    admin_email: str | None = Field(default=None, validation_alias="COPROD_ADMIN_EMAIL")
    """Where the admin digest goes; none means no digest."""
    max_invites_per_run: int = Field(default=50, ge=0, validation_alias="COPROD_MAX_INVITES_PER_RUN")
    """Cap on guest invitations a run."""
    guest_review_days: int = Field(default=180, ge=30, le=3650, validation_alias="COPROD_GUEST_REVIEW_DAYS")
    """How long a guest the service added keeps access before an admin is asked to review it (Keep or Remove)."""

    @field_validator("guest_auto_approve_domains", "guest_blocked_domains", mode="before")
    @classmethod
    def _commas(cls, value: Any) -> Any:
        return _split_commas(value)


class FormSettings(_Group):
    """The public forms' limits.

    How much the public booking, subscribe and contribution forms take, so that nobody can flood the lists or the
    mailbox.
    """

    book_per_client_per_minute: int = Field(default=10, ge=1, validation_alias="COPROD_BOOK_PER_CLIENT")
    """Bookings the public form takes from one client a minute (a family or a support worker booking for several
    people; its hour is a tenth of everyone's); past it the page asks them to try again in a few minutes. "My
    bookings" look-ups have the same limits, counted apart."""
    book_per_hour: int = Field(default=300, ge=1, validation_alias="COPROD_BOOK_PER_HOUR")
    """Bookings the public form makes for everyone together an hour (counted only for bookings made)."""
    book_per_address_per_day: int = Field(default=3, ge=1, validation_alias="COPROD_BOOK_PER_ADDRESS")
    """Bookings the public form makes for one mailbox a day (an address with its plus-tag removed, and at Gmail its
    dots); past it the page answers as usual and makes none."""
    subscribe_per_client_per_minute: int = Field(default=5, ge=1, validation_alias="COPROD_SUBSCRIBE_PER_CLIENT")
    """Posts of the public subscribe form taken from one client (network address) a minute (its hour is a tenth of
    everyone's); past it a page asks them to try again in a few minutes, and nothing is recorded."""
    subscribe_per_hour: int = Field(default=100, ge=1, validation_alias="COPROD_SUBSCRIBE_PER_HOUR")
    """Posts of the public subscribe form taken from everyone together an hour, so a flood cannot spend the
    mailbox's daily allowance ahead of booking confirmations."""
    contribute_per_client_per_minute: int = Field(default=5, ge=1, validation_alias="COPROD_CONTRIBUTE_PER_CLIENT")
    """Contributions the public "tell us" form takes from one client (network address) a minute (its hour is a
    tenth of everyone's); past it a page asks them to try again in a few minutes, and nothing is saved."""
    contribute_per_hour: int = Field(default=100, ge=1, validation_alias="COPROD_CONTRIBUTE_PER_HOUR")
    """Contributions the public form saves for everyone together an hour (counted only for those saved)."""


class PrivacySettings(_Group):
    """Privacy and data protection.

    What the privacy notice says, and how long people's details are kept.
    [docs/data-protection.md](data-protection.md) has the rest.
    """

    privacy_controller: str = Field(default="", max_length=200, validation_alias="COPROD_PRIVACY_CONTROLLER")
    """Who is responsible for the personal data (the council or charity), as the privacy notice names it."""
    privacy_contact: str = Field(default="", max_length=200, validation_alias="COPROD_PRIVACY_CONTACT")
    """How people ask about their data, or ask for it to be deleted (an address or a web page), on the notice."""
    contact_phone: str = Field(default="", max_length=40, pattern=r"^[0-9 +()-]*$",
                               validation_alias="COPROD_CONTACT_PHONE")
    """The programme team's phone number (digits, spaces, `+`, brackets and dashes), for people without email: the
    pages say "ring us on" it to book by phone or post, and for help, where they would otherwise say "reply to any
    of our emails"."""
    contact_hours: str = Field(default="", max_length=100, validation_alias="COPROD_CONTACT_HOURS")
    """When that number is answered, in words ("Monday to Friday, 9am to 5pm"), shown beside it."""
    retention_days: int = Field(default=365, ge=30, le=3650, validation_alias="COPROD_RETENTION_DAYS")
    """How long after a session people's details are kept, as the privacy notice says; cleared after it."""


# The groups in the contract's order: docs/configuration.md shows them so, and a missing setting is named in it.
GROUPS: tuple[type[BaseSettings], ...] = (TenantSettings, WorkplaceSettings, ServiceSettings, GraphRequestSettings,
                                          EmailSettings, NotifySettings, SessionSettings, GuestSettings, FormSettings,
                                          PrivacySettings)
