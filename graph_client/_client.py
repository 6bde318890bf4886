"""The Graph client: one place that sends requests, retries, pages and batches.

Built on httpx (sync): the network is injected (`transport=`), so unit tests
use `httpx.MockTransport` and integration tests the emulator over HTTPS.
tenacity owns retries (see `_retry.py`); a 401 gets one fresh token and one
more try, outside the retry budget.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import tenacity
from pydantic import BaseModel, ValidationError

from graph_client._auth import AccessTokenSource, ManagedIdentityCredential, MsalCredential, roles_in
from graph_client._batch import MAX_BATCH, BatchRequest, Lanes
from graph_client._errors import (
    GoneError,
    GraphError,
    GraphResponseError,
    GraphTransportError,
    InvalidResponseError,
    error_for_status,
    mask,
)
from graph_client._models import BatchEnvelope, BatchResponse, Page
from graph_client._observe import CallRecord, notify, observers
from graph_client._retry import IDEMPOTENT, RETRY_STATUSES, RetryPolicy, may_retry, parse_retry_after

if TYPE_CHECKING:
    from config import Settings

__all__ = ["MAX_BATCH", "BatchRequest", "GraphClient"]

log = logging.getLogger("graph_client")

M = TypeVar("M", bound=BaseModel)
USER_AGENT = "coprod-hub/0.1 (+https://example.org/coprod)"


class UrlsWithoutData(logging.Filter):
    """httpx logs every request's URL at INFO (the level Azure Functions keeps). A directory look-up's query names
    the address it looks for (`$filter=mail eq '...'`), and a path may hold one: log the path alone, masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask(str(arg.copy_with(query=None))) if isinstance(arg, httpx.URL) else arg
                                for arg in record.args)
        return True


logging.getLogger("httpx").addFilter(UrlsWithoutData())


class _Retryable(Exception):
    """Carries a retryable error through tenacity; unwrapped before callers see it."""

    def __init__(self, error: GraphError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class GraphClient:
    """Microsoft Graph over HTTPS, with one bounded retry owner. Use as a context manager or call close()."""

    def __init__(self, base_url: str, credential: AccessTokenSource, *, transport: httpx.BaseTransport | None = None,
                 verify: ssl.SSLContext | str | bool = True, timeout: float = 30.0,
                 policy: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, concurrency: int = 1) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        self._credential = credential
        self._http = httpx.Client(transport=transport, verify=verify, timeout=httpx.Timeout(timeout),
                                  trust_env=False, follow_redirects=False, headers={"User-Agent": USER_AGENT})
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not cryptography
        self._token: str | None = None
        self.stats: Counter[str] = Counter()  # requests, retries, throttled, token_refreshes (exact: under a lock)
        self._stats_lock = threading.Lock()
        self.lanes = Lanes(concurrency, sleep)  # `$batch` envelopes in flight at once (graph_client/_batch.py)

    def _count(self, what: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[what] += n

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> GraphClient:
        credential: AccessTokenSource
        if settings.use_managed_identity:
            credential = ManagedIdentityCredential(settings.client_id, resource=settings.graph_endpoint)
        else:
            credential = MsalCredential(
                authority_host=settings.authority_host, tenant_id=settings.tenant_id, client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value() if settings.client_secret else None,
                certificate_path=settings.client_certificate_path, ca_bundle=settings.ca_bundle)
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle is not None:
            import certifi

            verify = ssl.create_default_context(cafile=certifi.where())
            verify.load_verify_locations(cafile=str(settings.ca_bundle))
        kwargs.setdefault("policy", RetryPolicy(max_attempts=settings.graph_max_attempts,
                                                max_wait=settings.graph_max_retry_seconds))
        kwargs.setdefault("concurrency", settings.graph_concurrency)
        return cls(settings.graph_base_url, credential, verify=verify, timeout=settings.graph_timeout_seconds,
                   **kwargs)

    def close(self) -> None:
        self.lanes.close()
        self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sending -----------------------------------------------------------
    def url(self, path_or_link: str) -> str:
        """An absolute URL for a path (`/sites/...`) or a link Graph gave (nextLink, deltaLink)."""
        if path_or_link.startswith(("https://", "http://")):
            parts = urlsplit(path_or_link)
            if f"{parts.scheme}://{parts.netloc}" != self._origin:
                # Never send our token to a host Graph's answer names: only to Graph itself.
                raise InvalidResponseError("follow a link", 0, None, "the link points away from the Graph endpoint")
            return path_or_link
        return f"{self.base_url}/{path_or_link.lstrip('/')}"

    def relative(self, path_or_link: str) -> str:
        """A path relative to the version root (`/sites/...`), as `$batch` wants, for a path or a Graph link."""
        absolute = self.url(path_or_link)
        return "/" + absolute[len(self.base_url):].lstrip("/") if absolute.startswith(self.base_url) else absolute

    def granted_roles(self) -> frozenset[str] | None:
        """The application permissions the current access token carries (None: not readable). Diagnostics only."""
        return roles_in(self._bearer())

    def ensure_token(self, *, fresh: bool = False) -> None:
        """Get an access token now (msal's cache answers repeat calls): a run that cannot have one says so once,
        before it starts, rather than once per step. `fresh`: not from the cache, so it carries the permissions
        consented now (a cached one keeps those of its issue for up to an hour). Raises TokenError."""
        self._bearer(force=fresh)

    def _bearer(self, force: bool = False) -> str:
        if force or self._token is None:
            self._token = self._credential.get_token(force_refresh=force)
            if force:
                self._count("token_refreshes")
        return self._token

    def send(self, operation: str, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, idempotent: bool | None = None, content: bytes | None = None,
             content_type: str | None = None, retry: bool = True) -> httpx.Response:
        """Send one request, retrying what may be retried; raise a GraphError for anything but 2xx.

        The body is `json`, or raw `content` of `content_type` (a MIME message for sendMail). `retry=False`: one
        try, for a caller that owns the retrying of this request itself (`batch`).
        """
        url = self.url(path)
        if json is not None:
            content, content_type = jsonlib.dumps(json, ensure_ascii=False).encode(), "application/json"
        request_headers = {"Accept": "application/json"}
        if content is not None:
            request_headers["Content-Type"] = content_type or "application/octet-stream"
        request_headers.update(headers or {})

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            retry_after = error.retry_after if isinstance(error, _Retryable) else None
            return self.policy.delay(state.attempt_number, retry_after, self._rng)

        def stop(state: tenacity.RetryCallState) -> bool:
            return (state.attempt_number >= self.policy.max_attempts
                    or state.idle_for + (state.upcoming_sleep or 0) > self.policy.max_wait)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            self._count("retries")
            log.warning("%s: %s; retry %d in %.1f s", operation,
                        getattr(getattr(error, "error", None), "detail", "failed"), state.attempt_number,
                        state.upcoming_sleep)

        retrying = tenacity.Retrying(stop=stop if retry else tenacity.stop_after_attempt(1), wait=wait,
                                     sleep=self._sleep, before_sleep=before_sleep,
                                     retry=tenacity.retry_if_exception_type(_Retryable), reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._send_once(operation, method, url, content, request_headers, idempotent, params)
        except _Retryable as exhausted:
            raise exhausted.error from None
        raise AssertionError("unreachable")  # pragma: no cover - tenacity either returns or raises

    def _send_once(self, operation: str, method: str, url: str, content: bytes | None, headers: dict[str, str],
                   idempotent: bool | None, params: Mapping[str, str] | None) -> httpx.Response:
        response = self._transmit(operation, method, url, content, headers, idempotent, params, self._bearer())
        if response.status_code == 401:
            self._count("token_refreshes_on_401")
            response = self._transmit(operation, method, url, content, headers, idempotent, params,
                                      self._bearer(force=True))
        if response.is_success:
            return response
        error = self.error_from(operation, response.status_code, response.headers, response.content)
        if response.status_code == 429:
            self._count("throttled")
        if response.status_code in RETRY_STATUSES and may_retry(method, response.status_code, sent=True,
                                                                  idempotent=idempotent):
            raise _Retryable(error, parse_retry_after(response.headers.get("Retry-After")))
        raise error

    def _transmit(self, operation: str, method: str, url: str, content: bytes | None, headers: dict[str, str],
                  idempotent: bool | None, params: Mapping[str, str] | None, token: str) -> httpx.Response:
        self._count("requests")
        started, clock = time.time(), time.monotonic()
        status: int | None = None
        request_id: str | None = None
        try:
            response = self._http.request(method, url, content=content, params=params,
                                          headers={**headers, "Authorization": f"Bearer {token}"})
            status, request_id = response.status_code, response.headers.get("request-id")
            return response
        except httpx.TransportError as exc:
            sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
            error = GraphTransportError(operation, exc)
            if may_retry(method, None, sent=sent, idempotent=idempotent):
                raise _Retryable(error, None) from exc
            raise error from exc
        finally:
            if observers:
                notify(CallRecord(operation, method, status, started, time.monotonic() - clock, request_id))

    @staticmethod
    def error_from(operation: str, status: int, headers: Mapping[str, str], body: bytes) -> GraphError:
        """The typed error for an error answer (plain or inside `$batch`)."""
        request_id = headers.get("request-id") or headers.get("client-request-id")
        code, message = None, ""
        try:
            payload = jsonlib.loads(body) if body else {}
            details = payload.get("error") if isinstance(payload, dict) else None
            if isinstance(details, dict):
                code = details.get("code")
                message = str(details.get("message") or "")
                inner = details.get("innerError") or details.get("innererror") or {}
                request_id = request_id or (inner.get("request-id") if isinstance(inner, dict) else None)
            elif body:
                return InvalidResponseError(operation, status, headers.get("content-type"),
                                            "the error answer has no error object", request_id)
        except ValueError:
            return InvalidResponseError(operation, status, headers.get("content-type"),
                                        "the error answer is not JSON", request_id)
        retry_after = parse_retry_after(headers.get("Retry-After"))
        error = error_for_status(status)(operation, status, code, message, request_id, retry_after)
        if isinstance(error, GoneError):
            error.location = headers.get("Location")
        return error

    # --- reading -------------------------------------------------------------
    def parse(self, operation: str, response: httpx.Response, model: type[M]) -> M:
        """Parse a JSON answer into `model`; anything else is an InvalidResponseError."""
        content_type = response.headers.get("content-type", "")
        request_id = response.headers.get("request-id")
        if "json" not in content_type.lower():
            raise InvalidResponseError(operation, response.status_code, content_type,
                                       "expected JSON", request_id)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            first = exc.errors()[0]
            problem = "the JSON is cut off or malformed" if first["type"].startswith("json") else \
                f"unexpected shape at {'.'.join(map(str, first['loc'])) or 'top level'}: {first['msg']}"
            raise InvalidResponseError(operation, response.status_code, content_type, problem, request_id) from None

    def get(self, operation: str, path: str, model: type[M], *, params: Mapping[str, str] | None = None) -> M:
        return self.parse(operation, self.send(operation, "GET", path, params=params), model)

    def get_json(self, operation: str, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        response = self.send(operation, "GET", path, params=params)
        try:
            return response.json()
        except ValueError:
            raise InvalidResponseError(operation, response.status_code, response.headers.get("content-type"),
                                       "the JSON is cut off or malformed", response.headers.get("request-id")) from None

    def pages(self, operation: str, path: str, page_model: type[Page[M]], *,
              params: Mapping[str, str] | None = None) -> Iterator[Page[M]]:
        """Every page of a collection, following `@odata.nextLink` to the end."""
        page = self.get(operation, path, page_model, params=params)
        yield page
        while page.next_link:
            page = self.get(operation, page.next_link, page_model)
            yield page

    # --- $batch --------------------------------------------------------------
    def batch(self, operation: str, requests: Iterable[BatchRequest]) -> dict[str, BatchResponse]:
        """Send requests in `$batch`es of 20; answers matched by id.

        Entries answered 429/503 (and 504 where safe) go again, alone, after
        the longest Retry-After among them; the rest are returned as they
        came, failures included (see `raise_for_entry`). This loop is the
        only one that retries a `$batch`: a throttled or failed envelope is
        sent once by `send` and counts here as every entry in it answered so,
        so attempts never multiply.
        """
        pending = list(requests)
        ids = [r.id for r in pending]
        if len(set(ids)) != len(ids):
            raise ValueError("batch request ids must be unique")
        results: dict[str, BatchResponse] = {}
        waited = 0.0
        attempt = 1
        while pending:
            chunks = [pending[start:start + MAX_BATCH] for start in range(0, len(pending), MAX_BATCH)]
            for answers in self.lanes.map(partial(self._envelope, operation, attempt=attempt), chunks):
                results |= answers
            again = [r for r in pending if results[r.id].status in RETRY_STATUSES
                     and may_retry(r.method, results[r.id].status, sent=True)]
            if not again or attempt >= self.policy.max_attempts:
                break
            delay = max(self.policy.delay(attempt, parse_retry_after(results[r.id].headers.get("Retry-After")),
                                          self._rng) for r in again)
            if waited + delay > self.policy.max_wait:
                break
            self._count("throttled", sum(results[r.id].status == 429 for r in again))
            self._count("retries", len(again))
            log.warning("%s: %d of %d batch entries throttled or failed; retry in %.1f s",
                        operation, len(again), len(pending), delay)
            self._sleep(self.lanes.remaining(delay))  # (the lanes' hold has run meanwhile: only what is left)
            waited += delay
            attempt += 1
            pending = again
        return results

    def _envelope(self, operation: str, chunk: list[BatchRequest], *, attempt: int) -> dict[str, BatchResponse]:
        """One `$batch` of up to 20, on a lane: each request's answer by id. Refused (429, 503) or lost where that
        is safe, every entry is answered so; throttled, every lane holds until its Retry-After."""
        safe = all(r.method.upper() in IDEMPOTENT for r in chunk)
        try:
            response = self.send(operation, "POST", "/$batch",
                                 json={"requests": [r.as_json() for r in chunk]}, idempotent=safe, retry=False)
        except (GraphResponseError, GraphTransportError) as error:
            if not _envelope_may_retry(error, safe):
                raise
            status = error.status if isinstance(error, GraphResponseError) else 503
            wait = error.retry_after if isinstance(error, GraphResponseError) else None
            self.lanes.hold(self.policy.delay(attempt, wait, self._rng))
            headers = {"Retry-After": str(wait)} if wait is not None else {}
            return {request.id: BatchResponse(id=request.id, status=status, headers=headers) for request in chunk}
        envelope = self.parse(operation, response, BatchEnvelope)
        answered = {entry.id: entry for entry in envelope.responses}
        for request in chunk:
            if request.id not in answered:
                raise InvalidResponseError(operation, response.status_code, "application/json",
                                           f"the $batch answer has no entry for request {request.id}",
                                           response.headers.get("request-id"))
        throttled = [parse_retry_after(entry.headers.get("Retry-After")) for entry in envelope.responses
                     if entry.status in RETRY_STATUSES]
        if throttled:
            self.lanes.hold(max(self.policy.delay(attempt, wait, self._rng) for wait in throttled))
        return {request.id: answered[request.id] for request in chunk}

    def raise_for_entry(self, operation: str, entry: BatchResponse) -> None:
        """Raise the typed error for a failed `$batch` entry."""
        if entry.ok:
            return
        body = jsonlib.dumps(entry.body).encode() if entry.body is not None else b""
        error = self.error_from(operation, entry.status, {k.lower() if k.lower() == "request-id" else k: v
                                                          for k, v in entry.headers.items()}, body)
        raise error


def _envelope_may_retry(error: GraphResponseError | GraphTransportError, safe: bool) -> bool:
    """Whether a `$batch` envelope that failed may go again: refused (429, 503), or lost where that is safe."""
    if isinstance(error, GraphTransportError):
        sent = not isinstance(error.cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        return may_retry("POST", None, sent=sent, idempotent=safe)
    return error.status in RETRY_STATUSES and may_retry("POST", error.status, sent=True, idempotent=safe)
