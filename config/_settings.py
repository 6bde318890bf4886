"""The configuration contract (docs/configuration.md is generated from it), read from the environment.

Each setting is declared once, in its group (config/_groups.py: the tenant, the workplace, the service, Graph
requests, email, sessions, guests, the forms, privacy); `Settings` is all of them, with the rules that span groups,
and `load_settings` reads it, naming every variable that is missing or wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError, model_validator

from config._groups import (
    DEFAULT_SYNC_SCHEDULE,
    NO_SUCH_FILE,
    EmailSettings,
    FormSettings,
    GraphRequestSettings,
    GuestSettings,
    NotifySettings,
    PrivacySettings,
    ServiceSettings,
    SessionSettings,
    TenantSettings,
    WorkplaceSettings,
)

__all__ = ["DEFAULT_SYNC_SCHEDULE", "Settings", "SettingsError", "load_settings"]

_NO_CREDENTIAL = ("M365_CLIENT_SECRET or M365_CLIENT_CERTIFICATE_PATH must be set (or M365_USE_MANAGED_IDENTITY=true "
                  "in Azure)")
_NOTIFY_TEMPLATES = ("COPROD_NOTIFY_SMS_TEMPLATE_ID", "COPROD_NOTIFY_LETTER_TEMPLATE_ID")
_NO_NOTIFY_TEMPLATE = ("COPROD_NOTIFY_SMS_TEMPLATE_ID or COPROD_NOTIFY_LETTER_TEMPLATE_ID must be set with "
                       "COPROD_NOTIFY_API_KEY (a text or a letter template: docs/notify.md)")
_NO_NOTIFY_KEY = ("COPROD_NOTIFY_API_KEY must be set for the Notify template ids to be used (in Azure, the "
                  "deployment's notifyApiKey, kept in Key Vault)")


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


class Settings(PrivacySettings, FormSettings, GuestSettings, SessionSettings, NotifySettings, EmailSettings,
               GraphRequestSettings, ServiceSettings, WorkplaceSettings, TenantSettings):
    """All settings of the service, each declared once in its group above (the groups' order is the contract's
    and docs/configuration.md's). Build it with `load_settings()`; a part of the service reads what it needs from
    it, with nothing copied."""

    @model_validator(mode="after")
    def _one_credential(self) -> Settings:
        if self.client_secret is None and self.client_certificate_path is None and not self.use_managed_identity:
            raise ValueError(_NO_CREDENTIAL)
        if self.mail_transport == "acs":
            for value, name in ((self.acs_connection_string, "COPROD_ACS_CONNECTION_STRING"),
                                (self.acs_sender, "COPROD_ACS_SENDER")):
                if not value:
                    raise ValueError(f"{name} must be set when COPROD_MAIL_TRANSPORT is acs")
        templates = self.notify_sms_template_id or self.notify_letter_template_id
        if self.notify_api_key is not None and not templates:
            raise ValueError(_NO_NOTIFY_TEMPLATE)
        if self.notify_api_key is None and templates:
            raise ValueError(_NO_NOTIFY_KEY)
        return self

    def notify_template(self, contact: str) -> str | None:
        """The Notify template that tells someone who chose `contact` (ContactPreference): a text for Phone, a letter
        for Post, when Notify is set up for it; None: the team's daily list tells them, as without Notify."""
        if self.notify_api_key is None:
            return None
        return {"Phone": self.notify_sms_template_id, "Post": self.notify_letter_template_id}.get(contact)



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
    templates = any(raw.get(name) for name in _NOTIFY_TEMPLATES)
    if raw.get("COPROD_NOTIFY_API_KEY") and not templates:
        problems.append(("COPROD_NOTIFY_SMS_TEMPLATE_ID", _NO_NOTIFY_TEMPLATE))
    if templates and not raw.get("COPROD_NOTIFY_API_KEY"):
        problems.append(("COPROD_NOTIFY_API_KEY", _NO_NOTIFY_KEY))
    if raw.get("COPROD_MAIL_TRANSPORT", "").strip() == "acs":
        problems += [(name, f"{name} must be set when COPROD_MAIL_TRANSPORT is acs")
                     for name in ("COPROD_ACS_CONNECTION_STRING", "COPROD_ACS_SENDER") if not raw.get(name)]
    return problems
