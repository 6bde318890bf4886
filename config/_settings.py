"""The configuration contract (docs/configuration.md is generated from it), read from the environment.

Every setting is declared once, here, with what it means. Names are the
environment variables' names (the contract other tools rely on); values that
hold a list are comma-separated, as a person would type them.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config._keyvault import UNRESOLVED, unresolved

__all__ = ["DEFAULT_SYNC_SCHEDULE", "Settings", "SettingsError", "load_settings"]

CommaList = Annotated[tuple[str, ...], NoDecode]
DEFAULT_SYNC_SCHEDULE = "0 */5 * * * *"
MIN_SIGNING_KEY = 32  # characters
MIN_SIGNING_BITS = 100  # estimated entropy: 32 random hex digits give about 110, a word repeated far less
# Values the documentation shows as placeholders: a deployment that copied one has no secret at all.
PLACEHOLDER_KEYS = frozenset({"set-me-from-key-vault-at-least-16-characters",
                              "set-me-from-key-vault-at-least-32-random-characters"})
PLACEHOLDER_STEM = "set-me-from-key-vault"  # what every placeholder starts with: "...characters!" is no secret either
# Runs people type: the alphabet, the digits, keyboard rows. A character that carries one on (either way), or repeats
# the one before, is about a bit to someone guessing, however varied the key looks.
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_STEPS = frozenset(pair for run in _RUNS for a, b in pairwise(run) for pair in ((a, b), (b, a)))
_NO_CREDENTIAL = ("M365_CLIENT_SECRET or M365_CLIENT_CERTIFICATE_PATH must be set (or M365_USE_MANAGED_IDENTITY=true "
                  "in Azure)")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
NO_SUCH_FILE = "no such file"


class SettingsError(Exception):
    """Settings are missing or malformed: every problem found, at once (a newcomer fixes them in one go).

    `problems` lists (variable, problem) pairs; `variable` and `problem` are the first. str() is one line per
    problem, each naming its variable, never showing a secret (a missing file's path, for the person at the command
    line, is shown). `public_problems` are the same with no value of any kind, for an anonymous page.
    """

    def __init__(self, variable: str, problem: str, *more: tuple[str, str],
                 public: tuple[tuple[str, str], ...] | None = None) -> None:
        self.problems: tuple[tuple[str, str], ...] = ((variable, problem), *more)
        self.public_problems = self.problems if public is None else public
        self.variable = variable
        self.problem = problem
        super().__init__("\n".join(f"{name}: {text}" for name, text in self.problems))


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip().lower() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """All settings of the service. Build it with `load_settings()`."""

    # A blank value means "not set": the deployment (infra/) lists every setting, blank where the default holds.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True, env_ignore_empty=True)

    # --- Microsoft 365 -----------------------------------------------------
    tenant_id: str = Field(min_length=1, validation_alias="M365_TENANT_ID")
    """Entra tenant id (a GUID, or the tenant's domain)."""
    client_id: str = Field(min_length=1, validation_alias="M365_CLIENT_ID")
    """The app registration's application (client) id."""
    client_secret: SecretStr | None = Field(default=None, validation_alias="M365_CLIENT_SECRET")
    """Client secret. A certificate is preferred; one of the two is required."""
    client_certificate_path: Path | None = Field(default=None, validation_alias="M365_CLIENT_CERTIFICATE_PATH")
    """PEM file holding the private key and the certificate of the app."""
    use_managed_identity: bool = Field(default=False, validation_alias="M365_USE_MANAGED_IDENTITY")
    """`true`: Graph tokens (and the state store, given an account URL) from the Function App's managed identity,
    with no secret or certificate; M365_CLIENT_ID is then the user-assigned identity's client id."""
    authority_host: str = Field(default="https://login.microsoftonline.com", validation_alias="M365_AUTHORITY_HOST")
    """Token authority; national clouds have their own."""
    graph_endpoint: str = Field(default="https://graph.microsoft.com", validation_alias="M365_GRAPH_ENDPOINT")
    """Graph base URL, without `/v1.0`; national clouds have their own."""
    ca_bundle: Path | None = Field(default=None, validation_alias="M365_CA_BUNDLE")
    """Extra CA certificates to trust for the authority and Graph (the emulator's CA, a TLS proxy)."""
    site_id: str = Field(min_length=1, validation_alias="M365_SITE_ID")
    """The programme's SharePoint site id."""
    organizer_id: str = Field(min_length=1, validation_alias="M365_ORGANIZER_ID")
    """Object id (or UPN) of the user who organises the Teams meetings."""
    sender: str = Field(min_length=1, validation_alias="M365_SENDER")
    """Mailbox (UPN or id) that sends mail."""
    guest_group_id: str = Field(min_length=1, validation_alias="M365_GUEST_GROUP_ID")
    """Group whose members may use the programme's site."""

    # --- the service -------------------------------------------------------
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
    guest_auto_approve_domains: CommaList = Field(default=(), validation_alias="COPROD_GUEST_AUTO_APPROVE_DOMAINS")
    """Domains whose verified addresses are approved without an admin."""
    guest_blocked_domains: CommaList = Field(default=(), validation_alias="COPROD_GUEST_BLOCKED_DOMAINS")
    """Domains whose guest requests are refused."""
    admin_email: str | None = Field(default=None, validation_alias="COPROD_ADMIN_EMAIL")
    """Where the admin digest goes; none means no digest."""
    max_invites_per_run: int = Field(default=50, ge=0, validation_alias="COPROD_MAX_INVITES_PER_RUN")
    """Cap on guest invitations a run."""
    sync_schedule: str = Field(default=DEFAULT_SYNC_SCHEDULE, validation_alias="COPROD_SYNC_SCHEDULE")
    """NCRONTAB schedule of the sync timer (six fields, seconds first)."""
    send_per_minute: int = Field(default=30, ge=1, validation_alias="COPROD_SEND_PER_MINUTE")
    """Messages the sender's mailbox may send a minute (Exchange Online: 30)."""
    send_per_day: int = Field(default=10_000, ge=1, validation_alias="COPROD_SEND_PER_DAY")
    """Recipients the sender's mailbox may reach a day (Exchange Online: 10,000)."""
    mail_transport: Literal["graph", "acs"] = Field(default="graph", validation_alias="COPROD_MAIL_TRANSPORT")
    """How email leaves: `graph` (sendMail from M365_SENDER) or `acs` (Azure Communication Services Email, for
    lists beyond Exchange's 10,000 recipients a day)."""
    acs_connection_string: SecretStr | None = Field(default=None, validation_alias="COPROD_ACS_CONNECTION_STRING")
    """Azure Communication Services connection string (`endpoint=https://...;accesskey=...`), when `acs`."""
    acs_sender: str | None = Field(default=None, validation_alias="COPROD_ACS_SENDER")
    """The verified sender address of the ACS Email domain (`DoNotReply@...`), when `acs`."""
    reminder_hours: float = Field(default=24, gt=0, validation_alias="COPROD_REMINDER_HOURS")
    """How long before a session its reminder goes."""
    brief_hours: float = Field(default=48, gt=0, validation_alias="COPROD_BRIEF_HOURS")
    """How long before a session its facilitators get their brief."""
    meeting_lobby: Literal["organization", "organizer", "everyone"] = Field(
        default="organization", validation_alias="COPROD_MEETING_LOBBY")
    """Who skips the Teams lobby: `organization` (people from outside wait to be let in), `organizer` (everyone
    but the organiser waits), or `everyone` (no lobby)."""
    graph_timeout_seconds: float = Field(default=30, gt=0, validation_alias="COPROD_GRAPH_TIMEOUT")
    """Timeout of one Graph request."""
    graph_max_attempts: int = Field(default=8, ge=1, validation_alias="COPROD_GRAPH_MAX_ATTEMPTS")
    """Attempts of one Graph request before a throttled or failing call gives up."""
    graph_max_retry_seconds: float = Field(default=300, gt=0, validation_alias="COPROD_GRAPH_MAX_RETRY_SECONDS")
    """Total time one Graph request may spend waiting between retries."""
    recheck_seconds: float = Field(default=300, gt=0, validation_alias="COPROD_RECHECK_SECONDS")
    """How long an email or invitation whose answer was lost is left before the service looks whether it went
    (Sent Items, the directory), and a list row being added before another run may add it: Exchange and Entra
    take a few minutes to show what they did."""
    lease_seconds: float = Field(default=120, ge=10, validation_alias="COPROD_LEASE_SECONDS")
    """How long a run's lease lasts unless renewed (it is renewed every third of this while the run works): the
    longest a run that died keeps the next one waiting."""
    subscribe_per_client_per_minute: int = Field(default=5, ge=1, validation_alias="COPROD_SUBSCRIBE_PER_CLIENT")
    """Posts of the public subscribe form taken from one client (network address) a minute (its hour is a tenth of
    everyone's); past it a page asks them to try again in a few minutes, and nothing is recorded."""
    subscribe_per_hour: int = Field(default=100, ge=1, validation_alias="COPROD_SUBSCRIBE_PER_HOUR")
    """Posts of the public subscribe form taken from everyone together an hour, so a flood cannot spend the
    mailbox's daily allowance ahead of booking confirmations."""

    book_per_client_per_minute: int = Field(default=10, ge=1, validation_alias="COPROD_BOOK_PER_CLIENT")
    """Bookings the public form takes from one client a minute (a family or a support worker booking for several
    people; its hour is a tenth of everyone's); past it the page asks them to try again in a few minutes. "My
    bookings" look-ups have the same limits, counted apart."""
    book_per_hour: int = Field(default=300, ge=1, validation_alias="COPROD_BOOK_PER_HOUR")
    """Bookings the public form makes for everyone together an hour (counted only for bookings made)."""
    book_per_address_per_day: int = Field(default=3, ge=1, validation_alias="COPROD_BOOK_PER_ADDRESS")
    """Bookings the public form makes for one mailbox a day (an address with its plus-tag removed, and at Gmail its
    dots); past it the page answers as usual and makes none."""

    privacy_controller: str = Field(default="", max_length=200, validation_alias="COPROD_PRIVACY_CONTROLLER")
    """Who is responsible for the personal data (the council or charity), as the privacy notice names it."""
    privacy_contact: str = Field(default="", max_length=200, validation_alias="COPROD_PRIVACY_CONTACT")
    """How people ask about their data, or ask for it to be deleted (an address or a web page), on the notice."""
    retention_days: int = Field(default=365, ge=30, le=3650, validation_alias="COPROD_RETENTION_DAYS")
    """How long after a session people's details are kept, as the privacy notice says; cleared after it."""
    prereading_hours: float = Field(default=48, ge=0, le=24 * 30, validation_alias="COPROD_PREREADING_HOURS")
    """Pre-reading added or changed more than this many hours before a session is emailed to the people booked;
    later, it goes in their reminder."""
    guest_review_days: int = Field(default=180, ge=30, le=3650, validation_alias="COPROD_GUEST_REVIEW_DAYS")
    """How long a guest the service added keeps access before an admin is asked to review it (Keep or Remove)."""
    resync_hours: float = Field(default=24, ge=1, le=24 * 30, validation_alias="COPROD_RESYNC_HOURS")
    """How often every list is read whole and held against the service's copy, for any change Microsoft's change
    feed never reported (a run does it when this long has passed since the last; `sync --once --resync` now)."""

    @field_validator("guest_auto_approve_domains", "guest_blocked_domains", mode="before")
    @classmethod
    def _commas(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("*", mode="before")
    @classmethod
    def _resolved(cls, value: Any) -> Any:
        # every setting, secret or not, may be a Key Vault reference; its text is never a good value (_keyvault)
        if unresolved(value):
            raise ValueError(UNRESOLVED)
        return value

    @field_validator("authority_host", "graph_endpoint", "public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be a URL starting with https://")
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _https_unless_local(cls, value: str) -> str:
        # links in emails carry tokens: over plain http anyone on the way could read and use them
        host = urlsplit(value).hostname or ""
        if value.startswith("http://") and host not in LOCAL_HOSTS:
            raise ValueError("must start with https:// (plain http is only for localhost)")
        return value

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

    @field_validator("ca_bundle", "client_certificate_path")
    @classmethod
    def _a_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{NO_SUCH_FILE}: {value}")
        return value

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
            if _contains(folded, str(info.data.get(field) or "")):
                raise ValueError(f"is {variable}, or contains it, and that is not secret; use a random value, e.g. "
                                 "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        if len(key) < MIN_SIGNING_KEY:
            raise ValueError(f"must be at least {MIN_SIGNING_KEY} characters long")
        if min(_entropy_bits(key), _guessing_bits(key)) < MIN_SIGNING_BITS or _repeats(key):
            raise ValueError("is too predictable (repeated, few different characters, or runs such as abc, 123 or "
                             "qwerty); use a random value, e.g. "
                             "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> Settings:
        if self.client_secret is None and self.client_certificate_path is None and not self.use_managed_identity:
            raise ValueError(_NO_CREDENTIAL)
        if self.mail_transport == "acs":
            for value, name in ((self.acs_connection_string, "COPROD_ACS_CONNECTION_STRING"),
                                (self.acs_sender, "COPROD_ACS_SENDER")):
                if not value:
                    raise ValueError(f"{name} must be set when COPROD_MAIL_TRANSPORT is acs")
        return self

    @property
    def site_name(self) -> str:
        """How participants' emails and pages name the programme's SharePoint site."""
        return f"the {self.programme_name} SharePoint site"

    @property
    def graph_base_url(self) -> str:
        """`https://graph.microsoft.com/v1.0`, without a trailing slash."""
        return f"{self.graph_endpoint}/v1.0"


def _entropy_bits(text: str) -> float:
    """Shannon entropy of the characters as they occur, times the length: a rough count of a key's bits. A short
    sample shows fewer distinct characters than its source has, so the count is corrected up by (k - 1) / 2 ln 2
    bits for k distinct characters (Miller and Madow): without it a random 32-digit hex key (128 bits) was refused
    about once in 800."""
    counts = Counter(text)
    observed = -sum(n * math.log2(n / len(text)) for n in counts.values())
    return observed + (len(counts) - 1) / (2 * math.log(2))


def _guessing_bits(text: str) -> float:
    """A key's bits as someone guessing would count them: each character one of the classes the key uses (a-z 26,
    A-Z 26, 0-9 10, anything else 33: a-z0-9 alone is 36, about 5.2 bits a character), except one that repeats or
    carries on a run from the character before (see _RUNS), about 1 bit."""
    classes = ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))
    pool = sum(size for test, size in classes if any(c.isascii() and test(c) for c in text))
    pool += 33 if any(not (c.isascii() and c.isalnum()) for c in text) else 0
    each = math.log2(max(pool, 2))
    return each + sum(1.0 if a == b or (a.lower(), b.lower()) in _STEPS else each
                      for a, b in pairwise(text))


def _contains(key: str, identifier: str) -> bool:
    """Whether a (case-folded) key is an id of the app or tenant, or has one in it (with or without its hyphens)."""
    known = identifier.strip().casefold()
    if not known:
        return False
    if key == known:
        return True
    return len(known) >= 8 and (known in key or known.replace("-", "") in key.replace("-", ""))


def _repeats(text: str) -> bool:
    """A short pattern repeated (`abcabcabc...`): long, varied-looking, and guessable."""
    return any(text == (text[:size] * (len(text) // size + 1))[:len(text)] for size in range(1, len(text) // 2 + 1))


_ALIASES = {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment).

    Raises SettingsError naming every variable that is missing or wrong, in the order of the contract.
    """
    raw = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
    try:
        if environ is None:
            return Settings()  # type: ignore[call-arg]
        return Settings.model_validate(raw)
    except ValidationError as exc:
        found: dict[str, str] = {}
        for error in exc.errors():
            variable, problem = _named(error)
            found.setdefault(variable, problem)
        for variable, problem in _across(raw):  # rules across settings, which pydantic skips after a field error
            found.setdefault(variable, problem)
        order = list(_ALIASES.values())
        ranked = sorted(found.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
        public = tuple((name, _without_value(problem, raw.get(name, ""))) for name, problem in ranked)
        raise SettingsError(*ranked[0], *ranked[1:], public=public) from None


def _without_value(problem: str, value: str) -> str:
    """A problem in words that show nothing of the setting's value (a path names a folder, a user, a host)."""
    if problem.startswith(NO_SUCH_FILE):
        return "names a file that isn't there"
    if len(value.strip()) >= 4 and value.strip() in problem:
        return "has a value that isn't valid"
    return problem


def _named(error: Any) -> tuple[str, str]:
    """(variable, problem) of one pydantic error, in the words people see."""
    location = error.get("loc") or ()
    variable = _ALIASES.get(str(location[0]), str(location[0])) if location else ""
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not variable:
        named = re.search(r"\b(?:M365|COPROD)_[A-Z0-9_]+", message)  # a rule across settings names its variable
        return (named.group(0) if named else "settings"), message
    if error.get("type") == "missing":
        return variable, "is required but not set"
    return variable, message


def _across(raw: Mapping[str, str]) -> list[tuple[str, str]]:
    """The rules that span settings (Settings._one_credential), read from the raw values."""
    def on(name: str) -> bool:
        return raw.get(name, "").strip().lower() in {"1", "true", "yes", "on", "y", "t"}

    problems = []
    if not (raw.get("M365_CLIENT_SECRET") or raw.get("M365_CLIENT_CERTIFICATE_PATH") or
            on("M365_USE_MANAGED_IDENTITY")):
        problems.append(("M365_CLIENT_SECRET", _NO_CREDENTIAL))
    if raw.get("COPROD_MAIL_TRANSPORT", "").strip() == "acs":
        problems += [(name, f"{name} must be set when COPROD_MAIL_TRANSPORT is acs")
                     for name in ("COPROD_ACS_CONNECTION_STRING", "COPROD_ACS_SENDER") if not raw.get(name)]
    return problems
