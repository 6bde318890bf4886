"""Signed, expiring links (confirm an address, confirm a subscription, unsubscribe).

A token is `payload.signature`: the payload (base64url JSON) names what the
link is for (`purpose`), whom it is about (`subject`: an item id and a
digest of the address, never the address itself, so no personal data sits
in URLs and web logs) and when it expires; the signature is HMAC-SHA256
with COPROD_SIGNING_KEY over the payload. A token made for one purpose is
refused for another. The address digest is keyed too (`Signer.digest`), so
a link cannot be used to confirm a guess at whose it is.

Reading a token never raises anything but LinkError, whatever the text
(non-ASCII, huge, nested JSON, not base64).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

__all__ = ["MAX_TOKEN", "LinkError", "Signer"]

MAX_TOKEN = 1000  # characters: ours are about 120; anything much longer is not ours


class LinkError(Exception):
    """A link that cannot be used: `reason` is "expired" or "invalid" (tampered, cut short, other purpose)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    # pragma below: Python's decoder ignores padding beyond what is needed, so any count that is enough is right
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))  # pragma: no mutate


class Signer:
    def __init__(self, key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._key = hashlib.sha256(b"coprod-links\0" + key.encode()).digest()
        self._digest_key = hashlib.sha256(b"coprod-address\0" + key.encode()).digest()
        self.clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:20])

    def digest(self, address: str) -> str:
        """A short, stable stand-in for an (already normalised) email address, keyed with the signing key: it
        tells nobody without the key whose address it is, and cannot be checked against a guess."""
        return hmac.new(self._digest_key, address.encode(), hashlib.sha256).hexdigest()[:20]

    def make(self, purpose: str, subject: str, lifetime: float) -> str:
        payload = _b64(json.dumps({"p": purpose, "s": subject, "e": int(self.clock() + lifetime)},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, token: str, purpose: str) -> str:
        """The subject of a good token for `purpose`; LinkError otherwise."""
        text = (token or "").strip()  # pragma: no mutate - any text without a dot is refused just below
        if len(text) > MAX_TOKEN or not text.isascii():
            raise LinkError("invalid")
        # pragma below: ours have one dot; with two, either split leaves a signature that cannot match
        payload, _, signature = text.partition(".")  # pragma: no mutate
        genuine = hmac.compare_digest(signature.encode(), self._mac(payload).encode())
        if not (payload and signature and genuine):
            raise LinkError("invalid")
        try:
            data = json.loads(_unb64(payload))
        except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise LinkError("invalid") from None
        if (not isinstance(data, dict) or data.get("p") != purpose or not isinstance(data.get("s"), str)
                or not isinstance(data.get("e"), int) or isinstance(data["e"], bool)):
            raise LinkError("invalid")
        if data["e"] < self.clock():
            raise LinkError("expired")
        return str(data["s"])
