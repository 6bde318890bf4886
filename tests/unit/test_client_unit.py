"""The Graph client alone, against httpx.MockTransport: retries, errors, paging, $batch."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from graph_client import (
    BatchRequest,
    DeltaResult,
    GraphClient,
    GraphTransportError,
    InvalidResponseError,
    ListItem,
    NotFoundError,
    Page,
    RetryPolicy,
    ServiceError,
    SharePointLists,
    ThrottledError,
    parse_retry_after,
)

BASE = "https://graph.test/v1.0"


class FakeToken:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    def get_token(self, *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        return f"token-{len(self.calls)}"


def graph_error(status: int, code: str, *, retry_after: str | None = None, request_id: str = "req-1") -> httpx.Response:
    headers = {"request-id": request_id}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return httpx.Response(status, json={"error": {"code": code, "message": f"{code} for a@example.org",
                                                  "innerError": {"request-id": request_id}}}, headers=headers)


def make(handler: Callable[[httpx.Request], httpx.Response],
         **kwargs: object) -> tuple[GraphClient, list[float], FakeToken]:
    sleeps: list[float] = []
    token = FakeToken()
    client = GraphClient(BASE, token, transport=httpx.MockTransport(handler), sleep=sleeps.append,
                         rng=random.Random(1), **kwargs)  # type: ignore[arg-type]
    return client, sleeps, token


def scripted(*responses: httpx.Response) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


class TestRetries:
    def test_retry_after_seconds_is_honoured(self) -> None:
        """A 429 with Retry-After: 3 waits at least 3 s, then succeeds."""
        handler, seen = scripted(graph_error(429, "TooManyRequests", retry_after="3"), httpx.Response(200, json={}))
        client, sleeps, _ = make(handler)
        client.send("read things", "GET", "/things")
        assert len(seen) == 2
        assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 3.3

    def test_retry_after_http_date_is_honoured(self) -> None:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
        assert 18 <= (parse_retry_after(when) or 0) <= 20
        handler, _ = scripted(graph_error(503, "serviceNotAvailable", retry_after=when), httpx.Response(200, json={}))
        client, sleeps, _ = make(handler)
        client.send("read things", "GET", "/things")
        assert 18 <= sleeps[0] <= 22

    def test_without_retry_after_backoff_grows_with_jitter(self) -> None:
        handler, _ = scripted(*[graph_error(504, "UnknownError")] * 4, httpx.Response(200, json={}))
        client, sleeps, _ = make(handler)
        client.send("read things", "GET", "/things")
        assert len(sleeps) == 4
        assert all(s > 0 for s in sleeps) and sleeps[3] > sleeps[0]

    def test_attempts_are_bounded_and_the_error_says_everything(self) -> None:
        """After the last attempt the caller gets a ThrottledError naming operation, status, code and request id."""
        handler, seen = scripted(*[graph_error(429, "TooManyRequests", retry_after="1", request_id="abc-123")] * 3)
        client, sleeps, _ = make(handler, policy=RetryPolicy(max_attempts=3))
        with pytest.raises(ThrottledError) as caught:
            client.send("read Registrations items", "GET", "/things")
        assert len(seen) == 3 and len(sleeps) == 2
        error = caught.value
        assert (error.operation, error.status, error.code, error.request_id) == (
            "read Registrations items", 429, "TooManyRequests", "abc-123")
        assert str(error).startswith("read Registrations items: HTTP 429 TooManyRequests (request-id abc-123)")
        assert "a@example.org" not in str(error)  # addresses are masked: errors get logged

    def test_total_wait_is_bounded(self) -> None:
        handler, seen = scripted(*[graph_error(429, "TooManyRequests", retry_after="100")] * 5)
        client, sleeps, _ = make(handler, policy=RetryPolicy(max_attempts=10, max_wait=150))
        with pytest.raises(ThrottledError):
            client.send("read things", "GET", "/things")
        assert len(sleeps) == 1 and len(seen) == 2

    def test_a_post_that_timed_out_at_the_gateway_is_not_sent_again(self) -> None:
        """504 may hide a POST that happened (an invitation, an email): never repeat it blindly."""
        handler, seen = scripted(graph_error(504, "UnknownError"), httpx.Response(202))
        client, _, _ = make(handler)
        with pytest.raises(ServiceError):
            client.send("send a confirmation", "POST", "/users/x/sendMail", json={})
        assert len(seen) == 1

    def test_a_throttled_post_is_sent_again(self) -> None:
        handler, seen = scripted(graph_error(429, "TooManyRequests", retry_after="1"), httpx.Response(202))
        client, _, _ = make(handler)
        client.send("send a confirmation", "POST", "/users/x/sendMail", json={})
        assert len(seen) == 2

    def test_connection_failures_are_retried_then_named(self) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        client, sleeps, _ = make(handler, policy=RetryPolicy(max_attempts=2))
        with pytest.raises(GraphTransportError) as caught:
            client.send("read things", "GET", "/things")
        assert len(sleeps) == 1
        assert "read things: no answer from Graph (ConnectError" in str(caught.value)

    def test_401_gets_one_fresh_token_and_one_more_try(self) -> None:
        handler, seen = scripted(graph_error(401, "InvalidAuthenticationToken"), httpx.Response(200, json={}))
        client, sleeps, token = make(handler)
        client.send("read things", "GET", "/things")
        assert token.calls == [False, True]
        assert [r.headers["Authorization"] for r in seen] == ["Bearer token-1", "Bearer token-2"]
        assert sleeps == []


class TestAnswers:
    def test_not_found_is_its_own_type(self) -> None:
        handler, _ = scripted(graph_error(404, "itemNotFound"))
        client, _, _ = make(handler)
        with pytest.raises(NotFoundError) as caught:
            client.send("read a Sessions item", "GET", "/things/1")
        assert caught.value.code == "itemNotFound"

    def test_an_html_page_from_a_proxy_is_a_clear_error(self) -> None:
        handler, _ = scripted(httpx.Response(200, text="<html>Sign in to the proxy</html>",
                                             headers={"content-type": "text/html"}))
        client, _, _ = make(handler)
        with pytest.raises(InvalidResponseError) as caught:
            client.get("read things", "/things", Page[ListItem])
        assert "text/html" in str(caught.value)

    def test_cut_off_json_is_a_clear_error(self) -> None:
        handler, _ = scripted(httpx.Response(200, content=b'{"value": [{"id": "1", "fie',
                                             headers={"content-type": "application/json"}))
        client, _, _ = make(handler)
        with pytest.raises(InvalidResponseError) as caught:
            client.get("read things", "/things", Page[ListItem])
        assert "cut off or malformed" in str(caught.value)

    def test_paging_follows_next_links_to_the_end(self) -> None:
        pages = {
            "/v1.0/things": {"value": [{"id": "1"}], "@odata.nextLink": f"{BASE}/things?$skiptoken=2"},
            "/v1.0/things?$skiptoken=2": {"value": [{"id": "2"}]},
        }

        def handler(request: httpx.Request) -> httpx.Response:
            key = request.url.raw_path.decode()
            return httpx.Response(200, json=pages[key])

        client, _, _ = make(handler)
        ids = [item.id for page in client.pages("read things", "/things", Page[ListItem]) for item in page.value]
        assert ids == ["1", "2"]

    def test_a_next_link_to_another_host_is_refused(self) -> None:
        """Our bearer token only ever goes to the Graph endpoint."""
        handler, seen = scripted(httpx.Response(200, json={"value": [], "@odata.nextLink": "https://evil.test/x"}))
        client, _, _ = make(handler)
        with pytest.raises(InvalidResponseError):
            list(client.pages("read things", "/things", Page[ListItem]))
        assert len(seen) == 1


class TestBatch:
    def test_answers_are_matched_by_id_and_only_throttled_entries_go_again(self) -> None:
        """Graph answers $batch entries in any order; a 429 entry alone is resent after its Retry-After."""
        bodies: list[list[str]] = []

        def handler(request: httpx.Request) -> httpx.Response:
            requests = json.loads(request.content)["requests"]
            bodies.append([r["id"] for r in requests])
            if len(bodies) == 1:
                return httpx.Response(200, json={"responses": [
                    {"id": "b", "status": 429, "headers": {"Retry-After": "7"}, "body": {"error": {"code": "x"}}},
                    {"id": "a", "status": 200, "body": {"ok": "a"}},
                    {"id": "c", "status": 404, "body": {"error": {"code": "itemNotFound", "message": "gone"}}},
                ]})
            return httpx.Response(200, json={"responses": [{"id": "b", "status": 200, "body": {"ok": "b"}}]})

        client, sleeps, _ = make(handler)
        results = client.batch("update items", [BatchRequest(i, "PATCH", f"/items/{i}", {"x": 1}) for i in "abc"])
        assert bodies == [["a", "b", "c"], ["b"]]
        assert 7 <= sleeps[0] <= 7.7
        assert {k: v.status for k, v in results.items()} == {"a": 200, "b": 200, "c": 404}
        with pytest.raises(NotFoundError):
            client.raise_for_entry("update items", results["c"])

    def test_batches_hold_at_most_twenty(self) -> None:
        sizes: list[int] = []

        def handler(request: httpx.Request) -> httpx.Response:
            requests = json.loads(request.content)["requests"]
            sizes.append(len(requests))
            return httpx.Response(200, json={"responses": [{"id": r["id"], "status": 204} for r in requests]})

        client, _, _ = make(handler)
        results = client.batch("update items", [BatchRequest(str(i), "DELETE", f"/items/{i}") for i in range(45)])
        assert sizes == [20, 20, 5] and len(results) == 45


class TestBatchRetriesHaveOneOwner:
    def test_a_throttled_envelope_is_retried_by_the_batch_loop_alone_within_its_budget(self) -> None:
        """A 429 on the whole `$batch` is not retried twice over (once by the request, again by the loop)."""
        seen = 0

        def handler(request: httpx.Request) -> httpx.Response:
            nonlocal seen
            seen += 1
            return graph_error(429, "TooManyRequests", retry_after="2")

        client, sleeps, _ = make(handler, policy=RetryPolicy(max_attempts=4, max_wait=300))
        answers = client.batch("read lists", [BatchRequest("1", "GET", "/sites/s/lists")])
        assert seen == 4 and answers["1"].status == 429  # four tries in all, each honouring Retry-After
        assert len(sleeps) == 3 and all(2.0 <= s <= 2.2 for s in sleeps)

    def test_a_throttled_envelope_then_an_answer(self) -> None:
        handler, seen = scripted(graph_error(503, "ServiceUnavailable", retry_after="1"),
                                 httpx.Response(200, json={"responses": [{"id": "1", "status": 200, "body": {}}]}))
        client, sleeps, _ = make(handler)
        assert client.batch("read lists", [BatchRequest("1", "GET", "/sites/s/lists")])["1"].status == 200
        assert len(seen) == 2 and len(sleeps) == 1

    def test_a_lost_answer_to_a_batch_of_writes_is_not_sent_again(self) -> None:
        handler, seen = scripted(graph_error(504, "GatewayTimeout"))
        client, _, _ = make(handler)
        with pytest.raises(ServiceError):
            client.batch("write items", [BatchRequest("1", "POST", "/sites/s/lists/l/items", body={})])
        assert len(seen) == 1


@pytest.mark.parametrize(("etag", "after"), [
    ('"{4D5C4B1E-1D6A-4B39-9C45-0E7A3F6E2B10},7"', '"{4D5C4B1E-1D6A-4B39-9C45-0E7A3F6E2B10},8"'),
    ('"4d5c4b1e-1d6a-4b39-9c45-0e7a3f6e2b10,9"', '"4d5c4b1e-1d6a-4b39-9c45-0e7a3f6e2b10,10"'),
    ("guid,1", "guid,2"),
    ('W/"{GUID},3"', 'W/"{GUID},4"'),
    ('"no version here"', None), ("", None), (None, None), ('"{GUID},x"', None),
])
def test_the_etag_after_one_update_is_the_next_version(etag: str | None, after: str | None) -> None:
    """What the mirror foresees after a write whose answer carried no eTag (Graph's PATCH of fields)."""
    from graph_client import next_etag

    assert next_etag(etag) == after


class TestDeltaPages:
    """Delta pages are read as plain JSON, not as `ListItem`s (`_lists._page`): a shape Graph never sends is still
    a clear error naming the operation, and what a `ListItem` reads of an item is all still read."""

    LINK = f"{BASE}/sites/s/lists/Registrations/items/delta?token=1"

    def delta(self, *bodies: bytes, known: dict[str, str] | None = None) -> DeltaResult:
        handler, _ = scripted(*(httpx.Response(200, content=body, headers={"content-type": "application/json"})
                                for body in bodies))
        client, _, _ = make(handler)
        return SharePointLists(client, "s").delta("Registrations", self.LINK, label="Registrations",
                                                  known=(lambda _list, ids: known) if known is not None else None)

    @pytest.mark.parametrize(("body", "problem"), [
        (b'{"value": [{"id": "1", "fie', "cut off or malformed"),
        (b'{"value": {"id": "1"}}', "unexpected shape at value"),
        (b'{"value": [{"eTag": "\\"{A},1\\""}]}', "unexpected shape at value.0.id"),
        (b'{"value": [{"id": 7}]}', "unexpected shape at value.0.id"),
        (b'{"value": [{"id": "1", "fields": "Status"}]}', "unexpected shape at value.0.fields"),
        (b'{"value": [{"id": "1", "deleted": true}]}', "unexpected shape at value.0.deleted"),
        (b'{"value": [], "@odata.deltaLink": 5}', "unexpected shape at @odata.deltaLink"),
        (b'{"value": []}', "neither nextLink nor deltaLink"),
    ])
    def test_a_page_graph_never_sends_is_a_clear_error(self, body: bytes, problem: str) -> None:
        with pytest.raises(InvalidResponseError) as caught:
            self.delta(body)
        assert "read Registrations changes" in str(caught.value) and problem in str(caught.value)

    def test_an_item_with_fields_keeps_all_a_list_item_reads_and_the_rest_is_passed_over(self) -> None:
        item = {"id": "3", "eTag": '"{A},2"', "createdDateTime": "2026-11-02T09:30:00Z",
                "lastModifiedDateTime": "2026-11-03T10:00:00Z", "webUrl": "https://x/3", "fields": {"Title": "Ann"},
                "createdBy": {"user": {"displayName": "SharePoint App"}}, "contentType": {"id": "0x01", "name": "Item"}}
        result = self.delta(json.dumps({"value": [item], "@odata.deltaLink": f"{self.LINK}2"}).encode())
        read = result.changed["3"]
        assert (read.etag, read.fields, read.created_date_time, read.last_modified_date_time) == (
            '"{A},2"', {"Title": "Ann"}, datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
            datetime(2026, 11, 3, 10, tzinfo=UTC))
        assert result.delta_link == f"{self.LINK}2"

    def test_items_without_fields_at_a_held_etag_are_ids_alone_and_the_last_occurrence_wins(self) -> None:
        pages = [{"value": [{"id": "1", "eTag": '"{A},2"'}, {"id": "2", "eTag": '"{B},5"'}],
                  "@odata.nextLink": f"{self.LINK}&page=2"},
                 {"value": [{"id": "2", "deleted": {"state": "deleted"}}, {"id": "1", "eTag": '"{A},3"'}],
                  "@odata.deltaLink": f"{self.LINK}3"}]
        result = self.delta(*(json.dumps(page).encode() for page in pages), known={"1": "a,3", "2": '"{B},5"'})
        assert (result.known, result.changed, result.deleted, result.pages) == ({"1"}, {}, {"2"}, 2)
