"""GOV.UK Notify through its official Python client (notifications-python-client): a text, a letter, a look-up by
reference, the service's templates; each failure sorted into what the service does about it.

What this follows (GOV.UK Notify's API documentation, docs.notifications.service.gov.uk, "Python client" and "REST
API", and the client's own source, 13.0.0):

- `NotificationsAPIClient(api_key, base_url=..., timeout=...)` signs every request with a JWT it makes from the key
  (`{key name}-{service id}-{secret}`: HS256, `iss` the service id, `iat` now; Notify refuses one more than 30
  seconds off). It uses a `requests.Session` of its own, and does not retry.
- `send_sms_notification(phone_number, template_id, personalisation, reference)` and
  `send_letter_notification(template_id, personalisation, reference)` answer 201 with the notification's `id`;
  a letter's personalisation holds its address (`address_line_1` to `_7`, at least 3, the last a UK postcode).
- `get_all_notifications(reference=...)`: the notifications of the last 7 days with that reference.
- `get_all_templates()`: every template, with its `id`, `type` (sms, letter, email), `body` and `subject`.
- Every failure is `notifications_python_client.errors.HTTPError` (`status_code`; `message`, Notify's `errors`
  list `[{"error", "message"}]`); a request that got no answer at all is one too, with status 503 and no
  `response`. 400: the request as it is will never be taken (a number that is not a UK mobile, an address whose
  last line is not a postcode, a template without our placeholder); 403: the key; 429: too many requests
  (Retry-After when given); 500: "Notify was unable to process the request".
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from config import Settings
from graph_client import parse_retry_after

__all__ = ["Busy", "KeyRefused", "Notify", "NotifyError", "Refused", "Template"]

TIMEOUT = 30.0  # seconds a request to Notify may take (the client's own default)
ABOUT_THEM = ("phone_number", "mobile number", "address", "postcode")  # Notify's words about the number or address


class NotifyError(Exception):
    """Notify did not do what was asked. `words`: what it said (its error messages), no personal data."""

    def __init__(self, status: int | None, words: str) -> None:
        super().__init__(f"{status or 'no answer'}: {words}")
        self.status = status
        self.words = words


class Refused(NotifyError):
    """400: Notify will never take this as it is. `about_them`: it is the person's number or address it refused (its
    words name it); otherwise it is the service's set-up (a template, the key's type, trial mode)."""

    def __init__(self, status: int | None, words: str, about_them: bool) -> None:
        super().__init__(status, words)
        self.about_them = about_them


class KeyRefused(NotifyError):
    """401 or 403: the key is wrong, revoked or of another service (or this machine's clock is more than 30 seconds
    out). Nothing was made."""


class Busy(NotifyError):
    """429, 5xx, or no answer: try again later, after `retry_after` seconds if Notify said. `may_be_made`: Notify may
    have made it all the same (no answer, or a server error), so it is looked up by its reference before it is sent
    again."""

    def __init__(self, status: int | None, words: str, retry_after: float | None, may_be_made: bool) -> None:
        super().__init__(status, words)
        self.retry_after = retry_after
        self.may_be_made = may_be_made


@dataclass(frozen=True)
class Template:
    id: str
    type: str  # sms, letter or email
    name: str
    body: str
    subject: str


class Notify:
    """One Notify service, reached with the configured key (COPROD_NOTIFY_API_KEY) at COPROD_NOTIFY_BASE_URL."""

    def __init__(self, settings: Settings) -> None:
        assert settings.notify_api_key is not None  # only made when Notify is set up
        made: Any = NotificationsAPIClient  # (the client has no type hints)
        self.client: Any = made(settings.notify_api_key.get_secret_value(), base_url=settings.notify_base_url,
                                timeout=TIMEOUT)
        # no proxy or CA bundle from the environment: the same as every Graph request (graph_client)
        self.client.request_session.trust_env = False

    def text(self, phone: str, template: str, message: str, reference: str) -> str:
        """Send a text; Notify's notification id."""
        return _id(self._call(self.client.send_sms_notification, phone, template, {"message": message}, reference))

    def letter(self, template: str, address: tuple[str, ...], subject: str, body: str, reference: str) -> str:
        """Send a letter to `address` (3 to 7 lines, the postcode last); Notify's notification id."""
        lines = {f"address_line_{n}": line for n, line in enumerate(address, 1)}
        return _id(self._call(self.client.send_letter_notification, template,
                              lines | {"subject": subject, "body": body}, reference))

    def find(self, reference: str) -> str | None:
        """The id of a notification made with this reference (in the last 7 days), or None."""
        found = self._call(self.client.get_all_notifications, reference=reference)
        for notification in found.get("notifications") or [] if isinstance(found, dict) else []:
            if isinstance(notification, dict) and notification.get("reference") == reference:
                return str(notification.get("id") or "") or None
        return None

    def templates(self) -> list[Template]:
        """Every template of the service (this proves the key)."""
        found = self._call(self.client.get_all_templates)
        return [Template(str(t.get("id") or ""), str(t.get("type") or ""), str(t.get("name") or ""),
                         str(t.get("body") or ""), str(t.get("subject") or ""))
                for t in (found.get("templates") or [] if isinstance(found, dict) else []) if isinstance(t, dict)]

    @staticmethod
    def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except APIError as error:  # HTTPError, and InvalidResponse (an answer that was not JSON)
            raise sorted_error(error) from None

    def close(self) -> None:
        self.client.request_session.close()

    def __enter__(self) -> Notify:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _id(answer: Any) -> str:
    if not isinstance(answer, dict) or not answer.get("id"):
        raise Busy(None, "an answer without a notification id", None, may_be_made=True)
    return str(answer["id"])


def sorted_error(error: Any) -> NotifyError:
    """What Notify's error means for the service (no personal data in its words: Notify quotes no number or
    address)."""
    response = getattr(error, "response", None)
    errors = _errors(response)
    words = "; ".join(f"{kind}: {message}" if kind else message for kind, message in errors) or "no details"
    status = int(error.status_code) if response is not None else None
    if status is None or type(error).__name__ == "InvalidResponse":
        return Busy(status, "no answer" if status is None else "an answer that was not Notify's", None,
                    may_be_made=True)
    if status == 400:
        about_them = any(word in message.lower() for _, message in errors for word in ABOUT_THEM)
        said = "; ".join(message.removeprefix("phone_number ") for _, message in errors)  # (the field it names)
        return Refused(status, said or words, about_them)
    if status in (401, 403):
        return KeyRefused(status, words)
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
    return Busy(status, words, retry_after, may_be_made=status != 429)


def _errors(response: Any) -> list[tuple[str, str]]:
    """Notify's `errors`, as (kind, message) pairs."""
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        return []
    found = body.get("errors") if isinstance(body, dict) else None
    return [(str(e.get("error") or ""), str(e.get("message") or "")) for e in found or [] if isinstance(e, dict)]
