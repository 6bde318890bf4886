"""`python -m coprod ...`: the command line other tools rely on (exit codes, one-line reasons, what it prints)."""

from __future__ import annotations

import re

import pytest

from config import LISTS, SESSIONS
from coprod.cli import main
from graph_emulator import EmulatorServer


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_a_missing_setting_stops_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                          configured: dict[str, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("M365_SITE_ID")
    assert main(["sync", "--once"]) == 2
    assert capsys.readouterr().err == "coprod: cannot start: M365_SITE_ID: is required but not set\n"


def test_graph_refusing_us_stops_with_one_line_and_no_secret(monkeypatch: pytest.MonkeyPatch,
                                                              configured: dict[str, str],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("M365_CLIENT_SECRET", "an-old-secret-value")
    assert main(["provision"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("coprod: cannot run: ") and err.count("\n") == 1
    assert "invalid_client" in err and "AADSTS7000215" in err and "an-old-secret-value" not in err


def test_provision_says_what_it_did_then_that_nothing_changed(configured: dict[str, str],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"Created the Sessions list with {len(SESSIONS.columns)} columns."
    assert main(["provision"]) == 0
    assert capsys.readouterr().out == f"All {len(LISTS)} lists are already in place; nothing changed.\n"


def test_sync_once_exits_0_when_items_need_attention_and_status_shows_what_waits(
        configured: dict[str, str], emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    main(["provision"])
    sp, site = emulator.backend.sharepoint, emulator.backend.site.id
    session = sp.create_item(site, "Sessions", {"Title": "Carers' drop-in", "Status": "Open", "Capacity": 5,
                                                "StartTime": "2030-01-01T10:00:00Z", "EndTime": "2030-01-01T11:00:00Z"})
    sp.create_item(site, "Registrations", {"Title": "Ann", "Email": "ann@example.org", "Consent": True,
                                           "SessionLookupId": str(session.id), "JoinMailingList": True})
    sp.create_item(site, "Registrations", {"Title": "Ben", "Email": "ben(at)example.org", "Consent": True,
                                           "SessionLookupId": str(session.id)})
    capsys.readouterr()
    assert main(["sync", "--once"]) == 0
    out = capsys.readouterr().out
    assert "1 confirmed, 1 need attention" in out
    assert "ann@example.org" not in out and "ben(at)example.org" not in out  # no personal data on the console
    assert main(["status"]) == 0
    # the booking confirmation went in the same run (the session got its meeting first); Ann was asked to
    # confirm she wants the mailing list, and has not yet
    [last_run, waiting, attention, today] = capsys.readouterr().out.splitlines()
    assert last_run.startswith("Last run: ") and last_run.endswith(": done.")
    assert waiting == "1 subscriber yet to confirm their address"
    assert attention == ("1 booking needs attention: in the Registrations list, filter Status by NeedsAttention; "
                         "each one's Status note says what to fix")
    assert today == "Today (UK time): 1 booking confirmed, 2 emails sent."  # (her confirmation; the list's question)


def test_the_demo_runs_the_programme_twice_and_the_second_run_changes_nothing(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out, err = capsys.readouterr()
    assert "Provisioning again: nothing changed." in out
    assert ("Second run, with nothing changed in the lists\n"
            "    Registrations: nothing new in the lists; no changes; 0 rows updated.\n"
            "    Guest access: 7 waiting for an admin; 0 rows updated.\n"
            "    Teams meetings: all in place; 0 rows updated.\n"
            "    Participant messages: none due.\n"
            "    Mailing list: nothing new; 0 rows updated.\n"
            "    Emails: 13 sent (4 booking confirmations, 9 mailing-list confirmation requests).\n"
            "    Requests to Microsoft 365: 14 (one request reads the changes of every list;") in out
    assert "Giving my carers a break and doing what I want to do" in out  # a session from the seeds
    # the five guest-access paths of issue 4
    assert "Amira Ahmed            Invited" in out  # approved by an admin's edit
    assert "Priya Shah             Invited" in out  # auto-approved domain, after confirming her address
    assert "Farid Fraser           AwaitingDecision" in out  # waiting
    assert "Quinn Bot              Rejected" in out  # a blocked domain
    assert "Olu Officer            AlreadyMember" in out
    assert ("The admins' daily digest, sent after the first run: “7 people are waiting for access to the "
            "co-production site”. Tomorrow's will list those still waiting.") in out
    # issue 5: the meetings made, and one message of each kind
    assert out.count("https://teams.microsoft.com/l/meetup-join/") >= 7
    for subject in ("Your place is booked:", "You're on the waiting list:", "A place has come up for you:",
                    "A session you're signed up for has changed:", "Your place is cancelled:", "Cancelled: Drop-in",
                    "Coming up:", "Your facilitator brief:"):
        assert f"── {subject}" in out
    # issue 6: double opt-in, an import kept as it is, an update to the matching subscribers, one leaving
    assert "The update's row now says “Sent”, to 7 people." in out
    assert "Subscribers now: 4 Pending, 7 Subscribed, 1 Unsubscribed." in out
    assert ("── Carers' week: what we heard, and what happens next"
            "   [headers: List-Unsubscribe, List-Unsubscribe-Post]") in out
    assert "@example" not in out  # addresses never printed
    # issue 31: a booking made in Welsh is told in Welsh, with the session's Welsh title
    assert ("── Mae eich lle wedi'i archebu: Yn newydd i ofalu? Pa gymorth sydd ei angen arnoch chi?   [in Welsh, as "
            "they chose when booking]") in out
    # it speaks to an officer (issue 14): no protocol words, counts that agree, names cut between words
    for jargon in ("$batch", "Graph requests", " 1 items", "(registration ", "<script>"):
        assert jargon not in out, jargon
    titles = [line.strip().split("  ")[0] for line in out.splitlines() if "https://teams.microsoft.com/" in line]
    assert "Giving my carers a break and doing what I…" in titles  # was "...doing what I wa"
    # the second run's progress says what the summary says: the change feed held only our own updates
    assert "Registrations: 37 changes since the last run: 37 made by the service itself" in err
    assert "Registrations: 1 change since the last run: 1 new, changed or removed" in err


def test_sync_without_once_survives_a_failed_run_and_runs_again(
        configured: dict[str, str], emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The looping mode: a run that cannot read the lists says why and goes on with the rest; a run that stops
    altogether (its state store unreachable, say) says why in one line; the next run goes ahead."""
    import coprod.cli
    import coprod.run

    main(["provision"])
    capsys.readouterr()
    emulator.add_fault(status=400, path=r"\$batch", count=1, code="BadRequest")  # the first run's read fails
    real_run_held = coprod.run.run_held
    runs: list[int] = []

    def run_held(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(1)
        if len(runs) == 2:
            raise OSError("the state store is unreachable")
        return real_run_held(*args, **kwargs)

    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            raise KeyboardInterrupt  # the operator stops it after the third run

    monkeypatch.setattr(coprod.run, "run_held", run_held)
    monkeypatch.setattr(coprod.cli.time, "sleep", sleep)
    assert main(["sync", "--interval", "60"]) == 130
    out, err = capsys.readouterr()
    first, third = out.split("Graph requests:")[0], out.split("Graph requests:")[1]
    assert first.startswith("Lists: not read (read list changes: HTTP 400 BadRequest (request-id ")
    assert "Teams meetings: " in first and "Emails: " in first  # what needs no list changes still ran
    [stopped] = [line for line in err.splitlines() if line.startswith("coprod:")]
    assert re.fullmatch(r"coprod: this run stopped: OSError at test_cli\.py:\d+; the next starts in 60 s", stopped)
    assert "Registrations: " in third  # the third run went ahead
    assert len(pauses) == 3


def test_every_missing_setting_is_named_in_one_try(monkeypatch: pytest.MonkeyPatch, configured: dict[str, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for variable in ("M365_SITE_ID", "M365_SENDER", "COPROD_SIGNING_KEY"):
        monkeypatch.delenv(variable)
    assert main(["sync", "--once"]) == 2
    assert capsys.readouterr().err == ("coprod: cannot start: 3 settings need attention:\n"
                                       "  M365_SITE_ID: is required but not set\n"
                                       "  M365_SENDER: is required but not set\n"
                                       "  COPROD_SIGNING_KEY: is required but not set\n")


# --- the first hour: one plain line for each way a newcomer's setup goes wrong -------------------------------

def test_sync_before_provision_says_to_run_provision(configured: dict[str, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--once"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Lists: not found on the site. If they have not been created yet, run "
                          "`python -m coprod provision` once")


@pytest.mark.parametrize(("authority", "reason"), [("https://127.0.0.1:1", "Connection refused"),
                                                   ("https://login.nowhere.invalid", "")])
def test_an_unreachable_authority_is_one_line_before_anything_runs(
        monkeypatch: pytest.MonkeyPatch, configured: dict[str, str], capsys: pytest.CaptureFixture[str],
        authority: str, reason: str) -> None:
    monkeypatch.setenv("M365_AUTHORITY_HOST", authority)
    assert main(["sync", "--once"]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # no step ran, so no step says it failed
    assert err.startswith(f"coprod: cannot run: get an access token: cannot reach the token authority: {authority}/")
    assert err.count("\n") == 1 and reason in err and "HTTPSConnectionPool" not in err


@pytest.mark.parametrize(("variable", "value", "problem"), [
    ("M365_CA_BUNDLE", "/nowhere/ca.pem", "M365_CA_BUNDLE: no such file: /nowhere/ca.pem"),
    ("M365_CLIENT_CERTIFICATE_PATH", "/nowhere/app.pem", "M365_CLIENT_CERTIFICATE_PATH: no such file"),
    ("COPROD_STATE", "postgres://db/coprod", "COPROD_STATE: expected sqlite:///path, an Azure Storage"),
    ("COPROD_STATE", "DefaultEndpointsProtocol=https;AccountName=council", "COPROD_STATE: the Azure Storage "
                                                                           "connection string has no AccountKey"),
])
def test_a_file_or_store_that_is_not_there_is_a_setting_problem(
        monkeypatch: pytest.MonkeyPatch, configured: dict[str, str], capsys: pytest.CaptureFixture[str],
        variable: str, value: str, problem: str) -> None:
    monkeypatch.setenv(variable, value)
    store_only = variable.startswith("COPROD_")  # (`status` reads the store: a Microsoft 365 setting is not its)
    for command in (["status"], ["sync", "--once"]) if store_only else (["sync", "--once"],):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"coprod: cannot start: {problem}") and err.count("\n") == 1


def test_serve_on_a_port_in_use_is_one_line(configured: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("coprod: cannot serve on 127.0.0.1:") and "Address already in use" in err
    assert err.count("\n") == 1


def test_serve_has_an_index_page_and_health(configured: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from config import load_settings
    from coprod.pages.app import create_web_app
    from coprod.runtime import web_context
    from coprod.serve import local_app
    from graph_emulator.testing import AsgiTransport

    settings = load_settings()
    app = local_app(create_web_app(lambda: web_context(settings)), "Carers' Voice", "the site")
    client = httpx.Client(transport=AsgiTransport(app), base_url="http://localhost:7071")
    index = client.get("/")
    assert index.status_code == 200 and 'href="/api/pages/subscribe"' in index.text
    assert "Carers&#39; Voice" in index.text
    assert client.get("/api/health").json() == {"status": "ok"}
    assert client.get("/api/pages/subscribe").status_code == 200
    monkeypatch.delenv("M365_SENDER")
    answer = client.get("/api/health")
    assert answer.status_code == 503 and answer.json()["problems"] == [
        {"variable": "M365_SENDER", "problem": "is required but not set"}]


@pytest.mark.parametrize(("text", "width", "shown"), [
    ("Giving my carers a break and doing what I want to do", 44, "Giving my carers a break and doing what I…"),
    ("Being included: getting out into the local community", 44, "Being included: getting out into the local…"),
    ("Short title", 44, "Short title"),
    ("Supercalifragilisticexpialidocious", 10, "Supercali…"),  # one long word: nothing else fits
])
def test_names_are_cut_between_words(text: str, width: int, shown: str) -> None:
    from coprod.words import shorten

    assert shorten(text, width) == shown and len(shown) <= width


def test_export_answers_a_subject_access_request_in_one_command(configured: dict[str, str], emulator: EmulatorServer,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A person with a booking, a mailing-list subscription and a guest account: all of it, as JSON, and nobody
    else's."""
    import json

    main(["provision"])
    sp, site = emulator.backend.sharepoint, emulator.backend.site.id
    session = sp.create_item(site, "Sessions", {"Title": "Carers' drop-in", "Status": "Open", "Capacity": 5,
                                                "StartTime": "2030-01-01T10:00:00Z", "EndTime": "2030-01-01T11:00:00Z"})
    for name, address in (("Ann", "Ann.Example@Example.org"), ("Ben", "ben@example.org")):
        sp.create_item(site, "Registrations", {"Title": name, "Email": address, "Consent": True,
                                               "SessionLookupId": str(session.id), "JoinMailingList": True,
                                               "WantsSiteAccess": True})
    emulator.backend.directory.add_user("Ann Example", "ann.example_example.org#EXT#@council.example.org",
                                        mail="ann.example@example.org", user_type="Guest")
    main(["sync", "--once"])
    capsys.readouterr()
    assert main(["export", " ann.example@EXAMPLE.org "]) == 0
    held = json.loads(capsys.readouterr().out)
    assert held["address"] == "ann.example@example.org"
    # a guest account already, so no guest request row was needed
    assert sorted(item["list"] for item in held["lists"]) == ["Registrations", "Subscribers"]
    booking = next(item for item in held["lists"] if item["list"] == "Registrations")
    assert booking["fields"]["Title"] == "Ann" and booking["fields"]["Status"] == "Confirmed"
    assert [e["subject"] for e in held["state"]["emails"] if e["kind"] == "confirmed"] == [
        "Your place is booked: Carers' drop-in"]
    assert any(h["kind"] == "subscriber" for h in held["state"]["handoffs"])
    assert [a["mail"] for a in held["directory"]] == ["ann.example@example.org"]
    assert "ben@example.org" not in json.dumps(held)
    assert main(["export", "not an address"]) == 2
