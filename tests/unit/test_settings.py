"""Settings: the configuration contract (docs/configuration.md), and the one-line errors people see."""

from __future__ import annotations

import pytest

from config import SettingsError, load_settings

BASE = {
    "M365_TENANT_ID": "tenant", "M365_CLIENT_ID": "client", "M365_CLIENT_SECRET": "s3cret-value",
    "M365_SITE_ID": "site", "M365_ORGANIZER_ID": "organiser", "M365_SENDER": "team@example.org",
    "M365_GUEST_GROUP_ID": "group", "COPROD_SIGNING_KEY": "settings-test-key-0123456789abcdef",
}


def test_defaults_follow_the_contract() -> None:
    """Unset optional settings take the defaults docs/configuration.md lists."""
    settings = load_settings(BASE)
    assert (settings.authority_host, settings.graph_endpoint, settings.public_url, settings.max_invites_per_run,
            settings.guest_auto_approve_domains, settings.admin_email) == (
        "https://login.microsoftonline.com", "https://graph.microsoft.com", "http://localhost:7071", 50, (), None)
    assert settings.graph_base_url == "https://graph.microsoft.com/v1.0"


@pytest.mark.parametrize("variable", ["M365_TENANT_ID", "M365_SITE_ID", "M365_SENDER", "COPROD_SIGNING_KEY"])
def test_a_missing_setting_is_named(variable: str) -> None:
    """A missing required setting stops start-up with one line naming the variable."""
    env = {k: v for k, v in BASE.items() if k != variable}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.variable == variable
    assert str(caught.value) == f"{variable}: is required but not set"


def test_a_malformed_number_is_named() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_MAX_INVITES_PER_RUN": "lots"})
    assert caught.value.variable == "COPROD_MAX_INVITES_PER_RUN"
    assert "\n" not in str(caught.value)


def test_no_credential_at_all_is_named() -> None:
    env = {k: v for k, v in BASE.items() if k != "M365_CLIENT_SECRET"}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.variable == "M365_CLIENT_SECRET"


def test_lists_are_comma_separated_as_people_type_them() -> None:
    settings = load_settings(BASE | {"COPROD_GUEST_AUTO_APPROVE_DOMAINS": " Partner.example.org,nhs.example.org ,"})
    assert settings.guest_auto_approve_domains == ("partner.example.org", "nhs.example.org")


def test_secrets_are_never_shown() -> None:
    """repr() of the settings (what a log or traceback shows) hides the secret and signing key."""
    settings = load_settings(BASE)
    shown = repr(settings) + str(settings)
    assert "s3cret-value" not in shown and "settings-test-key" not in shown


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_SIGNING_KEY": "sh0rt-but-not-32-characters"})
    assert str(caught.value) == "COPROD_SIGNING_KEY: must be at least 32 characters long"


@pytest.mark.parametrize(("key", "problem"), [
    ("set-me-from-key-vault-at-least-32-random-characters", "is the documentation's placeholder"),
    ("a" * 40, "is too predictable"),
    ("councilcouncilcouncilcouncilcouncil", "is too predictable"),
    ("Password1Password1Password1Password1", "is too predictable"),
    ("0101010101010101010101010101010101010101", "is too predictable"),
])
def test_a_placeholder_or_guessable_signing_key_is_refused(key: str, problem: str) -> None:
    """Finding: the example's placeholder and `aaaa...` were accepted; anyone could then forge every link."""
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_SIGNING_KEY": key})
    assert caught.value.variable == "COPROD_SIGNING_KEY" and caught.value.problem.startswith(problem)
    assert key not in str(caught.value)  # the message never shows the value


def test_a_random_signing_key_is_taken() -> None:
    import secrets

    for key in (secrets.token_urlsafe(32), secrets.token_hex(16), secrets.token_hex(32)):
        assert load_settings(BASE | {"COPROD_SIGNING_KEY": key}).signing_key.get_secret_value() == key


@pytest.mark.parametrize("url", ["http://coprod.council.example.org", "http://203.0.113.9:7071"])
def test_plain_http_public_pages_are_refused_off_this_machine(url: str) -> None:
    """Links in emails carry tokens: over plain http anyone on the way could read and use them."""
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_PUBLIC_URL": url})
    assert str(caught.value) == "COPROD_PUBLIC_URL: must start with https:// (plain http is only for localhost)"


@pytest.mark.parametrize("url", ["http://localhost:7071", "http://127.0.0.1:8080/", "http://[::1]:7071",
                                 "https://coprod.council.example.org"])
def test_https_or_this_machine_is_taken(url: str) -> None:
    assert load_settings(BASE | {"COPROD_PUBLIC_URL": url}).public_url == url.rstrip("/")


def test_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COPROD_GUEST_BLOCKED_DOMAINS", "spam.example.com")
    assert load_settings().guest_blocked_domains == ("spam.example.com",)


def test_the_acs_transport_needs_its_connection_string_and_sender() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_MAIL_TRANSPORT": "acs", "COPROD_ACS_SENDER": "DoNotReply@mail.example.org"})
    assert caught.value.variable == "COPROD_ACS_CONNECTION_STRING"
    settings = load_settings(BASE | {"COPROD_MAIL_TRANSPORT": "acs", "COPROD_ACS_SENDER": "DoNotReply@mail.example.org",
                                     "COPROD_ACS_CONNECTION_STRING": "endpoint=https://acs.example.org/;accesskey=a2V5"})
    assert "a2V5" not in repr(settings)


def test_every_problem_is_listed_at_once() -> None:
    """Finding: a newcomer needed 7 tries, each naming one more setting. Now one try names them all, in the
    contract's order, including the rules across settings that pydantic skips after a field error."""
    env = {"M365_TENANT_ID": "tenant", "COPROD_MAX_INVITES_PER_RUN": "lots", "COPROD_SIGNING_KEY": "short"}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    named = [variable for variable, _ in caught.value.problems]
    assert named == ["M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_SITE_ID", "M365_SENDER", "M365_ORGANIZER_ID",
                     "M365_GUEST_GROUP_ID", "COPROD_SIGNING_KEY", "COPROD_MAX_INVITES_PER_RUN"]
    assert str(caught.value).count("\n") == len(named) - 1 and "lots" not in str(caught.value)


def test_the_acs_settings_are_listed_with_the_others() -> None:
    env = {k: v for k, v in BASE.items() if k != "M365_SITE_ID"} | {"COPROD_MAIL_TRANSPORT": "acs"}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert [v for v, _ in caught.value.problems] == ["M365_SITE_ID", "COPROD_ACS_CONNECTION_STRING",
                                                     "COPROD_ACS_SENDER"]


def test_a_blank_setting_in_the_environment_takes_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployment lists every setting, blank where the default holds (infra/resources.bicep)."""
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    for blank in ("COPROD_MAX_INVITES_PER_RUN", "COPROD_ADMIN_EMAIL", "COPROD_SYNC_SCHEDULE", "M365_AUTHORITY_HOST"):
        monkeypatch.setenv(blank, "")
    settings = load_settings()
    assert (settings.max_invites_per_run, settings.admin_email, settings.authority_host) == (
        50, None, "https://login.microsoftonline.com")
