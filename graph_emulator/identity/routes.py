"""The token authority's two endpoints (Entra's v2.0: OpenID configuration and token), free of any web framework:
`core/app.py` hands each request here, as it hands Graph's to `GraphService.serve`."""

from __future__ import annotations

from typing import Any

from graph_emulator.core.backend import Backend
from graph_emulator.identity.models import OAuthError

__all__ = ["authority_answer"]


def authority_answer(backend: Backend, method: str, tenant: str, endpoint: str, form: dict[str, str],
                     base: str) -> tuple[int, dict[str, Any]]:
    """The token authority: `endpoint` is `openid-configuration` or `token`; returns (status, JSON)."""
    if endpoint == "openid-configuration":
        if not backend.identity.knows_tenant(tenant):
            return 400, {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
        return 200, backend.identity.openid_configuration(base, tenant)
    try:
        return 200, backend.identity.issue(tenant, form, f"{base}/{tenant}/oauth2/v2.0/token")
    except OAuthError as exc:
        return exc.status, exc.body
