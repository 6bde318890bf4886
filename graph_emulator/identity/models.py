"""The token authority: OpenID configuration and client-credentials tokens, like Entra's v2.0 endpoint.

Errors use Entra's OAuth shape (`error`, `error_description` with an AADSTS
code, `error_codes`, `trace_id`, `correlation_id`), which msal reads.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Identity", "OAuthError"]

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class OAuthError(Exception):
    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {
            "error": error,
            "error_description": f"AADSTS{aadsts}: {description} Trace ID: {uuid.uuid4()} "
                                 f"Correlation ID: {uuid.uuid4()} Timestamp: "
                                 f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%SZ')}",
            "error_codes": [aadsts],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


@dataclass
class Identity:
    """One tenant with one app registration; the tokens it has issued."""

    clock: Callable[[], float]
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = field(default_factory=lambda: "emu~" + secrets.token_urlsafe(30))
    token_lifetime: int = 3599
    certificates: dict[str, Any] = field(default_factory=dict)  # SHA-1 thumbprint (hex) -> public key
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (clock time)
    # the app's application permissions (admin-consented app roles); each token carries those of its issue
    roles: frozenset[str] = field(default_factory=frozenset)
    token_roles: dict[str, frozenset[str]] = field(default_factory=dict)
    issued: int = 0
    _token_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def openid_configuration(self, base: str, tenant: str) -> dict[str, Any]:
        root = f"{base}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{self.tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid"],
            "kerberos_endpoint": f"{root}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def knows_tenant(self, tenant: str) -> bool:
        return tenant in (self.tenant_id, "organizations", "common") or tenant.endswith(".example.org")

    def add_certificate(self, certificate_pem: bytes) -> str:
        """Register an app certificate (PEM); returns its SHA-1 thumbprint as hex."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        cert = x509.load_pem_x509_certificate(certificate_pem)
        der = cert.public_bytes(Encoding.DER)
        thumb = hashlib.sha1(der).hexdigest()  # noqa: S324 - the x5t header is SHA-1 by RFC 7515
        self.certificates[thumb] = cert.public_key()
        self.certificates[hashlib.sha256(der).hexdigest()] = cert.public_key()
        return thumb

    def issue(self, tenant: str, form: dict[str, str], token_url: str) -> dict[str, Any]:
        if not self.knows_tenant(tenant):
            raise OAuthError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type.")
        if form.get("client_id") != self.client_id:
            raise OAuthError(400, "unauthorized_client", 700016,
                             f"Application with identifier '{form.get('client_id')}' was not found in the directory.")
        if "client_assertion" in form:
            self._check_assertion(form, token_url)
        elif "client_secret" in form:
            if not secrets.compare_digest(form["client_secret"], self.client_secret):
                raise OAuthError(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the "
                                 "secret being sent in the request is the client secret value, not the client "
                                 "secret ID.")
        else:
            raise OAuthError(401, "invalid_client", 7000218, "The request body must contain the following "
                             "parameter: 'client_assertion' or 'client_secret'.")
        scope = form.get("scope", "")
        if not any(part.endswith("/.default") for part in scope.split()):
            raise OAuthError(400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid. "
                             "Client credential flows must have a scope value with /.default suffixed to the "
                             "resource identifier (application ID URI).")
        token = self._access_token()
        with self._lock:
            self.tokens[token] = self.clock() + self.token_lifetime
            self.token_roles[token] = self.roles
            self.issued += 1
        return {"token_type": "Bearer", "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime, "access_token": token}

    def _access_token(self) -> str:
        """A JWT shaped as Entra's app-only Graph tokens are (aud, iss, tid, appid, roles, a unique uti), so a
        tool that reads its `roles` claim (as `coprod check` does) sees the app's permissions. Signed HS256 with
        a key of the emulator's own; the emulator knows its tokens by their text, not by their signature."""
        import jwt

        now = int(self.clock())
        claims = {"aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{self.tenant_id}/",
                  "tid": self.tenant_id, "appid": self.client_id, "idtyp": "app", "roles": sorted(self.roles),
                  "iat": now, "nbf": now, "exp": now + self.token_lifetime, "uti": secrets.token_urlsafe(16)}
        return jwt.encode(claims, self._token_key, algorithm="HS256", headers={"typ": "JWT"})

    def _check_assertion(self, form: dict[str, str], token_url: str) -> None:
        import jwt  # PyJWT, already a dependency of msal

        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            thumb = _thumbprint_hex(header)
            key = self.certificates.get(thumb or "")
            if key is None:
                raise OAuthError(401, "invalid_client", 700027, "The certificate with identifier used to sign "
                                 "the client assertion is not registered on application.")
            claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"], audience=token_url,
                                options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.PyJWTError as exc:
            raise OAuthError(401, "invalid_client", 700027, f"Client assertion failed signature "
                             f"validation: {type(exc).__name__}.") from None
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise OAuthError(401, "invalid_client", 700023, "The client assertion's issuer or subject is not "
                             "the client id.")

    def check_bearer(self, authorization: str | None) -> str | None:
        """None when the bearer token is good, else the reason for a 401."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return "Access token is empty."
        token = authorization[7:].strip()
        expiry = self.tokens.get(token)
        if expiry is None:
            return "Invalid JWT token. The token is malformed or was not issued by this tenant."
        if expiry <= self.clock():
            return "Lifetime validation failed, the token is expired."
        return None

    def roles_of(self, authorization: str | None) -> frozenset[str]:
        """The `roles` claim of the bearer token in `authorization` (empty for an unknown token)."""
        token = (authorization or "")[7:].strip()
        return self.token_roles.get(token, frozenset())

    def set_roles(self, roles: Iterable[str]) -> None:
        """Grant the app exactly `roles` (admin consent given or withdrawn); tokens issued after carry them."""
        with self._lock:
            self.roles = frozenset(roles)

    def expire_all(self) -> int:
        """Make every issued token expired now (as after a long pause); returns how many."""
        with self._lock:
            now = self.clock()
            for token in self.tokens:
                self.tokens[token] = now
            return len(self.tokens)


def _thumbprint_hex(header: dict[str, Any]) -> str | None:
    import base64

    for name in ("x5t#S256", "x5t"):
        value = header.get(name)
        if isinstance(value, str) and value:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    return None
