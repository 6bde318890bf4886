"""Anti-entropy and eTags, end to end through the emulator over HTTPS (issue 27, items 2 and 5).

A change the change feed never reports (the emulator's `"silent": true`) is found by a whole read: on
`sync --once --resync`, once COPROD_RESYNC_HOURS have passed, and for a list Graph said it missed; it is acted on
once and counted. A delta link that says `token=latest` is never saved. A PATCH of fields that answers with an eTag
is recorded at that eTag; a 409 `resourceModified` is a conflict, read again and decided again.
"""

from __future__ import annotations

import re
import ssl
import threading
import time

import httpx
import pytest

from coprod.cli import main
from coprod.lists import resync
from coprod.lists.mirror import ListMirror, _written_etag, relink, save_link
from coprod.run import RunResult, run_held
from coprod.running.lease import LEASE
from coprod.runtime import Services
from graph_client import DeltaResult, FieldUpdate, InvalidResponseError, etag_key, next_etag, says_latest
from graph_client import _models as graph_models
from graph_emulator import EmulatorServer
from tests.support.programme import Programme, soon

BOOKED = "Your place is booked: Being included"
ANN = "ann.example@example.org"


@pytest.fixture
def programme_settings() -> dict[str, str]:
    return {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


def control(emulator: EmulatorServer) -> httpx.Client:
    """The emulator's control API over HTTPS, as a tool outside the project would call it."""
    context = ssl.create_default_context(cafile=emulator.env()["M365_CA_BUNDLE"])
    return httpx.Client(base_url=emulator.url, verify=context, trust_env=False)


def silently_register(emulator: EmulatorServer, session: str, name: str = "Ann Example") -> str:
    """A booking made as SharePoint made it, and that no delta link (nor any notification) will ever report."""
    with control(emulator) as http:
        answer = http.post("/_emulator/lists/Registrations/items", json={"silent": True, "items": [{
            "Title": name, "Email": f"{name.lower().replace(' ', '.')}@example.org", "Consent": True,
            "SessionLookupId": session}]})
    answer.raise_for_status()
    [made] = answer.json()["ids"]
    return str(made)


def booked_silently(programme: Programme, emulator: EmulatorServer, *, ask: bool = False) -> str:
    """A session synced, then a booking for it that no change feed reports; `ask`: as a `missed` event asks, the
    Registrations list to be read whole next run. Returns the booking's id."""
    session = programme.session("Being included", soon())
    programme.run()
    made = silently_register(emulator, session)
    if ask:
        resync.ask(programme.services.store, "Registrations")
    return made


def held(mirror: ListMirror, item_id: str) -> str | None:
    """The eTag the mirror holds for an item."""
    item = mirror.get(item_id)
    assert item is not None
    return item.etag


def whole_line(lines: list[str] | tuple[str, ...]) -> str:
    [line] = [x for x in lines if x.startswith("Whole-list check:")]
    return line


class TestSilentChanges:
    def test_the_emulator_keeps_a_silent_change_out_of_every_delta_link_but_not_out_of_a_whole_read(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        session = programme.session("Being included", soon())
        programme.run()
        lists, store = programme.services.lists, programme.services.store
        made = silently_register(emulator, session)
        assert lists.delta("Registrations", store.checkpoints.get("delta.Registrations")).changed == {}
        assert made in lists.delta("Registrations", None).changed  # a whole enumeration shows it
        assert made in lists.etags("Registrations")
        link = lists.latest("Sessions", fields=True)  # the feed from now on
        with control(emulator) as http:  # a silent edit: a new eTag, and still nothing in the feed
            before = lists.etags("Sessions")[session]
            http.patch(f"/_emulator/lists/Sessions/items/{session}", json={"silent": True, "fields": {
                "Title": "Renamed quietly"}}).raise_for_status()
        assert lists.delta("Sessions", link).changed == {}
        assert lists.etags("Sessions")[session] != before

    def test_sync_once_resync_finds_a_silent_booking_acts_on_it_once_and_counts_it(
            self, programme: Programme, emulator: EmulatorServer, env: dict[str, str],
            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        for key, value in (env | {"COPROD_PUBLIC_URL": "https://coprod.example.org"}).items():
            monkeypatch.setenv(key, value)  # the CLI's own settings: the same lists and state file
        made = booked_silently(programme, emulator)
        programme.run()  # the feed says nothing: the booking waits
        assert programme.field("Registrations", made, "Status") in (None, "")
        capsys.readouterr()
        assert main(["sync", "--once", "--resync"]) == 0
        out = capsys.readouterr().out
        assert "Whole-list check: read every list whole; 1 change had been missed " \
               "(Registrations 1), acted on now." in out
        assert programme.field("Registrations", made, "Status") == "Confirmed"
        assert [m.subject for m in programme.mail_to(ANN)] == [BOOKED]
        assert main(["status"]) == 0
        assert re.search(r"^The lists were last read whole at \S+: the runs had missed 1 change, now acted "
                         r"on\.$", capsys.readouterr().out, re.M)
        assert main(["sync", "--once", "--resync"]) == 0  # found once: the next whole read finds nothing
        assert "Whole-list check: read every list whole; nothing had been missed." in \
            capsys.readouterr().out
        assert main(["status"]) == 0
        assert "read whole" not in capsys.readouterr().out
        assert [m.subject for m in programme.mail_to(ANN)] == [BOOKED]

    def test_the_daily_whole_read_finds_it_once_the_hours_have_passed_and_not_before(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        session = programme.session("Being included", soon(days=5))
        programme.run()
        made = silently_register(emulator, session)
        quiet = programme.run(minutes=23 * 60)  # 23 hours on: not yet
        assert not [x for x in quiet if x.startswith("Whole-list check:")]
        assert programme.field("Registrations", made, "Status") in (None, "")
        lines = programme.run(minutes=60 + 5)  # 24 hours since the first run's whole read
        assert whole_line(lines).endswith("1 change had been missed (Registrations 1), acted on now.")
        assert programme.field("Registrations", made, "Status") == "Confirmed"
        assert not [x for x in programme.run() if x.startswith("Whole-list check:")]  # the period starts again

    def test_a_silent_edit_and_a_silent_delete_are_acted_on_and_our_own_writes_are_not_drift(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        session = programme.session("Being included", soon(), capacity=1)
        ann = programme.register(session, "Ann Example")
        ben = programme.register(session, "Ben Example")
        programme.run()
        assert [programme.field("Registrations", r, "Status") for r in (ann, ben)] == ["Confirmed", "Waitlisted"]
        programme.run()  # our writes' echo read back
        with control(emulator) as http:  # Ann's row deleted, the session renamed, with nothing in the feed
            http.delete(f"/_emulator/lists/Registrations/items/{ann}", params={"silent": "true"}).raise_for_status()
            http.patch(f"/_emulator/lists/Sessions/items/{session}", json={"silent": True, "fields": {
                "Title": "Being included (moved online)"}}).raise_for_status()
        lines = run_held(programme.services, whole=True, drain_seconds=600).lines
        assert whole_line(lines).endswith("2 changes had been missed (Sessions 1, Registrations 1), "
                                          "acted on now.")
        assert programme.field("Registrations", ben, "Status") == "Confirmed"  # the place went to Ben
        assert programme.meetings()[0].subject == "Being included (moved online)"
        again = run_held(programme.services, whole=True, drain_seconds=600).lines
        assert whole_line(again).endswith("nothing had been missed.")  # the writes just made: no drift

    def test_a_list_a_missed_event_asked_for_is_read_whole_alone_and_the_ask_is_answered(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        made = booked_silently(programme, emulator, ask=True)
        lines = programme.run()
        assert whole_line(lines) == ("Whole-list check: read Registrations whole; 1 change had been missed "
                                     "(Registrations 1), acted on now.")
        assert programme.field("Registrations", made, "Status") == "Confirmed"
        assert resync.asked(programme.services.store, ["Registrations"]) == set()
        assert not [x for x in programme.run() if x.startswith("Whole-list check:")]

    def test_a_run_that_stops_before_acting_on_the_drift_reads_whole_again_next_run(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        made = booked_silently(programme, emulator, ask=True)
        emulator.add_fault(status=503, path=r"/\$batch", count=40, retry_after=0)
        programme.run()  # the lists cannot be read: nothing acted on, the ask stands
        assert resync.asked(programme.services.store, ["Registrations"]) == {"Registrations"}
        emulator.backend.faults.clear()
        programme.run()
        assert programme.field("Registrations", made, "Status") == "Confirmed"


class TestOverlap:
    def test_a_notified_run_that_starts_while_a_whole_read_works_waits_and_each_booking_is_acted_on_once(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        session = programme.session("Being included", soon())
        programme.run()
        made = silently_register(emulator, session)
        emulator.add_fault(latency_ms=60, path="/items")  # the whole read takes a while
        store = programme.services.store
        results: list[RunResult] = []

        def whole_run() -> None:
            with Services.open(programme.services.settings, clock=programme.clock,
                               sleep=programme.clock.sleep) as services:
                results.append(run_held(services, whole=True, drain_seconds=600))

        worker = threading.Thread(target=whole_run)
        worker.start()
        deadline = time.monotonic() + 30
        while store.leases.get(LEASE) is None and time.monotonic() < deadline:  # the whole read has the lease
            time.sleep(0.005)
        ben = programme.register(session, "Ben Example")  # a person's booking, notified, while it works
        notified = run_held(programme.services, drain_seconds=600)  # the run the notification asks for
        worker.join()
        assert notified.busy and results[0].busy is None  # one runner at a time
        assert whole_line(results[0].lines).endswith("1 change had been missed (Registrations 1), "
                                                     "acted on now.")
        emulator.backend.faults.clear()
        run_held(programme.services, drain_seconds=600)  # the next run (the timer's, or the next notification's)
        assert [programme.field("Registrations", r, "Status") for r in (made, ben)] == ["Confirmed", "Confirmed"]
        again = run_held(programme.services, whole=True, drain_seconds=600)
        assert whole_line(again.lines).endswith("nothing had been missed.")
        assert [m.subject for m in programme.mail_to(ANN)] == [BOOKED]  # one email each, however the runs fell
        assert [m.subject for m in programme.mail_to("ben.example@example.org")] == [BOOKED]


class TestLinks:
    def test_a_link_that_says_token_latest_is_never_saved(self, programme: Programme) -> None:
        store = programme.services.store
        store.checkpoints.set("delta.Sessions", "https://graph.example/items/delta?token=abc")
        for link in ("https://graph.example/items/delta?token=latest",
                     "https://graph.example/items/delta?$expand=fields&token=Latest"):
            assert says_latest(link)
            save_link(store, "Sessions", DeltaResult(delta_link=link), light=True)
            assert store.checkpoints.get("delta.Sessions") == "https://graph.example/items/delta?token=abc"
            assert store.checkpoints.get("delta.Sessions.light") is None
        assert not says_latest("https://graph.example/items/delta?token=latestish")
        save_link(store, "Sessions", DeltaResult(delta_link="https://graph.example/items/delta?token=def"))
        assert store.checkpoints.get("delta.Sessions") == "https://graph.example/items/delta?token=def"

    def test_a_fresh_link_that_comes_back_saying_token_latest_is_refused_and_the_old_one_kept(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        """The service asks for `token=latest` links before a big write (`relink`); one that comes back saying
        `token=latest` again is an error, so the link saved before stays."""
        programme.session("Being included", soon())
        lists = programme.services.lists
        assert not says_latest(lists.latest("Sessions", fields=True))
        emulator.backend.tenant.update({"latest_says_latest": True})
        with pytest.raises(InvalidResponseError, match="token=latest gave back token=latest"):
            lists.latest("Sessions", fields=True)
        delta = lists.delta("Sessions", None)
        saved = delta.delta_link
        assert relink(lists, "Sessions", delta, fields=False) is False and delta.delta_link == saved


class TestEtags:
    @staticmethod
    def write_once(programme: Programme) -> tuple[ListMirror, str, str | None]:
        """A session mirrored, and one write to it on the eTag read: (the mirror, the session, the eTag read)."""
        session = programme.session("Being included", soon())
        lists = programme.services.lists
        mirror = ListMirror(programme.services.store, "Sessions")
        mirror.apply(lists.delta("Sessions", None))
        read = held(mirror, session)
        assert mirror.write(lists, [FieldUpdate(session, {"SyncNote": "ours"}, read)]).written == 1
        return mirror, session, read

    def test_a_write_answered_with_an_etag_is_recorded_at_that_version_as_the_change_feed_writes_it(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        mirror, session, read = self.write_once(programme)
        item = emulator.backend.sharepoint.get_list(emulator.backend.site.id, "Sessions").items[int(session)]
        assert held(mirror, session) != item.fields_etag  # the answer's is written as fields write it: `guid,2`
        assert etag_key(held(mirror, session)) == etag_key(item.fields_etag)  # the same version
        assert held(mirror, session) == next_etag(read) == item.etag  # written `"{GUID},2"`, as delta gives it

    def test_the_echo_of_a_write_is_told_by_its_etag_text_with_nothing_evened_out(
            self, programme: Programme, monkeypatch: pytest.MonkeyPatch) -> None:
        """Thousands of writes come back in the next change feed: each is told by comparing two texts, not by
        evening out both (`etag_key`), which was a quarter of the run after a first sync of 50,000."""
        session = programme.session("Being included", soon())
        lists, store = programme.services.lists, programme.services.store
        mirror = ListMirror(store, "Sessions")
        first = lists.delta("Sessions", None)
        link = first.delta_link
        mirror.apply(first)
        assert mirror.write(lists, [FieldUpdate(session, {"SyncNote": "ours"}, held(mirror, session))]).written == 1
        evened: list[str | None] = []
        monkeypatch.setattr(graph_models, "etag_key", lambda value: evened.append(value) or etag_key(value))
        echo = lists.delta("Sessions", link, known=store.mirror.etags)
        assert echo.known == {session} and not echo.changed and echo.reread == 0
        assert evened == []

    def test_an_answer_at_another_version_than_foreseen_is_kept_as_answered(self) -> None:
        assert _written_etag("73b47992-aaaa,9", '"{73B47992-AAAA},7"') == "73b47992-aaaa,9"
        assert _written_etag("73b47992-aaaa,8", '"{73B47992-AAAA},7"') == '"{73B47992-AAAA},8"'
        assert _written_etag(None, '"{73B47992-AAAA},7"') == '"{73B47992-AAAA},8"'
        assert _written_etag("73b47992-aaaa,8", None) == "73b47992-aaaa,8"  # (nothing foreseen: the answer's)
        assert _written_etag("", "not-numbered") is None

    def test_a_write_answered_without_one_is_recorded_at_the_next_version(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        emulator.backend.tenant.update({"write_answers_etag": False})
        mirror, session, read = self.write_once(programme)
        assert held(mirror, session) == next_etag(read)

    def test_409_resource_modified_is_a_conflict_read_again_and_decided_again(
            self, programme: Programme, emulator: EmulatorServer) -> None:
        session = programme.session("Being included", soon())
        ann = programme.register(session, "Ann Example")
        emulator.add_fault(status=409, code="resourceModified", method="PATCH", path=r"/items/\d+/fields$",
                           count=1)
        lines = programme.run()
        assert programme.field("Registrations", ann, "Status") == "Confirmed"  # decided again, written this run
        [registrations] = [x for x in lines if x.startswith("Registrations:")]
        assert "could not be written" not in registrations
        assert [m.subject for m in programme.mail_to(ANN)] == [BOOKED]
