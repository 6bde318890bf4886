"""The language a page is read in: `?lang=cy` in its address, or the person's choice earlier in their visit.

Every page has a language link (pages/_layout.html) to the same page in the other language: `?lang=cy`, or
`?lang=en`. The choice is kept for the rest of the visit in a cookie that lasts as long as the browser session
(`lang`, no expiry, this site's pages only), so the next page, and a form's answer, come in the same language. It
is set only when the person asks for a language, and holds nothing but the language's code: a user-interface
customisation cookie, which needs no consent (the Article 29 Working Party's Opinion 04/2012 on cookie consent
exemption, section 3.6; the ICO's guidance on the PECR's "strictly necessary" exemption follows it). A link in a
Welsh booking's email carries `lang=cy` too.

Anything but a language the product has (coprod/i18n.py) is English.
"""

from __future__ import annotations

from contextvars import ContextVar
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coprod import i18n

__all__ = ["COOKIE", "ChosenLanguage", "current", "other_language_link"]

COOKIE = "lang"
_language: ContextVar[str] = ContextVar("page_language", default=i18n.DEFAULT)
_address: ContextVar[tuple[str, str]] = ContextVar("page_address", default=("", ""))


def current() -> str:
    """The language of the page being answered."""
    return _language.get()


def other_language_link() -> tuple[str, str, str]:
    """(address, code, name) of this page in the other language: the language link every page has."""
    path, query = _address.get()
    path = "/" + path.lstrip("/")  # (a path of `//host/...` would make the link leave the site)
    code = "en" if current() != i18n.DEFAULT else "cy"
    kept = [(key, value) for key, value in parse_qsl(query, keep_blank_values=True) if key != "lang"]
    return f"{path}?{urlencode([*kept, ('lang', code)])}", code, i18n.LANGUAGES[code]


def _cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            try:
                jar = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                return None
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


class ChosenLanguage:
    """ASGI middleware: each request's language, from `?lang=` (which is then kept in the cookie) or the cookie."""

    def __init__(self, app: ASGIApp, path: str = "/") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        asked = [value for key, value in parse_qsl(query, keep_blank_values=True) if key == "lang"]
        chosen = i18n.language(asked[-1] if asked else _cookie(scope.get("headers", [])))
        language_token = _language.set(chosen)
        address_token = _address.set((scope.get("root_path", "") + scope.get("path", ""), query))

        async def keeping(message: Message) -> None:
            if asked and message["type"] == "http.response.start":
                secure = "; Secure" if scope.get("scheme") == "https" else ""  # (serve, on this machine, is http)
                cookie = f"{COOKIE}={chosen}; Path={self.path}; HttpOnly; SameSite=Lax{secure}"
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        try:
            await self.app(scope, receive, keeping)
        finally:
            _language.reset(language_token)
            _address.reset(address_token)
