"""`python -m coprod serve` behaves as the function app does: besides the pages and the notifications, the sync
runs on the timer's schedule (COPROD_SYNC_SCHEDULE), so a booking and a cancellation made on the pages are acted
on with no `sync` command. And the officer's commands that only read the store need only the store's settings."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

import httpx
import pytest

from config import load_settings
from coprod.cli import main
from coprod.lists.provision import provision
from coprod.pages.app import create_web_app
from coprod.runtime import Services, web_context
from coprod.serve import SyncTimer, sync_interval
from graph_emulator import EmulatorServer
from graph_emulator.testing import AsgiTransport
from tests.support.programme import soon

GOOD = {"name": "Ann Example", "email": "ann.example@example.org", "role": "Carer", "phone": "", "consent": "yes",
        "access_needs": "", "join_mailing_list": "", "wants_site_access": ""}


@pytest.mark.parametrize(("schedule", "seconds"), [
    ("0 */5 * * * *", 300), ("0 */1 * * * *", 60), ("30 */15 * * * *", 900), ("0 7 * * * *", 3600),
    ("00:10:00", 600), ("00:00:05", 60), ("0 0 9 * * 1-5", 300), ("0 */0 * * * *", 300)])
def test_the_timer_runs_as_often_as_the_function_apps_schedule_says(schedule: str, seconds: float) -> None:
    assert sync_interval(schedule) == seconds


def until(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_a_booking_and_a_cancellation_on_the_pages_are_acted_on_with_no_sync_command(
        emulator: EmulatorServer, env: dict[str, str], tmp_path: object) -> None:
    settings = load_settings(env | {"COPROD_STATE": f"sqlite:///{tmp_path}/serve.sqlite3"})
    backend, site = emulator.backend, settings.site_id
    with Services.open(settings) as services:
        provision(services.lists)
    start = soon(5)
    session = backend.sharepoint.create_item(site, "Sessions", {
        "Title": "Carers forum", "Status": "Open", "Capacity": 5, "Theme": "Carers",
        "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "EndTime": start.strftime("%Y-%m-%dT%H:59:00Z")}).id
    said: list[str] = []
    timer = SyncTimer(settings, 0.5, said.append)
    timer.start()
    try:
        pages = httpx.Client(transport=AsgiTransport(create_web_app(lambda: web_context(settings))),
                             base_url=f"{settings.public_url}/api/pages")
        assert until(lambda: "Carers forum" in pages.get("/sessions").text)  # the timer mirrored the session
        assert "Check your email" in pages.post(f"/sessions/{session}", data=GOOD).text

        def sent() -> list[str]:
            return [m.html_body or "" for m in backend.mail.sent(backend.sender) if "ann.example@example.org" in m.to]

        assert until(lambda: len(sent()) == 1), said  # confirmed and emailed by the timer's next run
        cancel = re.search(r'href="[^"]*/api/pages(/cancel\?t=[^"]+)"', sent()[0])
        assert cancel is not None
        link = cancel.group(1).replace("&amp;", "&")
        token = re.search(r'name="t" value="([^"]+)"', pages.get(link).text)
        assert token is not None
        assert "Your place is cancelled" in pages.post("/cancel", data={"t": token.group(1)}).text

        def status() -> str:
            items = backend.sharepoint.get_list(site, "Registrations").items.values()
            return str(next(iter(items)).fields.get("Status"))

        assert until(lambda: status() == "Cancelled"), said
        assert until(lambda: len(sent()) == 2), said  # "your place is cancelled"
    finally:
        timer.stop()
    assert timer.runs >= 3 and all(line.startswith("  Timer run: ") for line in said)


def test_status_and_report_need_only_the_stores_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith(("M365_", "COPROD_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COPROD_STATE", f"sqlite:///{tmp_path}/officer.sqlite3")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "No run has finished yet." in out and "Today (UK time): nothing done yet." in out
    assert main(["report"]) == 0
    assert capsys.readouterr().out.startswith("Participation report: sessions from the first session to the latest")
    monkeypatch.setenv("COPROD_STATE", "not a store")
    assert main(["status"]) == 2
    assert "COPROD_STATE" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: object) -> None:
    """`python -m coprod status | head -0`: no "unexpected error", no traceback; the status of a closed pipe."""
    import subprocess
    import sys

    reading, writing = os.pipe()
    os.close(reading)  # the reader has gone before the command writes a word
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365_", "COPROD_"))}
    done = subprocess.run([sys.executable, "-m", "coprod", "status"], stdout=writing, stderr=subprocess.PIPE,
                          env=env | {"COPROD_STATE": f"sqlite:///{tmp_path}/pipe.sqlite3"}, timeout=120, check=False)
    os.close(writing)
    assert (done.returncode, done.stderr) == (141, b"")
