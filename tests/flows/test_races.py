"""Two runners at once, with no lease, interleaved at exactly the moment that once went wrong (issue 24, finding
8): "another runner" acts from inside a store read of this one's, so every step is in a known order. No sleeps,
no timing. Whole reconcilers over HTTPS against the emulator, on SQLite and on Table Storage (Azurite)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from config import load_settings
from coprod import handoffs
from coprod.guests.access import GuestAccess
from coprod.handoffs import SubscriberDue
from coprod.lists.mirror import ListMirror, read_changes
from coprod.lists.provision import provision
from coprod.mailing.subscribers import MailingList
from coprod.runtime import Services
from coprod.store import StateStore
from graph_client import FieldUpdate
from graph_emulator import EmulatorServer
from tests.support.fakes import FakeClock
from tests.support.hooked import Hooked

PERSON = "person8@example.org"


@pytest.fixture(params=["sqlite", "azurite"])
def shared_env(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    """One store every runner shares (a file, or one set of tables), one tenant."""
    if request.param == "azurite":
        env = env | {"COPROD_STATE": request.getfixturevalue("azurite"),
                     "COPROD_STATE_PREFIX": f"t{uuid.uuid4().hex[:12]}"}
    return env | {"COPROD_PUBLIC_URL": "https://coprod.example.org"}


@pytest.fixture
def runners(emulator: EmulatorServer, shared_env: dict[str, str],
            clock: FakeClock) -> Iterator[tuple[Services, Services, Services]]:
    """Three runners, each with its own Graph client and its own handle on the one store."""
    settings = load_settings(shared_env)
    with (Services.open(settings, clock=clock, sleep=clock.sleep) as a,
          Services.open(settings, clock=clock, sleep=clock.sleep) as b,
          Services.open(settings, clock=clock, sleep=clock.sleep) as c):
        provision(a.lists)
        yield a, b, c


class AfterMirrorRead:
    """A runner's store that lets `other` run right after this runner's `nth` read of `list_name`'s mirror
    (`methods`): another runner's write lands between this one's read and whatever it does with it."""

    def __init__(self, store: StateStore, list_name: str, nth: int, other: Callable[[], Any],
                 methods: tuple[str, ...] = ("get", "many", "items", "etags")) -> None:
        self._store, self._list, self._nth, self._other = store, list_name, nth, other
        self.reads = 0
        self.fired = False
        self.mirror = Hooked(store.mirror, **{name: self._after(getattr(store.mirror, name)) for name in methods})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _after(self, value: Callable[..., Any]) -> Callable[..., Any]:
        def read(list_name: str, *args: Any, **kwargs: Any) -> Any:
            result = value(list_name, *args, **kwargs)
            if list_name == self._list:
                self.reads += 1
                if self.reads == self._nth:
                    self.fired = True
                    self._other()
            return result

        return read


def mailing_list(services: Services, store: StateStore | None = None) -> MailingList:
    return MailingList(services.lists, store or services.store, services.outbox, services.signer,
                       services.settings, clock=services.clock)


def subscriber_rows(emulator: EmulatorServer, address: str) -> list[str]:
    backend = emulator.backend
    return [str(item_id) for item_id, item in backend.sharepoint.get_list(backend.site.id, "Subscribers").items.items()
            if item.fields.get("Email") == address]


@pytest.mark.parametrize("moment", [0, 1, 2, 3])
def test_a_row_another_runner_adds_while_a_whole_list_is_read_stays_mirrored_and_is_never_added_twice(
        runners: tuple[Services, Services, Services], emulator: EmulatorServer, moment: int) -> None:
    """Issue 24, finding 8: runner A reads the whole Subscribers list (its first run); runner B then adds
    person8's row and mirrors it, at each moment in turn (0: before A applies its read; n: right after A's n-th
    read of the mirror). A keeps B's row in the mirror (it is in the list: only what Graph says is gone is
    dropped) and stops on nothing (it used to raise KeyError, or drop the row silently); so a third runner that
    read the list with A, asked to add person8 again, finds the row and adds no second one."""
    a, b, c = runners
    site = emulator.backend.site.id
    for n in range(3):
        emulator.backend.sharepoint.create_item(site, "Subscribers", {
            "Title": f"Sub {n}", "Email": f"sub{n}@example.net", "Status": "Subscribed",
            "ConfirmedAt": "2026-01-01T10:00:00Z"})
    handoffs.put(a.store.ledger, SubscriberDue(PERSON, "Person 8", registration="8"), "due")
    changes = read_changes(a.lists, a.store, MailingList.LISTS)
    assert changes["Subscribers"].full  # the first run: the whole list
    changes_c = read_changes(c.lists, c.store, MailingList.LISTS)  # a third runner reads at the same time

    def runner_b() -> None:
        mailing_list(b).run()

    if moment == 0:
        runner_b()
    hooked = AfterMirrorRead(a.store, "Subscribers", moment, runner_b)
    mailing_list(a, cast(StateStore, hooked)).run(changes)  # (it used to raise KeyError at moment 2)
    assert moment == 0 or hooked.fired
    [row] = subscriber_rows(emulator, PERSON)
    today = datetime.fromtimestamp(c.clock(), UTC).date().isoformat()
    handoffs.put(c.store.ledger, SubscriberDue(PERSON, "Person 8", source="website", day=today), "due")  # asks again
    mailing_list(c).run(changes_c)
    assert subscriber_rows(emulator, PERSON) == [row]  # (it used to be added a second time)
    mirrored = a.store.mirror.get("Subscribers", row)
    assert mirrored is not None and mirrored.fields["Email"] == PERSON


@pytest.mark.parametrize("staged", [True, False])
def test_a_whole_read_drops_only_the_items_graph_says_are_gone(
        runners: tuple[Services, Services, Services], emulator: EmulatorServer, staged: bool) -> None:
    """Issue 24, finding 8: a whole read (the first run, or after a 410) drops from the mirror only what is no
    longer in the list. An item another runner mirrored after this read began is not in the read but is in the
    list: it stays, and is not reported deleted (its registrations' session would be decided as if it had
    gone). An item deleted from the list before the read is dropped and reported."""
    a, b, _ = runners
    sp, site = emulator.backend.sharepoint, emulator.backend.site.id
    gone = str(sp.create_item(site, "Sessions", {"Title": "Cancelled long ago"}).id)
    kept = str(sp.create_item(site, "Sessions", {"Title": "Being included"}).id)
    earlier = ListMirror(a.store, "Sessions")
    earlier.apply(read_changes(a.lists, a.store, ["Sessions"])["Sessions"])  # mirrored; its link never saved
    sp.delete_item(site, "Sessions", gone)
    delta = read_changes(a.lists, a.store, ["Sessions"])["Sessions"]  # runner A's whole read
    assert delta.full and set(delta.changed) == {kept}
    late = str(sp.create_item(site, "Sessions", {"Title": "Added while A worked"}).id)
    other = ListMirror(b.store, "Sessions")  # runner B reads it and mirrors it (as one it has just written)
    other.put([other.item(b.lists.get_item("Sessions", late))])
    mirror = ListMirror(a.store, "Sessions", staged=staged)
    applied = mirror.apply(delta)
    mirror.flush()
    assert [old.item_id for old in applied.deleted] == [gone]  # (B's session was reported deleted too)
    assert sorted(i.item_id for i in a.store.mirror.items("Sessions")) == sorted([kept, late])  # (and dropped)


def test_one_guest_access_run_decides_and_reviews_from_one_reading_of_the_rows(
        runners: tuple[Services, Services, Services], emulator: EmulatorServer) -> None:
    """Issue 24, finding 8: runner B grants an approved request (Status Invited) right after runner A read the
    rows to decide them. A reviews the same reading it decided, not a second one where the row is already
    Invited, so it never writes the row twice in one `$batch` (that raised "batch request ids must be unique"
    and stopped the run). A's stale write meets 412 and is read again; one invitation, the row Invited."""
    a, b, _ = runners

    def guest_access(services: Services, store: StateStore | None = None) -> GuestAccess:
        return GuestAccess(services.lists, services.directory, store or services.store, services.outbox,
                           services.signer, services.settings, clock=services.clock, sleep=services.sleep)

    guest_access(a).run()  # an earlier run: the list's delta link is saved
    backend = emulator.backend
    row = str(backend.sharepoint.create_item(backend.site.id, "GuestRequests", {
        "Title": "Sam Guest", "Email": "sam.guest@partner.example.org", "Decision": "Approved"}).id)
    hooked = AfterMirrorRead(a.store, "GuestRequests", 1, lambda: guest_access(b).run(), methods=("items",))
    report = guest_access(a, cast(StateStore, hooked)).run()  # (it used to raise ValueError)
    assert hooked.fired and report.invited == 0
    assert [i.address for i in backend.directory.invitations] == ["sam.guest@partner.example.org"]
    assert backend.sharepoint.get_item(backend.site.id, "GuestRequests", row)[1].fields["Status"] == "Invited"


def test_two_updates_of_one_item_in_one_write_are_merged_or_decided_again(
        runners: tuple[Services, Services, Services], emulator: EmulatorServer) -> None:
    """Issue 24, finding 8: a write given two updates of the same item (decided from two readings of a mirror
    another runner changes) never sends one `$batch` with the same id twice. Decided from the same eTag, they
    are one update, their columns combined; from different eTags, one of them is stale: nothing is written,
    the item is read again and handed back to be decided again, as after a 412."""
    a, _, _ = runners
    sp, site = emulator.backend.sharepoint, emulator.backend.site.id
    first = str(sp.create_item(site, "Sessions", {"Title": "Being included"}).id)
    second = str(sp.create_item(site, "Sessions", {"Title": "Having choice"}).id)
    mirror = ListMirror(a.store, "Sessions")
    mirror.apply(read_changes(a.lists, a.store, ["Sessions"])["Sessions"])
    etag = {i: cast(str, mirror.get(i).etag) for i in (first, second)}  # type: ignore[union-attr]
    written = mirror.write(a.lists, [
        FieldUpdate(first, {"SyncNote": "from the first reading"}, etag[first]),
        FieldUpdate(second, {"SyncNote": "ours"}, etag[second]),
        FieldUpdate(first, {"Title": "Being included (moved)", "SyncNote": "from the second"}, etag[first])])
    assert (written.written, written.conflicted) == (2, set())
    fields = sp.get_item(site, "Sessions", first)[1].fields
    assert (fields["Title"], fields["SyncNote"]) == ("Being included (moved)", "from the second")
    assert mirror.get(first).fields["SyncNote"] == "from the second"  # type: ignore[union-attr]
    now = cast(str, mirror.get(second).etag)  # type: ignore[union-attr]
    again = mirror.write(a.lists, [FieldUpdate(second, {"SyncNote": "from an old reading"}, etag[second]),
                                   FieldUpdate(second, {"Title": "from the new one"}, now)])
    assert (again.written, again.conflicted) == (0, {second})
    assert sp.get_item(site, "Sessions", second)[1].fields["SyncNote"] == "ours"


class CountingPuts:
    """A store that counts the mirror writes that carry items."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self.puts = 0
        self.mirror = Hooked(store.mirror, put=self._put)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _put(self, items: Any) -> None:
        items = list(items)
        self.puts += bool(items)
        self._store.mirror.put(items)


def test_items_changed_meanwhile_are_read_again_together_and_mirrored_in_one_write(
        runners: tuple[Services, Services, Services], emulator: EmulatorServer) -> None:
    """Issue 24, finding 8: runs at once write the same rows, and most of one run's writes meet 412. The items
    are then read again in one `$batch` and mirrored in one write, not one request and one write an item (on
    Table Storage each write contends with the other runs' for the same entity: one a row made a run give up
    after five lost races and stop)."""
    a, _, _ = runners
    sp, site = emulator.backend.sharepoint, emulator.backend.site.id
    ids = [str(sp.create_item(site, "Sessions", {"Title": f"Session {n}"}).id) for n in range(3)]
    store = CountingPuts(a.store)
    mirror = ListMirror(cast(StateStore, store), "Sessions")
    mirror.apply(read_changes(a.lists, a.store, ["Sessions"])["Sessions"])
    read = {i: mirror.get(i) for i in ids}
    for item_id in ids:
        sp.update_fields(site, "Sessions", item_id, {"Title": "Renamed by another run"})
    store.puts, before = 0, a.graph.stats["requests"]
    written = mirror.write(a.lists, [FieldUpdate(i, {"SyncNote": "ours"}, read[i].etag)  # type: ignore[union-attr]
                                     for i in ids])
    assert (written.written, written.conflicted) == (0, set(ids))
    assert a.graph.stats["requests"] - before == 2  # the writes' `$batch`, then one reading them all again
    assert store.puts == 1
    assert {mirror.get(i).fields["Title"] for i in ids} == {"Renamed by another run"}  # type: ignore[union-attr]
