"""Registration sync, end to end: SharePoint lists in the emulator -> the reconciler over HTTPS -> statuses."""

from __future__ import annotations

import pytest

from config import LISTS
from coprod.lists.notes import Notes
from coprod.lists.provision import provision
from coprod.registrations.sync import RegistrationSync
from graph_client import SharePointLists
from graph_emulator import EmulatorServer
from tests.support.programme import Programme


@pytest.fixture
def programme(programme: Programme) -> Programme:
    """Sessions stored as typed, not checked against their columns (as an import can leave them): a capacity of
    "lots" reaches the rules."""
    programme.check_sessions = False
    return programme


class TestProvision:
    def test_creates_the_five_lists_then_changes_nothing(self, emulator: EmulatorServer,
                                                          lists: SharePointLists) -> None:
        first = provision(lists)
        assert first.changes == [f"Created the {s.display_name} list with {len(s.columns)} columns." for s in LISTS]
        assert first.problems == []
        assert provision(lists).lines == []
        registrations = lists.find_list("Registrations")
        assert registrations is not None
        session_column = next(c for c in registrations.columns or [] if c.name == "Session")
        assert session_column.model_extra["lookup"]["listId"] == lists.find_list("Sessions").id  # type: ignore[union-attr,index]

    def test_adds_a_column_an_admin_deleted(self, emulator: EmulatorServer, lists: SharePointLists) -> None:
        provision(lists)
        sessions = next(lst for lst in emulator.backend.site.lists.values() if lst.display_name == "Sessions")
        del sessions.columns["SyncNote"]
        assert provision(lists).lines == ["Added the SyncNote column to the Sessions list."]

    def test_restores_the_choices_the_service_needs_and_keeps_an_admins_own(self, emulator: EmulatorServer,
                                                                             lists: SharePointLists) -> None:
        provision(lists)
        sessions = next(lst for lst in emulator.backend.site.lists.values() if lst.display_name == "Sessions")
        sessions.columns["Theme"]["choice"]["choices"] = ["Having choice", "Carers", "Young carers"]
        assert provision(lists).lines == ["Added the choices Being included, Being healthy, Other to the Theme "
                                          "column of the Sessions list."]
        assert sessions.columns["Theme"]["choice"]["choices"] == [
            "Having choice", "Carers", "Young carers", "Being included", "Being healthy", "Other"]
        assert provision(lists).lines == []


    def test_a_refused_column_costs_that_column_only_and_a_rerun_adds_it(self, emulator: EmulatorServer,
                                                                          lists: SharePointLists) -> None:
        """SharePoint refusing one column (multi-choice ones are reported to) must not block the list."""
        emulator.add_fault(status=400, code="invalidRequest", method="POST", path=r"/lists/[^/]+/columns$", count=1)
        first = provision(lists)
        sessions = LISTS[0]
        assert first.changes[0] == f"Created the Sessions list with {len(sessions.columns) - 1} of its " \
                                   f"{len(sessions.columns)} columns."
        [problem] = first.problems
        refused = sessions.columns[0]["name"]
        assert problem.startswith(f"Could not add the {refused} column to the Sessions list: add column {refused}: "
                                  "HTTP 400 invalidRequest (request-id ")
        assert first.changes[1:] == [f"Created the {s.display_name} list with {len(s.columns)} columns."
                                     for s in LISTS[1:]]
        assert provision(lists).lines == [f"Added the {refused} column to the Sessions list."]

    def test_a_list_that_cannot_be_made_skips_the_lookup_to_it_and_says_so(self, emulator: EmulatorServer,
                                                                            lists: SharePointLists) -> None:
        emulator.add_fault(status=400, code="invalidRequest", method="POST", path=r"/lists$", count=1)
        first = provision(lists)
        assert first.problems[0].startswith("Could not make the Sessions list: create the Sessions list: HTTP 400")
        looking_up = [schema.display_name for schema in LISTS if any("lookup" in c for c in schema.columns)]
        assert first.problems[1:] == [f"Skipped the Session column of the {name} list: it looks up the Sessions "
                                      "list, which could not be made." for name in looking_up]
        assert [line.split(" list")[0] for line in first.changes] == [
            f"Created the {s.display_name}" for s in LISTS[1:]]
        again = provision(lists)
        assert again.lines == [f"Created the Sessions list with {len(LISTS[0].columns)} columns.",
                               *(f"Added the Session column to the {name} list." for name in looking_up)]
        registrations = lists.find_list("Registrations")
        assert registrations is not None
        session_column = next(c for c in registrations.columns or [] if c.name == "Session")
        assert session_column.model_extra["lookup"]["listId"] == lists.find_list("Sessions").id  # type: ignore[union-attr,index]

    def test_without_sites_manage_it_says_in_plain_words_what_to_grant(self, emulator: EmulatorServer,
                                                                       lists: SharePointLists) -> None:
        emulator.backend.identity.set_roles(["Sites.ReadWrite.All"])
        emulator.backend.identity.expire_all()
        report = provision(lists)
        assert report.changes == []
        assert report.problems == [
            "Microsoft 365 would not let the app create the lists and their columns (403 accessDenied): the app's "
            "identity needs the Sites.Manage.All application permission, with admin consent (or, with "
            "Sites.Selected, a manage grant on the site, taken back afterwards: only provisioning needs it); see "
            "https://learn.microsoft.com/graph/api/list-post-columns?view=graph-rest-1.0. Until then, the lists "
            "cannot be created or updated; everything else works on the lists that exist."]


class TestValidation:
    def test_each_problem_gets_a_plain_note_and_the_rest_carries_on(self, programme: Programme) -> None:
        session = programme.session()
        draft = programme.session("Being healthy", Status="Draft")
        good = programme.register(session, "Ann Example")
        bad_email = programme.register(session, "Ben Example", "ben(at)example.org")
        no_consent = programme.register(session, "Cat Example", Consent=False)
        unknown = programme.register("999", "Dan Example")
        no_session = programme.register(None, "Eve Example")
        not_open = programme.register(draft, "Fay Example")
        no_name = programme.register(session, "", "nameless@example.org")
        programme.sync()
        assert programme.status(good) == "Confirmed"
        expected = {
            bad_email: "We couldn't use the email address “ben(at)example.org”. Please check it for typing mistakes.",
            no_consent: "We need your agreement to keep your details before we can book your place. "
                        "Please tick the consent box.",
            unknown: "We couldn't find the session you chose. Please choose one from the list of sessions.",
            no_session: "Please choose the session you'd like to join.",
            not_open: "This session isn't open for booking yet. Your request will be looked at when it opens.",
            no_name: "Please add your name, so we know who is coming.",
        }
        assert {i: (programme.status(i), programme.note(i)) for i in expected} == {
            i: ("NeedsAttention", note) for i, note in expected.items()}

    def test_a_fixed_item_is_booked_on_the_next_run(self, programme: Programme) -> None:
        session = programme.session()
        reg = programme.register(session, "Ben Example", "ben(at)example.org")
        programme.sync()
        programme.edit("Registrations", reg, Email="ben@example.org")
        programme.sync()
        assert programme.status(reg) == "Confirmed"

    def test_duplicates_compare_trimmed_lowercased_normalised_addresses(self, programme: Programme) -> None:
        """A second booking by the same address (any case, spaces, full-width letters) needs attention."""
        session = programme.session()
        first = programme.register(session, "Ann Example", "ann@example.org")
        again = [programme.register(session, "Ann Example", address)
                 for address in ("  ANN@Example.org ", "ａｎｎ@example.org")]
        other_session = programme.register(programme.session("Being included"), "Ann Example", "ann@example.org")
        programme.sync()
        assert programme.statuses(first, *again, other_session) == ["Confirmed", "NeedsAttention", "NeedsAttention",
                                                                    "Confirmed"]
        # the note names no internal id: the person knows their own booking, an id means nothing to them
        assert programme.note(again[0]) == ("You're already registered for this session, so we haven't booked a "
                                            "second place.")


class TestCapacity:
    def test_places_go_in_order_of_registration_and_the_rest_wait_numbered(self, programme: Programme) -> None:
        session = programme.session(capacity=2)
        regs = [programme.register(session, f"Person {n}") for n in range(5)]
        programme.sync()
        assert programme.statuses(*regs) == ["Confirmed", "Confirmed", "Waitlisted", "Waitlisted", "Waitlisted"]
        assert programme.note(regs[3]) == ("This session is full, so you're on the waiting list. We'll email you if "
                                           "a place comes up.")

    def test_zero_places_means_no_limit(self, programme: Programme) -> None:
        session = programme.session(capacity=0)
        regs = [programme.register(session, f"Person {n}") for n in range(30)]
        programme.sync()
        assert set(programme.statuses(*regs)) == {"Confirmed"}

    @pytest.mark.parametrize("how", ["participant ticks Cancel", "admin sets Cancelled", "item deleted"])
    def test_a_cancellation_frees_the_place_for_the_first_waiting(self, programme: Programme, how: str) -> None:
        session = programme.session(capacity=2)
        a, b, c, d = (programme.register(session, f"Person {n}") for n in range(4))
        programme.sync()
        if how == "participant ticks Cancel":
            programme.edit("Registrations", a, Cancel=True)
        elif how == "admin sets Cancelled":
            programme.edit("Registrations", a, Status="Cancelled", StatusNote="Cancelled by phone with the team.")
        else:
            programme.delete("Registrations", a)
        programme.sync()
        assert programme.statuses(b, c, d) == ["Confirmed", "Confirmed", "Waitlisted"]
        assert programme.note(d) == Notes.WAITLISTED
        if how == "admin sets Cancelled":
            assert programme.note(a) == "Cancelled by phone with the team."  # the admin's note is kept
        assert [p["registration"] for p in programme.due("message") if p["kind"] == "promoted"] == [c]

    def test_raising_capacity_promotes_in_order(self, programme: Programme) -> None:
        session = programme.session(capacity=1)
        regs = [programme.register(session, f"Person {n}") for n in range(4)]
        programme.sync()
        programme.edit("Sessions", session, Capacity=3)
        programme.sync()
        assert programme.statuses(*regs) == ["Confirmed", "Confirmed", "Confirmed", "Waitlisted"]

    def test_lowering_capacity_moves_nobody_and_tells_the_team(self, programme: Programme) -> None:
        session = programme.session(capacity=3)
        regs = [programme.register(session, f"Person {n}") for n in range(3)]
        programme.sync()
        programme.edit("Sessions", session, Capacity=1)
        programme.sync()
        assert set(programme.statuses(*regs)) == {"Confirmed"}
        assert programme.fields(session, "Sessions")["SyncNote"].startswith("3 people are confirmed but there are "
                                                                              "only 1 places.")

    def test_a_cancelled_session_cancels_its_registrations(self, programme: Programme) -> None:
        session = programme.session(capacity=1)
        a, b = programme.register(session, "Person A"), programme.register(session, "Person B")
        programme.sync()
        programme.edit("Sessions", session, Status="Cancelled")
        programme.sync()
        assert programme.statuses(a, b) == ["Cancelled", "Cancelled"]
        assert programme.note(a) == "This session has been cancelled. We're sorry. We'll let you know about other " \
                                    "sessions."
        assert sorted(p["registration"] for p in programme.due("message") if p["kind"] == "cancelled") == [a, b]

    def test_unreadable_capacity_confirms_nobody_new_and_says_why(self, programme: Programme) -> None:
        session = programme.session(capacity="lots")
        reg = programme.register(session, "Person A")
        programme.sync()
        assert programme.status(reg) == "Waitlisted"
        assert "Places must be a whole number" in programme.fields(session, "Sessions")["SyncNote"]


class TestWriteBack:
    def test_a_second_sync_with_no_changes_writes_nothing_in_at_most_3_requests(self, programme: Programme) -> None:
        session = programme.session(capacity=3)
        for n in range(10):
            programme.register(session, f"Person {n}")
        programme.sync()
        before = programme.lists.client.stats["requests"]
        programme.backend.log.clear()
        report = programme.sync()
        assert report.writes == 0
        assert programme.lists.client.stats["requests"] - before <= 3
        # delta hands back our own writes of the first run; they are recognised, not counted as people's changes
        assert (report.registrations_read, report.own_writes_seen) == (0, 10)
        assert report.line().startswith("Registrations: nothing new in the lists; no changes")
        served = programme.backend.log.snapshot()
        assert [e.operation for e in served if not e.in_batch] == ["POST /$batch"]  # both lists read in one request
        assert {e.method for e in served if e.in_batch} == {"GET"}  # and nothing written

    def test_only_changed_columns_are_written(self, programme: Programme) -> None:
        session = programme.session(capacity=1)
        a, b = programme.register(session, "Person A"), programme.register(session, "Person B")
        programme.sync()
        programme.edit("Registrations", a, Cancel=True)
        programme.backend.log.clear()
        programme.sync()
        patched = [e for e in programme.backend.log.snapshot() if e.method == "PATCH"]
        assert sorted(e.path.split("/")[-2] for e in patched) == sorted([a, b])

    def test_an_item_changed_meanwhile_is_read_again_not_overwritten(self, programme: Programme) -> None:
        """Between our read and our write an officer edits the item: their edit survives, ours follows."""
        session = programme.session()
        reg = programme.register(session, "Person A")
        real_update = programme.lists.update_fields

        def officer_edits_first(*args, **kwargs):  # type: ignore[no-untyped-def]
            programme.edit("Registrations", reg, AccessNeeds="Needs a BSL interpreter")
            programme.lists.update_fields = real_update  # type: ignore[method-assign]
            return real_update(*args, **kwargs)

        programme.lists.update_fields = officer_edits_first  # type: ignore[method-assign]
        report = programme.sync()
        assert report.conflicts == 1
        assert (programme.status(reg), programme.fields(reg)["AccessNeeds"]) == ("Confirmed",
                                                                                  "Needs a BSL interpreter")


class TestHandOffs:
    def test_messages_guest_requests_and_subscribers_are_recorded_once(self, programme: Programme) -> None:
        session = programme.session(capacity=1)
        a = programme.register(session, "Person A", WantsSiteAccess=True, JoinMailingList=True)
        b = programme.register(session, "Person B")
        bad = programme.register(session, "Person C", "not-an-address", WantsSiteAccess=True)
        programme.sync()
        programme.sync()
        assert sorted((p["kind"], p["registration"]) for p in programme.due("message")) == [
            ("confirmed", a), ("waitlisted", b)]
        assert [(p["email"], p["registration"]) for p in programme.due("guest-request")] == [
            ("person.a@example.org", a)]
        assert [p["email"] for p in programme.due("subscriber")] == ["person.a@example.org"]
        assert bad not in {p["registration"] for p in programme.due("guest-request")}


class TestRobustness:
    def test_a_crash_after_writing_and_before_saving_the_delta_link_repeats_nothing(
            self, programme: Programme) -> None:
        session = programme.session(capacity=1)
        regs = [programme.register(session, f"Person {n}") for n in range(3)]
        sync = RegistrationSync(programme.lists, programme.store)
        real = programme.store.checkpoints.set

        def crash(name: str, value: str) -> None:
            raise KeyboardInterrupt("the host stopped the function")

        programme.store.checkpoints.set = crash  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            sync.run()
        programme.store.checkpoints.set = real  # type: ignore[method-assign]
        report = sync.run()
        assert report.writes == 0
        assert programme.statuses(*regs) == ["Confirmed", "Waitlisted", "Waitlisted"]
        assert len(programme.due("message")) == 3

    def test_a_crash_after_reading_and_before_writing_leaves_the_change_to_be_read_again(
            self, programme: Programme) -> None:
        """Killed between reading a change and acting on it: the next run must not take it for nothing new."""
        session = programme.session(capacity=1)
        first = programme.register(session, "Person A")
        programme.sync()
        late = [programme.register(session, "Person B"), programme.register(session, "Person C")]
        sync = RegistrationSync(programme.lists, programme.store)

        def crash(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt("the host stopped the function")

        real, programme.lists.update_fields = programme.lists.update_fields, crash  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            sync.run()
        programme.lists.update_fields = real  # type: ignore[method-assign]
        RegistrationSync(programme.lists, programme.store).run()  # a new instance, as after a restart
        assert programme.statuses(first, *late) == ["Confirmed", "Waitlisted", "Waitlisted"]
        assert len(programme.due("message")) == 3

    def test_graph_failing_mid_run_leaves_the_delta_link_so_nothing_is_lost(self, programme: Programme) -> None:
        session = programme.session()
        reg = programme.register(session, "Person A")
        programme.lists.client.policy = type(programme.lists.client.policy)(max_attempts=2, max_wait=5)
        programme.emulator.add_fault(status=503, rate=1.0, retry_after=0, path=r"^/\$batch")
        with pytest.raises(Exception, match="HTTP 503"):
            programme.sync()
        programme.backend.faults.clear()
        programme.sync()
        assert programme.status(reg) == "Confirmed"

    def test_when_graph_forgets_the_delta_link_a_full_read_catches_deletions(self, programme: Programme) -> None:
        session = programme.session(capacity=1)
        a, b = programme.register(session, "Person A"), programme.register(session, "Person B")
        programme.sync()
        programme.delete("Registrations", a)
        programme.backend.sharepoint.expire_delta_links(programme.site)  # Graph answers 410 to the old links
        report = programme.sync()
        assert report.full_read
        assert programme.status(b) == "Confirmed"
