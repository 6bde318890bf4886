"""`python -m coprod rehearse` against the emulator over HTTPS: every assumption held, every list left as it was
found, a withdrawn permission named with its fix (and still everything removed), an interrupted rehearsal cleaned
up by itself or, when interrupted again while it removed, by the next one; and no run works meanwhile."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import coprod.rehearse
from config import load_settings
from coprod.cli import main
from coprod.links import Signer
from coprod.realtime.webhooks import receive
from coprod.rehearse import MARK, rehearse
from coprod.rehearse._made import RECORD
from coprod.rehearse._made import remove as remove_all
from coprod.running.lease import LEASE
from coprod.runtime import Services
from coprod.store import SqliteStore
from graph_emulator import EmulatorServer
from graph_emulator.core.faults import FaultRule
from graph_emulator.core.permissions import ALL_ROLES
from graph_emulator.testing import BackgroundServer
from tests.conftest import SIGNING_KEY

ADMINS = "coproduction-admins@council.example.org"


def endpoint(store: SqliteStore) -> Starlette:
    """The service's answer to Graph at /api/notifications (coprod.realtime.webhooks.receive, as the function app gives
    it), and /api/health; no consumer, so no run starts behind the test's back."""
    signer = Signer(SIGNING_KEY)

    async def notifications(request: Request) -> Response:
        got = receive(dict(request.query_params), await request.body(), store, signer, time.time())
        return Response(got.body, status_code=got.status, media_type=got.content_type)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/api/notifications", notifications, methods=["POST"]),
                             Route("/api/health", health)])


@dataclass
class Tenant:
    emulator: EmulatorServer
    env: dict[str, str]

    @property
    def backend(self) -> Any:
        return self.emulator.backend

    def lists(self) -> dict[str, dict[int, tuple[int, dict[str, Any]]]]:
        """Every item of every list: its version and its fields."""
        return {lst.display_name: {i: (item.version, dict(item.fields)) for i, item in lst.items.items()}
                for lst in self.backend.site.lists.values()}

    def meetings(self) -> list[str]:
        return [m.id for m in self.backend.meetings.for_organizer(self.backend.organizer.id)]

    def subscriptions(self) -> set[str]:
        return {s.id for s in self.backend.subscriptions.live()}

    def sent_to(self) -> list[tuple[str, ...]]:
        return [tuple(m.to) for m in self.backend.mail.sent(self.backend.sender)]

    def checkpoint(self, name: str, value: str | None = None) -> str | None:
        store = SqliteStore(self.env["COPROD_STATE"].removeprefix("sqlite:///"))
        try:
            if value is not None:
                store.checkpoints.set(name, value)
            return store.checkpoints.get(name)
        finally:
            store.close()

    def services(self) -> Services:
        return Services.open(load_settings(self.env))


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, env: dict[str, str]) -> Iterator[Tenant]:
    """A programme as a council has it after deploying: lists provisioned, a session and a booking synced, the
    lists subscribed to through the service's endpoint (on loopback), an admin address set."""
    store = SqliteStore(env["COPROD_STATE"].removeprefix("sqlite:///"))
    with BackgroundServer(endpoint(store), name="endpoint") as server:
        env = env | {"COPROD_ADMIN_EMAIL": ADMINS, "COPROD_PUBLIC_URL": server.url}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(["provision"]) == 0
        sp, site = emulator.backend.sharepoint, emulator.backend.site.id
        session = sp.create_item(site, "Sessions", {"Title": "Carers' drop-in", "Status": "Open", "Capacity": 5,
                                                    "StartTime": "2030-01-01T10:00:00Z",
                                                    "EndTime": "2030-01-01T11:00:00Z"})
        sp.create_item(site, "Registrations", {"Title": "Ann", "Email": "ann@example.org", "Consent": True,
                                               "SessionLookupId": str(session.id)})
        assert main(["sync", "--once"]) == 0
        assert main(["subscribe"]) == 0
        yield Tenant(emulator, env)
    store.close()


def rehearsed(capsys: pytest.CaptureFixture[str], code: int) -> list[str]:
    capsys.readouterr()
    assert main(["rehearse"]) == code
    return capsys.readouterr().out.splitlines()


def test_every_assumption_holds_and_every_list_is_left_as_it_was(tenant: Tenant,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    before = (tenant.lists(), tenant.meetings(), tenant.subscriptions())
    sent = len(tenant.sent_to())
    tenant.backend.log.clear()
    out = rehearsed(capsys, 0)
    assert out[0].startswith("Rehearsing in tenant ")
    assert [line.split(":")[0] for line in out[1:] if not line.startswith("    ")] == [
        "✓ Leftovers of an earlier rehearsal", "✓ Throwaway session and booking", "✓ Change feed with fields",
        "✓ Change feed without fields", "✓ Teams meeting made", "✓ Teams meeting found again by its externalId",
        "✓ Writing an item, and the eTag its answer carries", "✓ Writing on an out-of-date eTag",
        "✓ A saved change link", "✓ Teams meeting updated", "✓ Teams meeting locked", "✓ Attendance report",
        "✓ Email to COPROD_ADMIN_EMAIL", "✓ Change notifications", "✓ Removing what it made",
        "All 13 assumptions held."]
    assert "the answer carried @odata.etag" in "\n".join(out)
    # every list as it was found: the same items at the same versions, and the meeting and subscription gone
    assert (tenant.lists(), tenant.meetings(), tenant.subscriptions()) == before
    assert tenant.sent_to()[sent:] == [(ADMINS,)]  # one email, to the admins alone
    made = tenant.backend.log.counts()
    items = "/sites/{site}/lists/{list}/items"
    assert made[f"POST {items}"] == made[f"DELETE {items}/{{item}}"] == 2
    assert made["POST /users/{user}/onlineMeetings/createOrGet"] == 2  # made, then found again
    assert made["DELETE /users/{user}/onlineMeetings/{meeting}"] == 1
    assert made["POST /subscriptions"] == made["DELETE /subscriptions/{subscription}"] == 1
    assert not tenant.checkpoint(RECORD)  # nothing recorded as left
    # the run after it finds nothing to do: the rehearsal's items came and went before it looked
    capsys.readouterr()
    assert main(["sync", "--once"]) == 0
    assert "0 rows updated" in capsys.readouterr().out
    assert tenant.lists() == before[0] and tenant.sent_to()[sent:] == [(ADMINS,)]


def test_an_answer_without_its_etag_is_held_too(tenant: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    tenant.backend.tenant.write_answers_etag = False
    out = "\n".join(rehearsed(capsys, 0))
    assert "✓ Writing an item, and the eTag its answer carries: held: the answer carried no @odata.etag; the next " \
           "version of the eTag written on" in out


@pytest.mark.parametrize(("withdrawn", "line", "fix"), [
    ("OnlineMeetingArtifact.Read.All", "✗ Attendance report: refused (403", "OnlineMeetingArtifact.Read.All"),
    ("Mail.ReadBasic.All", "✗ Email to COPROD_ADMIN_EMAIL: refused (403", "Mail.ReadBasic.All"),
    ("Mail.Send", "✗ Email to COPROD_ADMIN_EMAIL: refused (403", "Mail.Send"),
    ("OnlineMeetings.ReadWrite.All", "✗ Teams meeting made: refused (403", "OnlineMeetings.ReadWrite.All"),
    ("Teams policy", "✗ Teams meeting made: refused (403 General", "New-CsApplicationAccessPolicy"),
])
def test_a_withdrawn_permission_is_named_with_its_fix_and_everything_is_still_removed(
        tenant: Tenant, capsys: pytest.CaptureFixture[str], withdrawn: str, line: str, fix: str) -> None:
    before = (tenant.lists(), tenant.meetings(), tenant.subscriptions())
    if withdrawn == "Teams policy":
        tenant.backend.tenant.teams_policy = False
    else:
        tenant.backend.identity.set_roles(set(ALL_ROLES) - {withdrawn} - (  # (Mail.Read includes ReadBasic)
            {"Mail.Read"} if withdrawn == "Mail.ReadBasic.All" else set()))
    out = rehearsed(capsys, 1)
    [crossed] = [n for n, text in enumerate(out) if text.startswith(line)]
    assert out[crossed + 1].startswith("    Fix: ") and fix in out[crossed + 1]
    assert [text for text in out if text.startswith("✗")] == [out[crossed]]  # the rest held
    assert "✓ Removing what it made: removed " in "\n".join(out)
    assert out[-1].startswith("1 of ") and "assumptions did not hold" in out[-1]
    assert (tenant.lists(), tenant.meetings(), tenant.subscriptions()) == before
    assert not tenant.checkpoint(RECORD)


def test_no_admin_address_means_no_email_and_says_what_to_set(tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("COPROD_ADMIN_EMAIL")
    sent = len(tenant.sent_to())
    out = rehearsed(capsys, 1)
    [crossed] = [text for text in out if text.startswith("✗")]
    assert crossed.startswith("✗ Email to COPROD_ADMIN_EMAIL: not tried: COPROD_ADMIN_EMAIL is not set")
    assert len(tenant.sent_to()) == sent


def test_a_public_url_out_of_reach_is_skipped_not_failed(tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    closed = BackgroundServer(PlainTextResponse("never served"))  # a port bound, and nothing answering on it
    monkeypatch.setenv("COPROD_PUBLIC_URL", closed.url)
    try:
        out = rehearsed(capsys, 0)
    finally:
        closed._socket.close()
    assert any(text.startswith("– Change notifications: skipped: not reachable: http://127.0.0.1:") for text in out)
    assert out[-1] == "All 12 assumptions held (1 not tried: see the lines marked –)."


def test_interrupted_midway_it_removes_what_it_made(tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = (tenant.lists(), tenant.meetings(), tenant.subscriptions())

    def ctrl_c(scene: Any) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(coprod.rehearse._teams, "attendance", ctrl_c)
    out = rehearsed(capsys, 130)
    assert "✗ Rehearsal: interrupted: what it made is removed now" in out
    assert out[-1] == ("✓ Removing what it made: removed 1 Teams meeting, 1 booking and 1 session; nothing it made "
                       "is left")
    assert (tenant.lists(), tenant.meetings(), tenant.subscriptions()) == before
    assert not tenant.checkpoint(RECORD)


def test_interrupted_again_while_removing_the_next_rehearsal_removes_the_leftovers(
        tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl+C once the subscription is made, and again while it removes: the session, booking, meeting and
    subscription stay, recorded; the next rehearsal removes them first, then rehearses."""
    before = (tenant.lists(), tenant.meetings(), tenant.subscriptions())
    presses: list[str] = []

    def ctrl_c_after_subscribing(store: Any) -> dict[str, Any]:
        presses.append("subscribed")
        raise KeyboardInterrupt

    def ctrl_c_while_removing(services: Any, made: Any) -> Any:
        if presses == ["subscribed"]:
            presses.append("removing")
            raise KeyboardInterrupt
        return remove_all(services, made)

    monkeypatch.setattr(coprod.rehearse._notify, "known", ctrl_c_after_subscribing)
    monkeypatch.setattr("coprod.rehearse.remove", ctrl_c_while_removing)
    rehearsed(capsys, 130)
    assert presses == ["subscribed", "removing"]
    left = tenant.lists()
    assert [f["Title"] for _, f in left["Sessions"].values() if f["Title"].startswith(MARK)] != []
    assert len(tenant.meetings()) == len(before[1]) + 1 and len(tenant.subscriptions()) == len(before[2]) + 1
    assert tenant.checkpoint(RECORD)
    monkeypatch.setattr(coprod.rehearse._notify, "known", lambda store: {})
    out = rehearsed(capsys, 0)
    assert out[1] == ("✓ Leftovers of an earlier rehearsal: removed 1 change subscription, 1 Teams meeting, "
                      "1 booking and 1 session")
    assert (tenant.lists(), tenant.meetings(), tenant.subscriptions()) == before
    assert not tenant.checkpoint(RECORD)


def test_what_a_fault_left_is_found_by_its_marks_alone(tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting list items fails (503, not retried here), and the record in the store is lost too (another store,
    say): the next rehearsal finds the items by their title and the meeting by the MeetingId on the session."""
    before = (tenant.lists(), tenant.meetings(), tenant.subscriptions())
    monkeypatch.setenv("COPROD_GRAPH_MAX_ATTEMPTS", "1")
    tenant.backend.faults.add(FaultRule(status=503, method="DELETE", path=r"/items/\d+$"))
    out = rehearsed(capsys, 1)
    assert out[-3].startswith("✗ Removing what it made: removed 1 Teams meeting; still "
                              "there: booking ")
    assert out[-1] == "All 13 assumptions held. Not everything it made could be removed: see above."
    tenant.backend.faults.clear()
    tenant.checkpoint(RECORD, "")
    meeting = [m for m in tenant.backend.meetings.for_organizer(tenant.backend.organizer.id, include_deleted=True)
               if m.id not in before[1]]
    assert len(meeting) == 1 and meeting[0].deleted  # (removed, and then named again on the session)
    out = rehearsed(capsys, 0)
    assert out[1] == "✓ Leftovers of an earlier rehearsal: removed 1 Teams meeting, 1 booking and 1 session"
    assert (tenant.lists(), tenant.meetings(), tenant.subscriptions()) == before


def test_no_run_works_and_no_page_shows_the_session_while_it_rehearses(
        tenant: Tenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from coprod.pages.app import create_web_app
    from coprod.run import run_held
    from graph_emulator.testing import AsgiTransport

    seen: dict[str, Any] = {}
    attendance = coprod.rehearse._teams.attendance

    def meanwhile(scene: Any) -> str:
        with tenant.services() as services:
            seen["run"] = run_held(services).busy
            context = services.web_context()
            with httpx.Client(transport=AsgiTransport(create_web_app(lambda: context)),
                              base_url="http://127.0.0.1/api/pages") as web:
                seen["timetable"] = web.get("/sessions").text
                seen["page"] = web.get(f"/sessions/{scene.facts['session'].id}").status_code
        return attendance(scene)

    monkeypatch.setattr(coprod.rehearse._teams, "attendance", meanwhile)
    rehearsed(capsys, 0)
    assert seen["run"].startswith("Another run is working (held by rehearse:")
    assert "drop-in" in seen["timetable"] and "REHEARSAL" not in seen["timetable"]  # the real one, not ours
    assert seen["page"] == 404


def test_a_run_under_way_is_waited_for_then_not_rehearsed(tenant: Tenant) -> None:
    from coprod.running.lease import RunLease

    with tenant.services() as services, RunLease(services.store, holder="a-run") as other:
        assert other.held
        tenant.backend.log.clear()
        report = rehearse(services, lease_wait=0)
    assert [line.lines()[0] for line in report.found] == [
        "✗ Run lease: Another run is working (held by a-run since " + report.found[0].said.split(" since ")[1]]
    assert report.summary() == "Nothing was rehearsed."
    assert tenant.backend.log.counts().get("POST /sites/{site}/lists/{list}/items") is None


def test_in_azure_it_is_an_admin_call_that_answers_in_time(tenant: Tenant) -> None:
    """POST /api/rehearse, as the function app's own identity: the same lines, 200 when every assumption held, and
    no waiting for a run (a run that holds the lease is said, not waited for: 230 s is all an HTTP call gets)."""
    from functions.admin import rehearse

    before = tenant.lists()
    answer = rehearse.build().get_user_function()(func.HttpRequest("POST", "/api/rehearse", body=b""))
    lines = answer.get_body().decode().splitlines()
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert lines[-1] == "All 13 assumptions held." and tenant.lists() == before
    with tenant.services() as services:
        services.store.leases.acquire(LEASE, "host-1:99:abc", 120)
        busy = rehearse.build().get_user_function()(func.HttpRequest("POST", "/api/rehearse", body=b""))
    assert busy.status_code == 503 and "✗ Run lease" in busy.get_body().decode()
    assert tenant.lists() == before
