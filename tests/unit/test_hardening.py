"""Hardening: no value anyone types can redirect a message or stop the service, and no page can be abused.

Each test here reproduces a finding of the security review (issue 10) and failed on the code before the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coprod.cli import main
from coprod.handoffs import UNSUBSCRIBE, unsubscribe
from coprod.links import LinkError, Signer
from coprod.mail.outbox import Outbox
from coprod.pages.app import WebContext, create_web_app
from coprod.store import OutboxEntry, SqliteStore
from graph_client import OutgoingMail
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.conftest import SIGNING_KEY, offline_settings
from tests.support.fakes import FakeMailbox
from tests.support.functions_host import FunctionsHostTransport, front_end


def when(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


class TestPoisonValues:
    """Finding 2: one value stopped every run, for ever. Now it is noted on its item and the rest goes on."""

    def test_twenty_good_registrations_are_confirmed_beside_poison_ones_and_a_rerun_sends_nothing(
            self, configured: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["provision"]) == 0
        sp, site = emulator.backend.sharepoint, emulator.backend.site.id

        def session(title: str, start: str, end: str) -> str:
            return str(sp.create_item(site, "Sessions", {"Title": title, "Status": "Open", "Capacity": 0,
                                                         "StartTime": start, "EndTime": end}, check=False).id)

        def register(session_id: str, name: Any, email: Any) -> str:
            return str(sp.create_item(site, "Registrations", {"Title": name, "Email": email, "Consent": True,
                                                              "SessionLookupId": session_id}, check=False).id)

        good_session = session("Having choice", when(7), when(7.05))
        good = {register(good_session, f"Person {n}", f"person{n}@example.org"): f"person{n}@example.org"
                for n in range(20)}
        # hostile names: each person must get their own confirmation, and nobody else anything
        good |= {register(good_session, "José <attacker@evil.example>", "jose@example.org"): "jose@example.org",
                 register(good_session, "Zoë: a@x.example, b@y.example;", "zoe@example.org"): "zoe@example.org",
                 register(good_session, "Line\u2028Bcc: c@z.example", "line@example.org"): "line@example.org",
                 register(good_session, "x" * 100_000, "long@example.org"): "long@example.org",
                 register(good_session, "Anna", "Anna@Bücher.de"): "anna@xn--bcher-kva.de"}
        separators = session("Carers\u2028catch-up\u2029and\x85more", when(8), when(8.05))
        good[register(separators, "Sam", "sam@example.org")] = "sam@example.org"
        international = register(good_session, "Jo", "josé@example.org")
        far_future = session("Being healthy", "9999-12-31T10:00:00Z", "9999-12-31T11:00:00Z")
        on_far_future = register(far_future, "Kim", "kim@example.org")
        not_a_date = session("Being included", "next Tuesday", when(9))
        on_not_a_date = register(not_a_date, "Lee", "lee@example.org")

        capsys.readouterr()
        assert main(["sync", "--once"]) == 0
        out = capsys.readouterr().out
        assert "stopped" not in out
        sent = emulator.backend.mail.sent(emulator.backend.sender)
        confirmations = [m for m in sent if m.subject.startswith("Your place is booked")]
        assert sorted(a for m in confirmations for a in m.to) == sorted(good.values())
        assert all(len(m.to) == 1 and not m.cc and not m.bcc for m in sent)
        assert not [a for m in sent for a in (*m.to, *m.cc, *m.bcc) if a.rsplit("@", 1)[1] in (
            "evil.example", "x.example", "y.example", "z.example")]
        [folded] = [m for m in confirmations if m.to == ("sam@example.org",)]
        assert folded.subject == "Your place is booked: Carers catch-up and more"

        def fields(item_id: str, list_name: str = "Registrations") -> dict[str, Any]:
            return dict(sp.get_item(site, list_name, item_id)[1].fields)

        assert {fields(i)["Status"] for i in good} == {"Confirmed"}
        assert (fields(international)["Status"], fields(international)["StatusNote"]) == (
            "NeedsAttention", "We can't yet send email to an address with accented or non-English letters before the "
            "@, like “josé@example.org”. Please give us another address, or ask the programme team to book for you.")
        for item in (on_far_future, on_not_a_date):
            assert fields(item)["Status"] == "NeedsAttention"
            assert fields(item)["StatusNote"].startswith("This session's date and time aren't set yet.")
        assert "Start time is missing or not a date." in fields(far_future, "Sessions")["SyncNote"]

        assert main(["sync", "--once"]) == 0
        assert len(emulator.backend.mail.sent(emulator.backend.sender)) == len(sent)  # a rerun sends nothing

    def test_a_corrected_address_gets_the_confirmation_it_missed(
            self, configured: dict[str, str], emulator: EmulatorServer) -> None:
        """An officer fixes the address of someone who holds a place: the confirmation goes to the new one, once."""
        assert main(["provision"]) == 0
        sp, site = emulator.backend.sharepoint, emulator.backend.site.id
        session = sp.create_item(site, "Sessions", {"Title": "Having choice", "Status": "Open", "Capacity": 5,
                                                    "StartTime": when(7), "EndTime": when(7.05)}).id
        ann = sp.create_item(site, "Registrations", {"Title": "Ann", "Email": "ann@exmaple.org", "Consent": True,
                                                     "SessionLookupId": str(session)}).id
        assert main(["sync", "--once"]) == 0
        sp.update_fields(site, "Registrations", ann, {"Email": "ann@example.org"})
        assert main(["sync", "--once"]) == 0
        assert main(["sync", "--once"]) == 0
        sent = emulator.backend.mail.sent(emulator.backend.sender)
        assert [m.to for m in sent if m.subject.startswith("Your place is booked")] == [
            ("ann@exmaple.org",), ("ann@example.org",)]


class TestUnsubscribeDuringADrain:
    """Finding 3: the drain read the queue once and overwrote `cancelled` with `sent`."""

    def test_an_update_withdrawn_while_the_drain_runs_is_not_sent(self, store: SqliteStore) -> None:
        transport = FakeMailbox()
        outbox = Outbox(store, transport, sleep=lambda s: None)
        for n in (1, 2, 3):
            outbox.enqueue(OutgoingMail(key=f"mail:update-9-{n}", to=(f"p{n}@example.org",), subject="News",
                                        text="Hi"), "update", {"subscriber": str(n)})
        # subscriber 2 presses one-click unsubscribe while the first update is going out
        transport.during_send.append(lambda: unsubscribe(store, "2:digest"))
        report = outbox.drain()
        assert transport.keys() == ["mail:update-9-1", "mail:update-9-3"]
        assert store.outbox.get("mail:update-9-2").status == "cancelled"  # type: ignore[union-attr]
        assert (report.sent, report.skipped) == (2, 1)

    def test_an_update_whose_subscriber_left_since_it_was_queued_is_withdrawn_at_its_turn(
            self, store: SqliteStore) -> None:
        transport = FakeMailbox()
        outbox = Outbox(store, transport, sleep=lambda s: None)
        left = {"2"}
        outbox.checks["update"] = lambda entry: entry.payload["about"]["subscriber"] not in left
        for n in (1, 2):
            outbox.enqueue(OutgoingMail(key=f"mail:update-9-{n}", to=(f"p{n}@example.org",), subject="News",
                                        text="Hi"), "update", {"subscriber": str(n)})
        report = outbox.drain()
        assert (transport.keys(), report.cancelled) == (["mail:update-9-1"], 1)
        assert store.outbox.get("mail:update-9-2").status == "cancelled"  # type: ignore[union-attr]

    def test_two_drains_at_once_send_each_message_once(self, tmp_path: Any) -> None:
        """The claim is conditional: a second runner that read the same queue finds each message taken."""
        transport = FakeMailbox()
        first = SqliteStore(tmp_path / "state.sqlite3")
        second = SqliteStore(tmp_path / "state.sqlite3")
        try:
            for n in range(5):
                Outbox(first, transport).enqueue(OutgoingMail(key=f"mail:t-{n}", to=(f"p{n}@example.org",),
                                                              subject="Hi", text="Hi"), "test")
            stale_queue = second.outbox.list("queued")
            Outbox(first, transport, sleep=lambda s: None).drain()
            assert [second.outbox.claim(e.key) for e in stale_queue] == [None] * 5
            assert Outbox(second, transport, sleep=lambda s: None).drain().sent == 0
            assert sorted(transport.keys()) == [f"mail:t-{n}" for n in range(5)]
        finally:
            first.close()
            second.close()


@pytest.fixture
def pages(store: SqliteStore) -> Iterator[httpx.Client]:
    app = create_web_app(lambda: WebContext(Signer(SIGNING_KEY), store, offline_settings(
        programme_name="Having your say", subscribe_per_client_per_minute=5, subscribe_per_hour=100)))
    with httpx.Client(transport=AsgiTransport(app), base_url="https://coprod.example.org") as http:
        yield http


def unsubscribe_token(subject: str = "12:abcdef") -> str:
    return Signer(SIGNING_KEY).make(UNSUBSCRIBE.purpose, subject, 3600)


class TestHead:
    """Finding 4: a HEAD request to the one-click unsubscribe link unsubscribed (link checkers send HEAD)."""

    def test_head_on_the_one_click_link_changes_nothing(self, pages: httpx.Client, store: SqliteStore) -> None:
        answer = pages.head("/api/pages/unsubscribe/one-click", params={"t": unsubscribe_token()})
        assert answer.status_code == 200 and answer.content == b""
        assert store.ledger.list(kind="unsubscribe") == []

    @pytest.mark.parametrize("path", ["/api/pages/unsubscribe/one-click", "/api/pages/unsubscribe",
                                      "/api/pages/preferences", "/api/pages/subscribe", "/api/pages/subscribe/confirm",
                                      "/api/pages/subscribe/rejoin", "/api/pages/guest/confirm", "/api/pages/cancel",
                                      "/api/pages/static/site.css", "/api/pages/nowhere"])
    def test_head_is_get_without_a_body_on_every_route(self, pages: httpx.Client, store: SqliteStore,
                                                        path: str) -> None:
        params = {"t": unsubscribe_token()}
        got, head = pages.get(path, params=params), pages.head(path, params=params)
        assert (head.status_code, head.headers.get("content-type"), head.content) == (
            got.status_code, got.headers.get("content-type"), b"")
        assert store.ledger.list() == [] and store.outbox.counts() == {}


class TestSubscribeFlood:
    """Finding 5: 300 posts in 0.6 s became 300 rows and 300 emails ahead of booking confirmations. (Issue 24,
    finding 3: and no client may use up everyone's hour; past a limit the page says so.)"""

    @pytest.fixture
    def hosted(self, store: SqliteStore) -> Iterator[httpx.Client]:
        """The pages as the Functions host serves them: the client known only by the front end's headers."""
        app = create_web_app(lambda: WebContext(Signer(SIGNING_KEY), store, offline_settings(
            programme_name="Having your say", subscribe_per_client_per_minute=5, subscribe_per_hour=100)))
        with httpx.Client(transport=FunctionsHostTransport(app), base_url="https://coprod.example.org") as http:
            yield http

    def test_one_client_gets_five_a_minute_then_a_page_that_says_so(self, hosted: httpx.Client,
                                                                    store: SqliteStore) -> None:
        answers = [hosted.post("/api/pages/subscribe", data={"email": f"p{n}@example.org", "name": "P"},
                               headers=front_end("198.51.100.7", 40000 + n)) for n in range(20)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 15
        assert "Please try again in a few minutes" in answers[-1].text and "Nothing was saved" in answers[-1].text
        assert len(store.ledger.list(kind="subscriber")) == 5

    def test_many_clients_together_get_a_hundred_an_hour(self, hosted: httpx.Client, store: SqliteStore) -> None:
        answers = [hosted.post("/api/pages/subscribe", data={"email": f"q{n}@example.org"},
                               headers=front_end(f"203.0.{n // 250}.{n % 250}")) for n in range(130)]
        assert [a.status_code for a in answers] == [200] * 100 + [429] * 30
        assert "Please try again in an hour" in answers[-1].text
        assert len(store.ledger.list(kind="subscriber")) == 100

class TestTokens:
    """Finding 7: a non-ASCII token gave 500 on every token page."""

    @pytest.mark.parametrize("path", ["/api/pages/guest/confirm", "/api/pages/cancel", "/api/pages/subscribe/confirm",
                                      "/api/pages/subscribe/rejoin", "/api/pages/preferences",
                                      "/api/pages/unsubscribe", "/api/pages/unsubscribe/one-click"])
    @pytest.mark.parametrize("token", ["é.é", "abc.déf", "\u2028", "x" * 5000, "e30.e30", "W10.AAAA", "..", "%00",
                                       "eyJwIjoiY2FuY2VsIn0.\U0001f600"])
    def test_a_malformed_token_gets_the_usual_page_never_an_error(self, pages: httpx.Client, store: SqliteStore,
                                                                   path: str, token: str) -> None:
        for answer in (pages.get(path, params={"t": token}), pages.post(path, data={"t": token}, params={"t": token})):
            assert answer.status_code in (400, 410), answer.text
        assert store.ledger.list() == []

    def test_the_address_digest_in_a_link_is_keyed(self) -> None:
        """Finding 8: tokens carried an unkeyed SHA-256 prefix of the address, so a link confirmed a guess."""
        import hashlib

        address = "ann@example.org"
        digest = Signer(SIGNING_KEY).digest(address)
        assert digest != hashlib.sha256(address.encode()).hexdigest()[:20]
        assert digest != Signer("another-deployments-key-0123456789abcdef").digest(address)
        assert digest == Signer(SIGNING_KEY).digest(address)  # stable for one key: old links keep working


@given(st.text(max_size=300))
def test_reading_any_text_as_a_token_raises_only_link_error(text: str) -> None:
    signer = Signer(SIGNING_KEY)
    with pytest.raises(LinkError):
        signer.read(text, "cancel-place")


def test_an_unexpected_error_with_one_message_fails_that_message_and_notes_it(store: SqliteStore) -> None:
    """Anything a message meets that nobody foresaw: that one fails with its reason, the queue goes on."""

    class Breaks(FakeMailbox):
        def send(self, mail: OutgoingMail) -> None:
            if mail.key.endswith("-2"):
                raise UnicodeEncodeError("ascii", "é", 0, 1, "not ASCII")
            super().send(mail)

    transport = Breaks()
    outbox = Outbox(store, transport, sleep=lambda s: None)
    for n in (1, 2, 3):
        outbox.enqueue(OutgoingMail(key=f"mail:m-{n}", to=(f"p{n}@example.org",), subject="Hi", text="Hi"),
                       "confirmed", {"registration": str(n), "session": "7"})
    report = outbox.drain()
    assert (transport.keys(), report.failed) == (["mail:m-1", "mail:m-3"], 1)
    failed: OutboxEntry | None = store.outbox.get("mail:m-2")
    assert failed is not None and (failed.status, failed.error) == (
        "failed", "could not be built or sent (UnicodeEncodeError)")
    [noted] = store.ledger.list(kind="mail-failed")
    assert (noted.payload["registration"], noted.payload["to"]) == ("2", ["p2@example.org"])
    assert outbox.drain().sent == 0  # and it is not tried again
