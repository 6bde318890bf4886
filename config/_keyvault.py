"""App Service's Key Vault references (`@Microsoft.KeyVault(SecretUri=...)`) as the app may see them unresolved.

An app setting can name a Key Vault secret instead of holding it; App Service puts the secret in its place before
the app starts. Until the app's identity can read the vault (its role takes up to 10 minutes to propagate after a
deployment), App Service passes the reference's own text instead, and keeps doing so for up to a day. That text
is never a valid value of any setting: taken as the signing key, it would sign links with a guessable key.

Source: Microsoft, "Use Key Vault references as app settings in Azure App Service and Azure Functions"
(learn.microsoft.com/azure/app-service/app-service-key-vault-references): an unresolved reference leaves the
reference string as the setting's value, and resolved secrets are fetched again only every 24 hours or on a
restart, hence "restart the app" in the message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UNRESOLVED", "unresolved"]

PREFIX = "@microsoft.keyvault("  # compared case-folded, after leading whitespace
UNRESOLVED = ("is a Key Vault reference that App Service has not resolved yet (it passes the text until the app's "
              "identity may read the vault, and keeps it up to a day): wait up to 10 minutes for the identity's Key "
              "Vault role, then restart the app")


def unresolved(value: Any) -> bool:
    """Whether a setting's raw value is an unresolved Key Vault reference."""
    return isinstance(value, str) and value.lstrip().casefold().startswith(PREFIX)
