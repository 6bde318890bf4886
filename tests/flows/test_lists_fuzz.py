"""Property: whatever people (or a bad import) put in any of the five lists, a whole run never stops, every item
it can decide is decided with a note, and every email goes to exactly one plain address.

Values are what a SharePoint list can hold and worse: any Unicode, control characters and line separators, huge
text, dates in year 9999 or 0001, numbers as text, text as numbers, lists and objects where a string belongs.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coprod.guests.rules import FINAL
from coprod.lists.fields import as_bool, normalise_email
from coprod.run import run_once
from graph_emulator import EmulatorServer
from tests.conftest import SIGNING_KEY
from tests.support.fakes import FakeClock
from tests.support.programme import Programme

odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from([
        "<script>alert('x')</script><b>bold</b>", "😀🙂 émoji ünïcode ＦＵＬＬＷＩＤＴＨ",
        "\x00\x07\x1b[31m control \r\n characters", "line\u2028sep\u2029para\x85next", "\u202eevil\u202c",
        "José <attacker@evil.example>", "Zoë: a@x.example, b@y.example;", "=?utf-8?q?x=40y?=", "x" * 100_000,
    ]),
)
odd_value = st.one_of(
    st.none(), odd_text, st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
dates = st.one_of(odd_value, st.sampled_from([
    "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z", "9999-12-31T10:00:00Z", "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z", "2030-02-30T10:00:00Z", "2030-01-01", "yesterday"]))
emails = st.one_of(odd_value, st.sampled_from([
    "ann@example.org", " ANN@example.org", "bob@example.com", "josé@example.org", "a@bücher.de",
    "ann@example.org\nBcc: x@evil.example", "a@b>, c@d", "carer@partner.example.org"]))
yes_no = st.one_of(odd_value, st.sampled_from([True, False, "yes", "Yes", "no", "1", "0"]))
session = st.fixed_dictionaries({
    "Title": odd_value, "Capacity": st.one_of(odd_value, st.integers(0, 3), st.sampled_from(["2", "10"])),
    "Status": st.one_of(st.sampled_from(["Open", "Draft", "Cancelled"]), odd_value),
    "StartTime": dates, "EndTime": dates, "Facilitators": st.one_of(odd_value, emails),
})
registration = st.fixed_dictionaries({
    "Title": st.one_of(odd_value, st.just("Ann Example")), "Email": emails,
    "SessionLookupId": st.one_of(odd_value, st.sampled_from(["1", "2", "3", "999", "0", "-1", "1.5"])),
    "Consent": yes_no, "JoinMailingList": yes_no, "WantsSiteAccess": yes_no, "Cancel": yes_no,
    "AccessNeeds": odd_value,
    "Status": st.one_of(st.none(), st.sampled_from(["Confirmed", "Waitlisted", "NeedsAttention", "Bogus"]), odd_value),
})
guest_request = st.fixed_dictionaries({
    "Title": odd_value, "Email": emails, "Organisation": odd_value,
    "Decision": st.one_of(st.sampled_from(["Pending", "Approved", "Rejected"]), odd_value),
    "Status": st.one_of(st.none(), odd_value),
})
subscriber = st.fixed_dictionaries({
    "Title": odd_value, "Email": emails, "Topics": st.one_of(odd_value, st.just(["Carers", "Nonsense"])),
    "Status": st.one_of(st.none(), st.sampled_from(["Pending", "Subscribed", "Unsubscribed"]), odd_value),
    "ConfirmedAt": dates,
})
update = st.fixed_dictionaries({
    "Title": odd_value, "Body": st.one_of(odd_value, st.just("**Hello** [x](javascript:alert(1))")),
    "Ready": yes_no, "SendAt": st.one_of(st.none(), dates), "Topics": st.one_of(odd_value, st.just(["Carers"])),
    "Status": st.one_of(st.none(), odd_value),
})
ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sessions=st.lists(session, max_size=3), registrations=st.lists(registration, max_size=6),
       guests=st.lists(guest_request, max_size=3), subscribers=st.lists(subscriber, max_size=3),
       updates=st.lists(update, max_size=2))
def test_any_values_in_any_list_never_stop_a_run_and_every_item_is_decided(
        emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory, sessions: list[dict[str, Any]],
        registrations: list[dict[str, Any]], guests: list[dict[str, Any]], subscribers: list[dict[str, Any]],
        updates: list[dict[str, Any]]) -> None:
    backend = emulator_server.backend
    backend.reset()
    state = tmp_path_factory.mktemp("fuzz") / "state.sqlite3"
    env = emulator_server.env() | {"COPROD_SIGNING_KEY": SIGNING_KEY, "COPROD_STATE": f"sqlite:///{state}",
                                   "COPROD_GUEST_AUTO_APPROVE_DOMAINS": "partner.example.org",
                                   "COPROD_ADMIN_EMAIL": "team@council.example.org"}
    clock = FakeClock.real()
    with Programme.open(emulator_server, env, clock) as programme:
        services, site, sp = programme.services, programme.site, backend.sharepoint
        rows: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for name, values in (("Sessions", sessions), ("Registrations", registrations), ("GuestRequests", guests),
                             ("Subscribers", subscribers), ("Updates", updates)):
            rows[name] = [(str(sp.create_item(site, name, fields, check=False).id), fields) for fields in values]
        lines = run_once(services, drain_seconds=30) + run_once(services, drain_seconds=30)
    assert not [line for line in lines if "stopped" in line], lines

    def now(name: str, item_id: str) -> dict[str, Any]:
        return dict(sp.get_item(site, name, item_id)[1].fields)

    for item_id, fields in rows["Registrations"]:
        after = now("Registrations", item_id)
        assert after.get("Status") in ("Confirmed", "Waitlisted", "NeedsAttention", "Cancelled"), fields
        assert after.get("StatusNote"), fields
    for item_id, fields in rows["GuestRequests"]:
        after = now("GuestRequests", item_id)
        if fields.get("Status") not in FINAL:
            assert after.get("Status") in ("AwaitingDecision", "Invited", "AlreadyMember", "Rejected", "Failed"), fields
            assert after.get("StatusNote"), fields
    for item_id, fields in rows["Subscribers"]:
        if normalise_email(fields.get("Email")) is not None:
            assert now("Subscribers", item_id).get("Status") in ("Pending", "Subscribed", "Unsubscribed"), fields
    for item_id, fields in rows["Updates"]:
        if as_bool(fields.get("Ready")) and fields.get("Status") not in ("Sent", "Failed"):
            assert now("Updates", item_id).get("Status") in ("Scheduled", "Sending", "Sent", "Failed"), fields
    typed = [f.get("Email") for name in ("Registrations", "GuestRequests", "Subscribers") for _, f in rows[name]]
    typed += [part for _, f in rows["Sessions"] if isinstance(f.get("Facilitators"), str)
              for part in re.split(r"[,;\s]+", f["Facilitators"])]
    people = {normalise_email(value) for value in typed} | {"team@council.example.org"}
    for message in backend.mail.sent(backend.sender):
        assert message.to and all(ADDRESS.fullmatch(a) and a.isascii() for a in message.to), message.to
        assert set(message.to) <= people, message.to  # never anyone a name or a title made up
        assert not message.cc and not message.bcc
        assert "\n" not in message.subject and "\u2028" not in message.subject
