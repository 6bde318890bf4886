"""What reading the state store takes, and nothing more: for `status` and `report`, which an officer runs on a
machine that holds no Microsoft 365 secret.

`StoreSettings` is the service's group (config/_groups.py: `COPROD_STATE`, `COPROD_STATE_PREFIX`, the programme's
name, ...) with the signing key optional, plus the two tenant settings an Azure store is reached with when the
managed identity is used. Nothing is declared twice: the fields are the groups' own, taken from them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import Field, SecretStr, ValidationError

from config._groups import ServiceSettings, TenantSettings
from config._settings import SettingsError, _named

__all__ = ["StoreSettings", "load_store_settings"]

_TENANT = TenantSettings.model_fields


class StoreSettings(ServiceSettings):
    """The service's settings (the signing key optional: the store needs none) and how to reach an Azure store."""

    model_config = ServiceSettings.model_config | {"validate_default": False}  # (no key is no key to check)

    signing_key: SecretStr | None = Field(  # type: ignore[assignment]  # (its rules hold if it is set)
        default=None, validation_alias=ServiceSettings.model_fields["signing_key"].validation_alias)
    # (the tenant group's variables; the client id is needed only with the managed identity)
    client_id: str = Field(default="", validation_alias=_TENANT["client_id"].validation_alias)
    use_managed_identity: bool = Field(default=False, validation_alias=_TENANT["use_managed_identity"].validation_alias)


def load_store_settings(environ: Mapping[str, str] | None = None) -> StoreSettings:
    """Read what reading the store takes from `environ` (default: the process environment); a SettingsError names
    each variable that is wrong."""
    raw = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
    try:
        return StoreSettings() if environ is None else StoreSettings.model_validate(raw)
    except ValidationError as exc:
        found = [_named(error) for error in exc.errors()]
        raise SettingsError(*found[0], *found[1:]) from None
