"""Signed, expiring links (confirm an address, confirm a subscription, unsubscribe).

A token is `payload.signature`: the payload (base64url JSON) names what the
link is for (`purpose`), whom it is about (`subject`: an item id and a hash
of the address, never the address itself, so no personal data sits in URLs
and web logs) and when it expires; the signature is HMAC-SHA256 with
COPROD_SIGNING_KEY over the payload. A token made for one purpose is refused
for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

__all__ = ["LinkError", "Signer", "address_hash"]


class LinkError(Exception):
    """A link that cannot be used: `reason` is "expired" or "invalid" (tampered, cut short, other purpose)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def address_hash(address: str) -> str:
    """A short, stable stand-in for an (already normalised) email address."""
    return hashlib.sha256(address.encode()).hexdigest()[:20]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._key = hashlib.sha256(b"coprod-links\0" + key.encode()).digest()
        self.clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:20])

    def make(self, purpose: str, subject: str, lifetime: float) -> str:
        payload = _b64(json.dumps({"p": purpose, "s": subject, "e": int(self.clock() + lifetime)},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, token: str, purpose: str) -> str:
        """The subject of a good token for `purpose`; LinkError otherwise."""
        payload, _, signature = (token or "").strip().partition(".")
        if not payload or not signature or not hmac.compare_digest(signature, self._mac(payload)):
            raise LinkError("invalid")
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            raise LinkError("invalid") from None
        if not isinstance(data, dict) or data.get("p") != purpose or not isinstance(data.get("s"), str):
            raise LinkError("invalid")
        if not isinstance(data.get("e"), int) or data["e"] < self.clock():
            raise LinkError("expired")
        return str(data["s"])
