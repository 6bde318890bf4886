"""App-only access tokens from Entra (or the emulator) through msal.

One msal application per process and credential: its constructor fetches the
authority's OpenID configuration, and its token cache then answers repeat
calls in well under a millisecond. msal gets its own `requests.Session` with
`trust_env=False`, because a `REQUESTS_CA_BUNDLE` in the environment would
otherwise silently replace the CA bundle we give it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from graph_client._errors import UNREACHABLE, TokenError, reason

__all__ = ["AccessTokenSource", "ManagedIdentityCredential", "MsalCredential", "ca_bundle_with_defaults", "roles_in"]

log = logging.getLogger("graph_client.auth")
_apps: dict[tuple[str, ...], Any] = {}
_apps_lock = threading.Lock()


class AccessTokenSource(Protocol):
    """Anything that gives a bearer token for Graph."""

    def get_token(self, *, force_refresh: bool = False) -> str: ...


def roles_in(token: str) -> frozenset[str] | None:
    """The application permissions (`roles` claim) an access token carries, read without checking its signature
    (only Graph checks that); None when the token is not a JWT we can read. Microsoft treats Graph tokens as
    opaque and may change their format, so this is for diagnostics (`coprod check`) only, never for a decision."""
    import base64
    import json

    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    roles = claims.get("roles", []) if isinstance(claims, dict) else None
    return frozenset(str(role) for role in roles) if isinstance(roles, list) else None


def ca_bundle_with_defaults(extra: Path | None) -> str | bool:
    """A CA file holding the public roots plus `extra` (None: the public roots alone)."""
    if extra is None:
        return True
    import certifi

    digest = hashlib.sha256(str(extra.resolve()).encode()).hexdigest()[:12]
    combined = Path(tempfile.gettempdir()) / f"coprod-ca-{digest}.pem"
    content = Path(certifi.where()).read_bytes() + b"\n" + extra.read_bytes()
    if not combined.exists() or combined.read_bytes() != content:
        fd, temp = tempfile.mkstemp(dir=combined.parent, suffix=".pem")
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(temp, combined)
    return str(combined)


@dataclass(frozen=True)
class MsalCredential:
    """Client credentials (a secret, or better a certificate) for one app registration."""

    authority_host: str
    tenant_id: str
    client_id: str
    client_secret: str | None = None
    certificate_path: Path | None = None
    ca_bundle: Path | None = None
    scope: str = "https://graph.microsoft.com/.default"

    def __repr__(self) -> str:  # never show the secret
        return f"MsalCredential(authority={self.authority}, client_id={self.client_id})"

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    def _key(self) -> tuple[str, ...]:
        secret = hashlib.sha256((self.client_secret or "").encode()).hexdigest()
        return (self.authority, self.client_id, secret, str(self.certificate_path), str(self.ca_bundle))

    def _client_credential(self) -> Any:
        if self.certificate_path is not None:
            from cryptography import x509
            from cryptography.hazmat.primitives.serialization import Encoding

            pem = self.certificate_path.read_bytes()
            cert = x509.load_pem_x509_certificate(pem)
            return {"private_key": pem.decode(), "public_certificate": cert.public_bytes(Encoding.PEM).decode(),
                    "thumbprint": hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()}  # noqa: S324 - x5t
        return self.client_secret

    def _app(self) -> Any:
        key = self._key()
        with _apps_lock:
            app = _apps.get(key)
            if app is None:
                import msal
                import requests

                session = requests.Session()
                session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify` below
                session.verify = ca_bundle_with_defaults(self.ca_bundle)
                try:
                    app = msal.ConfidentialClientApplication(
                        self.client_id, client_credential=self._client_credential(), authority=self.authority,
                        http_client=session, instance_discovery=False, timeout=30)
                except (ValueError, OSError, requests.RequestException) as exc:
                    raise TokenError("get an access token", UNREACHABLE, f"{self.authority}: {reason(exc)}") from exc
                _apps[key] = app
            return app

    def get_token(self, *, force_refresh: bool = False) -> str:
        app = self._app()
        if force_refresh:
            app.remove_tokens_for_client()
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except Exception as exc:  # msal raises requests' errors, and ValueError for odd answers
            raise TokenError("get an access token", UNREACHABLE, f"{self.authority}: {reason(exc)}") from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            raise TokenError("get an access token", str(result.get("error", "unknown_error")),
                             str(result.get("error_description", "")), result.get("correlation_id"))
        return str(token)


@dataclass(frozen=True)
class ManagedIdentityCredential:
    """Tokens from the Azure host's managed identity: no secret or certificate anywhere.

    On App Service and Azure Functions the host gives the process IDENTITY_ENDPOINT and IDENTITY_HEADER, and msal
    asks that endpoint for a token for `resource` (Graph). `client_id` names a user-assigned identity (the one the
    deployment gives the Function App); None means the system-assigned one.
    """

    client_id: str | None
    resource: str = "https://graph.microsoft.com"

    def _client(self, fresh: bool = False) -> Any:
        key = ("managed-identity", self.client_id or "", self.resource)
        with _apps_lock:
            client = None if fresh else _apps.get(key)
            if client is None:
                import msal
                import requests

                session = requests.Session()
                session.trust_env = False  # the identity endpoint is the host's own, never through a proxy
                identity = (msal.UserAssignedManagedIdentity(client_id=self.client_id) if self.client_id
                            else msal.SystemAssignedManagedIdentity())
                client = msal.ManagedIdentityClient(identity, http_client=session)
                _apps[key] = client
            return client

    def get_token(self, *, force_refresh: bool = False) -> str:
        try:  # a fresh client has an empty cache: the way to refresh (msal's cache is per client)
            result = self._client(fresh=force_refresh).acquire_token_for_client(resource=self.resource)
        except Exception as exc:  # msal raises for a host without a managed identity, and requests' errors
            raise TokenError("get a managed identity token", "unavailable", f"{type(exc).__name__}: {exc}") from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            raise TokenError("get a managed identity token", str(result.get("error", "unknown_error")),
                             str(result.get("error_description", "")), result.get("correlation_id"))
        return str(token)
