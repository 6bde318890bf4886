"""Property: whatever people (or a bad import) put in the lists, a run never crashes and decides every item."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coprod.state import SqliteStore
from graph_client import SharePointLists
from graph_emulator import EmulatorServer
from tests.programme import Programme

odd_text = st.one_of(
    st.text(max_size=40),
    st.just("<script>alert('x')</script><b>bold</b>"),
    st.just("😀🙂 émoji ünïcode ＦＵＬＬＷＩＤＴＨ"),
    st.just("\x00\x07\x1b[31m control \r\n characters"),
    st.just("x" * 100_000),
)
odd_value = st.one_of(
    st.none(), odd_text, st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
emails = st.one_of(odd_value, st.sampled_from(["ann@example.org", " ANN@example.org", "bob@example.com"]))
session_refs = st.one_of(odd_value, st.sampled_from(["1", "2", "3", "999", "0", "-1", "1.5"]))
registration = st.fixed_dictionaries({
    "Title": st.one_of(odd_value, st.just("Ann Example")),
    "Email": emails,
    "SessionLookupId": session_refs,
    "Consent": st.one_of(odd_value, st.just(True)),
    "JoinMailingList": odd_value,
    "WantsSiteAccess": odd_value,
    "AccessNeeds": odd_value,
    "Status": st.one_of(st.none(), st.sampled_from(["Confirmed", "Waitlisted", "NeedsAttention", "Bogus"]),
                        odd_value),
})
session = st.fixed_dictionaries({
    "Title": odd_value,
    "Capacity": st.one_of(odd_value, st.integers(0, 3)),
    "Status": st.one_of(st.sampled_from(["Open", "Draft", "Cancelled"]), odd_value),
    "StartTime": st.one_of(odd_value, st.just("2030-01-01T10:00:00Z")),
    "EndTime": st.one_of(odd_value, st.just("2030-01-01T11:00:00Z")),
})


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sessions=st.lists(session, min_size=0, max_size=3), registrations=st.lists(registration, max_size=8))
def test_any_field_values_end_confirmed_waitlisted_or_needing_attention(
        emulator_server: EmulatorServer, lists_factory: Any, tmp_path_factory: pytest.TempPathFactory,
        sessions: list[dict[str, Any]], registrations: list[dict[str, Any]]) -> None:
    emulator_server.backend.reset()
    lists, close = lists_factory()
    store = SqliteStore(tmp_path_factory.mktemp("fuzz") / "state.sqlite3")
    try:
        programme = Programme(emulator_server, lists, store)
        for fields in sessions:
            programme.backend.sharepoint.create_item(programme.site, "Sessions", fields, check=False)
        ids = [programme.register(None, check=False, **fields) for fields in registrations]
        programme.sync()
        programme.sync()
        for item_id, fields in zip(ids, registrations, strict=True):
            assert programme.status(item_id) in ("Confirmed", "Waitlisted", "NeedsAttention"), fields
            assert programme.note(item_id)
    finally:
        store.close()
        close()


@pytest.fixture
def lists_factory(emulator_server: EmulatorServer) -> Any:
    """Lists bound to the current (freshly reset) tenant of the shared emulator."""
    from config import load_settings
    from graph_client import GraphClient
    from tests.conftest import SIGNING_KEY

    def make() -> tuple[SharePointLists, Any]:
        settings = load_settings(emulator_server.env() | {"COPROD_SIGNING_KEY": SIGNING_KEY})
        client = GraphClient.from_settings(settings)
        return SharePointLists(client, settings.site_id), client.close

    return make
