"""`python -m coprod demo`: the whole programme once, on the embedded Graph emulator.

Starts the emulator (HTTPS on loopback, its own CA), points real settings at
it, provisions the lists, seeds a programme like the ones this product grew
from (carers' sessions and themed sessions), and runs the sync: once on the
new registrations, once more with nothing changed, and once after a
participant cancels. Only example.org / example.com addresses are used.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coprod.mail.outbox import readable
from coprod.templates import UK
from coprod.words import shorten

__all__ = ["PROGRAMME", "run_demo", "seed_programme"]

# (title, theme, audience, days from now, start hour UTC, minutes, places, status)
PROGRAMME: list[tuple[str, str, list[str], int, int, int, int, str]] = [
    ("Giving my carers a break and doing what I want to do", "Carers", ["Carers"], 8, 13, 60, 6, "Open"),
    ("New to caring? What support do you need?", "Carers", ["Carers"], 12, 10, 60, 12, "Open"),
    ("How do we support carers to take time for themselves?", "Carers", ["Carers", "Professionals"], 15, 11, 60,
     10, "Open"),
    ("By your side: enjoying our time together", "Carers", ["Carers", "People who use services"], 19, 10, 60, 0,
     "Open"),
    ("Having choice: what I do with my day", "Having choice", ["Everyone"], 9, 14, 90, 15, "Open"),
    ("Being included: getting out into the local community", "Being included", ["Everyone"], 16, 14, 90, 15, "Open"),
    ("Being healthy: learning new skills", "Being healthy", ["Everyone"], 23, 14, 90, 10, "Draft"),
    ("Drop-in: a one-to-one conversation", "Other", ["Everyone"], 10, 9, 30, 4, "Open"),
]

FIRST = ["Amira", "Ben", "Chloe", "Dev", "Elaine", "Farid", "Grace", "Harry", "Isla", "Jon", "Kemi", "Liam",
         "Maya", "Niall", "Olu", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Una", "Vik", "Wendy", "Xavier",
         "Yasmin", "Zac", "Alfie", "Bea", "Callum", "Dina", "Eddie", "Fatima", "Gwen", "Hamid", "Ivy", "Joe"]
LAST = ["Ahmed", "Baker", "Clarke", "Davies", "Evans", "Fraser", "Green", "Hughes", "Iqbal", "Jones"]
ROLES = ["Carer", "Person who uses services", "Professional", "Carer", "Other"]
# The one question a session aims to answer ("each session will aim to answer 1 question in an hour"), by title.
QUESTIONS = {
    "By your side: enjoying our time together": "What makes time together good for you and the person you care for?",
    "Having choice: what I do with my day": "What would help you choose how you spend your day?",
    "Being included: getting out into the local community": "What stops you getting out locally, and what would help?",
    "Being healthy: learning new skills": "Which new skills would help you stay well?",
}
# The officers' own words in Welsh for one session (TitleCy, DescriptionCy), by title: the one a Welsh reader books.
WELSH = {"New to caring? What support do you need?": ("Yn newydd i ofalu? Pa gymorth sydd ei angen arnoch chi?",
                                                      "Sgwrs ar-lein i ofalwyr sy'n newydd i ofalu.")}
# How many valid registrations each session gets (index into PROGRAMME): the first is over-full.
BOOKINGS = [9, 5, 4, 4, 5, 3, 0, 2]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_programme(backend: Any, now: datetime) -> dict[str, Any]:
    """Put the programme's sessions and about 40 registrations into the emulator's lists, as people would."""
    sp, site = backend.sharepoint, backend.site.id
    session_ids = []
    for title, theme, audience, days, hour, minutes, places, status in PROGRAMME:
        start = (now + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
        item = sp.create_item(site, "Sessions", {
            "Title": title, "Theme": theme, "Audience": audience, "StartTime": _iso(start),
            "EndTime": _iso(start + timedelta(minutes=minutes)), "Capacity": places, "Status": status,
            "Description": f"An online conversation: {title.lower()}.", "Facilitators": "facilitator@example.org",
            "Question": QUESTIONS.get(title, "")} | ({"TitleCy": WELSH[title][0], "DescriptionCy": WELSH[title][1]}
                                                     if title in WELSH else {}))
        session_ids.append(str(item.id))
    people = iter(f"{f} {LAST[n % len(LAST)]}" for n, f in enumerate(FIRST))
    created_at = now - timedelta(days=3)
    registrations: list[dict[str, Any]] = []

    def register(name: str, session: str, **extra: Any) -> None:
        nonlocal created_at
        created_at += timedelta(minutes=7)
        email = name.lower().replace(" ", ".") + ("@example.org" if len(registrations) % 3 else "@example.com")
        fields = {"Title": name, "Email": email, "SessionLookupId": session, "Role": ROLES[len(registrations) % 5],
                  "Consent": True, "JoinMailingList": len(registrations) % 4 == 0,
                  "WantsSiteAccess": len(registrations) % 5 == 0, "AccessNeeds": ""} | extra
        registrations.append(fields)
        sp.create_item(site, "Registrations", fields, created=created_at.timestamp())

    for index, count in enumerate(BOOKINGS):
        for n in range(count):  # the last to book the session with a Welsh title books on the pages in Welsh
            welsh = PROGRAMME[index][0] in WELSH and n == count - 1
            register(next(people), session_ids[index], **({"Language": "Cymraeg"} if welsh else {}))
    register(next(people), session_ids[1], AccessNeeds="I use a screen reader; please send papers before.")
    duplicate = registrations[2]  # the same person registers twice for the over-full session
    register(duplicate["Title"], duplicate["SessionLookupId"], Email=f"  {duplicate['Email'].upper()} ")
    register(next(people), session_ids[4], Email="sam.taylor(at)example.org")  # a typing mistake
    register(next(people), session_ids[5], Consent=False)  # consent box not ticked
    register(next(people), session_ids[6])  # a session still in Draft
    return {"sessions": session_ids, "registrations": len(registrations)}


def _print_sessions(store: Any) -> None:
    from coprod.registrations.summary import session_summaries

    print(f"    {'Session':<56} {'When (UK time)':<17} {'Places':>6} {'Booked':>6} {'Waiting':>7} {'To fix':>6}")
    for row in session_summaries(store):
        counts = row["counts"]
        when = row["start"].astimezone(UK).strftime("%a %d %b %H:%M") if row["start"] else "?"
        places = "no limit" if row["capacity"] == 0 else str(row["capacity"])
        title = shorten(row["title"], 55)
        if row["status"] != "Open":
            title = f"{shorten(row['title'], 46)} [{row['status']}]"
        print(f"    {title:<56} {when:<17} {places:>6} {counts.get('Confirmed', 0):>6} "
              f"{counts.get('Waitlisted', 0):>7} {counts.get('NeedsAttention', 0):>6}")
        if row["note"]:
            print(f"      note for the team: {row['note']}")


class _Clock:
    """The demo's clock: real time, until it jumps a week ahead to show reminders."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


AUTO_DOMAIN = "partner-charity.example.org"
BLOCKED_DOMAIN = "spam.example.net"
ADMINS = "coproduction-admins@council.example.org"


def _step(number: int, title: str) -> None:
    print(f"\n{number}. {title}")


def _run(services: Any, label: str | None = None) -> None:
    """One run, five minutes after the last on the demo's clock (the timer's default), as in real running."""
    from coprod.run import run_once

    services.clock.offset += 300
    before = services.graph.stats["requests"]
    for line in run_once(services, lambda m: print(f"    … {m}", file=sys.stderr), drain_seconds=5):
        print(f"    {line}")
    print(f"    Requests to Microsoft 365: {services.graph.stats['requests'] - before}"
          + (f" ({label})" if label else ""))


def _print_guest_requests(services: Any) -> None:
    rows = sorted(services.store.mirror.items("GuestRequests"), key=lambda r: int(r.item_id))
    print(f"    {'Who':<22} {'Status':<17} Note")
    for row in rows:
        name, status = str(row.fields.get("Title") or ""), str(row.fields.get("Status") or "")
        note = str(row.fields.get("StatusNote") or "")
        print(f"    {shorten(name, 21):<22} {status:<17} {shorten(note, 70)}")


def _sent_links(services: Any, path: str) -> dict[str, str]:
    """The links to one of our pages in the emails in Sent Items, read the standard way: address -> link."""
    import re

    sent = services.graph.get_json("read the sent emails", f"/users/{services.settings.sender}/mailFolders/"
                                   "sentItems/messages", params={"$select": "toRecipients,body", "$top": "1000"})
    links = {}
    for message in sent["value"]:
        found = re.search(rf'href="[^"]*({re.escape(path)}\?t=[^"]+)"', message["body"]["content"])
        if found:
            links[message["toRecipients"][0]["emailAddress"]["address"]] = found.group(1).replace("&amp;", "&")
    return links


def _press(services: Any, link: str, **form: Any) -> str:
    """Play the person: open the link, then press the page's button (with `form` filled in). Returns the page."""
    import re

    import httpx

    from coprod.pages.app import create_web_app
    from graph_emulator.testing import AsgiTransport

    pages = create_web_app(services.web_context)
    with httpx.Client(transport=AsgiTransport(pages), base_url=services.settings.public_url) as browser:
        page = browser.get(link)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        token = re.search(r'name="t" value="([^"]+)"', page.text)
        if action is None:
            return page.text
        data = {"t": token.group(1)} if token else {}
        return browser.post(action.group(1), data=data | form).text


def run_demo(state: str | None = None) -> int:
    from config import load_settings
    from coprod.handoffs import MeetingRecord
    from coprod.lists.provision import provision
    from coprod.runtime import Services
    from graph_emulator import EmulatorServer

    started = time.monotonic()
    temp = tempfile.TemporaryDirectory(prefix="coprod-demo-") if state is None else None
    state_path = Path(temp.name) / "coprod-demo.sqlite3" if temp else Path(state)  # type: ignore[arg-type]
    print("Co-production hub: demo on the built-in Microsoft Graph emulator (no tenant, no secrets).")
    with EmulatorServer() as emulator:
        settings = load_settings(emulator.env() | {
            "COPROD_SIGNING_KEY": secrets.token_urlsafe(32), "COPROD_STATE": f"sqlite:///{state_path}",
            "COPROD_GUEST_AUTO_APPROVE_DOMAINS": AUTO_DOMAIN, "COPROD_GUEST_BLOCKED_DOMAINS": BLOCKED_DOMAIN,
            "COPROD_ADMIN_EMAIL": ADMINS, "COPROD_PROGRAMME_NAME": "Having your say"})
        print(f"  Graph emulator: {emulator.url} · state file: {state_path}")
        backend, site = emulator.backend, settings.site_id
        clock = _Clock()
        with Services.open(settings, clock=clock) as services:
            _step(1, "Setting up the SharePoint lists")
            for line in provision(services.lists).lines or ["Nothing to do."]:
                print(f"    {line}")
            again = provision(services.lists).lines
            print(f"    Provisioning again: {again or 'nothing changed'}.")

            now = datetime.now(UTC)
            seeded = seed_programme(backend, now)
            _step(2, f"People register: {len(seeded['sessions'])} sessions, {seeded['registrations']} registrations "
                     "(one over-full session, a duplicate, a mistyped address, a missing consent, a Draft session)")

            _step(3, "First run")
            _run(services)
            _print_sessions(services.store)
            _step(4, "Second run, with nothing changed in the lists")
            _run(services, "one request reads the changes of every list; the rest send the emails the "
                           "mailbox's limit held back")
            asked = _sent_links(services, "/api/pages/subscribe/confirm")
            pressed = sum("You're subscribed" in _press(services, asked[a]) for a in sorted(asked)[:5])
            print(f"    {len(asked)} people who ticked “Join the mailing list” were emailed to confirm; {pressed} "
                  "open the link and press “Yes, send me updates”.")

            full = next(s for s in services.store.mirror.items("Sessions") if s.fields.get("Capacity") == 6)
            confirmed = sorted((r for r in services.store.mirror.items("Registrations", group=full.item_id)
                                if r.fields.get("Status") == "Confirmed"), key=lambda r: int(r.item_id))
            backend.sharepoint.update_fields(site, "Registrations", confirmed[0].item_id, {"Cancel": True})
            _step(5, "A participant ticks “Cancel my place”; the first person waiting gets it")
            _run(services)

            notes = [r.fields.get("StatusNote") for r in services.store.mirror.items("Registrations")
                     if r.fields.get("Status") == "NeedsAttention"]
            _step(6, "What people whose registration needs attention read in their StatusNote")
            for note in sorted(set(n for n in notes if n)):
                print(f"    • {note}")

            _step(7, "Guest access: the registrations' requests wait for an admin; more requests come in")
            backend.directory.add_user("Olu Officer", "olu.officer@council.example.org")
            for name, email, organisation, decision in (
                    ("Priya Shah", f"priya.shah@{AUTO_DOMAIN}", "Partner charity (auto-approved domain)", "Pending"),
                    ("Quinn Bot", f"offers@{BLOCKED_DOMAIN}", "(a blocked domain)", "Pending"),
                    ("Olu Officer", "Olu.Officer@council.example.org", "Council (has an account)", "Approved")):
                backend.sharepoint.create_item(site, "GuestRequests", {"Title": name, "Email": email,
                                                                       "Organisation": organisation,
                                                                       "Decision": decision})
            waiting = sorted(services.store.mirror.items("GuestRequests"), key=lambda r: int(r.item_id))
            backend.sharepoint.update_fields(site, "GuestRequests", waiting[0].item_id, {"Decision": "Approved"})
            print(f"    An admin approves {waiting[0].fields.get('Title')}'s request in the list, and adds an "
                  "approved row for a colleague, Olu.")
            _run(services)
            link = _sent_links(services, "/api/pages/guest/confirm").get(f"priya.shah@{AUTO_DOMAIN}")
            priya_confirmed = link is not None and "your address is confirmed" in _press(services, link)
            print("    Priya opens the link in her email and presses “Confirm my email address”"
                  + (" (done)." if priya_confirmed else " (could not be done!)."))
            _run(services)
            _print_guest_requests(services)
            invited = backend.directory.invitations
            print(f"    Invitations sent by Microsoft: {len(invited)}; guest group members: "
                  f"{len(backend.directory.members(backend.guest_group.id))}.")
            digest = [m for m in backend.mail.sent(backend.sender) if m.to == (ADMINS,)]
            if digest:  # (sent after the first run, once a day: the table above is the list as it is now)
                print(f"    The admins' daily digest, sent after the first run: “{digest[0].subject}”. "
                      "Tomorrow's will list those still waiting.")

            _step(8, "A Teams meeting for every Open session (nobody is invited: each person gets their own email)")
            for session in sorted(services.store.mirror.items("Sessions"), key=lambda i: int(i.item_id)):
                record = MeetingRecord.of(services.store.ledger, session.item_id)
                link = f"{record.join_url[:58]}…" if record else "(no meeting: the session is a Draft)"
                print(f"    {shorten(str(session.fields.get('Title')), 44):<45} {link}")
            print("    Lobby: people from outside the organisation wait to be let in; presenters: the organiser "
                  "and the facilitators.")

            by_title = {str(i.fields.get("Title")): i for i in services.store.mirror.items("Sessions")}
            moved = by_title["Having choice: what I do with my day"]
            new_start = datetime.fromisoformat(str(moved.fields["StartTime"]).replace("Z", "+00:00")) + \
                timedelta(hours=1)
            backend.sharepoint.update_fields(site, "Sessions", moved.item_id, {
                "StartTime": _iso(new_start), "EndTime": _iso(new_start + timedelta(minutes=90))})
            backend.sharepoint.update_fields(site, "Sessions", by_title["Drop-in: a one-to-one conversation"].item_id,
                                             {"Status": "Cancelled"})
            _step(9, "The team moves “Having choice” an hour later, and cancels the drop-in")
            _run(services)

            first = min(services.store.mirror.items("Sessions"), key=lambda i: str(i.fields.get("StartTime")))
            first_start = datetime.fromisoformat(str(first.fields["StartTime"]).replace("Z", "+00:00"))
            clock.offset = (first_start - timedelta(hours=20)).timestamp() - time.time()
            _step(10, f"A week on, 20 hours before “{first.fields.get('Title')}”: reminders and the "
                      "facilitators' brief")
            _run(services)

            _step(11, "Between sessions: someone who'd rather not speak in a group tells us something; an officer "
                      "publishes it")
            said = _press(services, "/api/pages/contribute", theme="Carers", consent="yes", name="Rhys Jones",
                          email="rhys.jones@example.com", text="Evening sessions would help: I care for my mum "
                          "in the day.\n\nA phone number to ring would too.")
            print("    Rhys writes on the contribution page, no account needed"
                  + (": “Thank you: we've got it”." if "we've got it" in said else " (it could not be saved!)."))
            _run(services)
            written = next(i for i in services.store.mirror.items("Contributions"))
            backend.sharepoint.update_fields(site, "Contributions", written.item_id, {"Status": "Published"})
            print("    An officer reads it in the Contributions list and sets its Status to Published.")
            _run(services)
            heard = _press(services, "/api/pages/heard?theme=Carers")
            print("    “What we've heard” about carers now shows his words"
                  + (", and not his name or address." if "Evening sessions" in heard and "Rhys" not in heard
                     else " (it does not!)."))

            _step(12, "The mailing list: someone signs up on the page, an admin imports a list, an update goes "
                      "out, and someone leaves")
            _press(services, "/api/pages/subscribe", name="Sam Taylor", email="sam.taylor@example.com",
                   topics=["Carers", "Being included"])
            print("    Sam signs up on the subscribe page, for news about carers and being included.")
            for n, (name, topics) in enumerate((("Val Imported", ["Carers"]), ("Wyn Imported", ["Having choice"]))):
                backend.sharepoint.create_item(site, "Subscribers", {
                    "Title": name, "Email": f"{name.split()[0].lower()}@example.com", "Topics": topics,
                    "Status": "Subscribed", "ConfirmedAt": f"2025-06-0{n + 1}T10:00:00Z", "Source": "Import"})
            print("    An admin adds two people who agreed to updates before: their rows say “Subscribed” and "
                  "when they agreed.")
            _run(services)
            sam = _sent_links(services, "/api/pages/subscribe/confirm").get("sam.taylor@example.com")
            if sam:
                _press(services, sam)
            backend.sharepoint.create_item(site, "Updates", {
                "Title": "Carers' week: what we heard, and what happens next",
                "Body": "Thank you to everyone who came to **Giving my carers a break**.\n\n"
                        "You told us three things:\n\n1. Breaks need planning help\n2. Evenings matter\n"
                        "3. Information should be in one place\n\n"
                        "[Read the notes](https://council.example.org/coproduction/carers-week)",
                "Topics": ["Carers"], "Ready": True, "SendAt": _iso(datetime.fromtimestamp(clock(), UTC))})
            print("    The team writes an update for carers in the Updates list and ticks “Ready”, to send now.")
            _run(services)
            update = next(i for i in services.store.mirror.items("Updates"))
            print(f"    The update's row now says “{update.fields.get('Status')}”, to "
                  f"{int(update.fields.get('SentCount') or 0)} people.")
            leaving = _sent_links(services, "/api/pages/unsubscribe")
            if leaving:
                first_out = sorted(leaving)[0]
                _press(services, leaving[first_out])
                print("    One of them presses “Unsubscribe” in the update's footer.")
            _run(services)
            subscribers = services.store.mirror.items("Subscribers")
            states: dict[str, int] = {}
            for row in subscribers:
                states[str(row.fields.get("Status"))] = states.get(str(row.fields.get("Status")), 0) + 1
            print("    Subscribers now: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + ".")

            _step(13, "One of each message, as people read them (the plain-text part; each also has HTML)")
            shown: set[str] = set()
            for entry in services.store.outbox.list("sent", limit=10_000):
                if entry.kind in shown or entry.kind.startswith("guest"):
                    continue
                shown.add(entry.kind)
                message = readable(entry.payload)
                files = [a["filename"] for a in message.get("attachments", [])]
                headers = [h for h in message.get("headers", {}) if h.startswith("List-")]
                print(f"\n    ── {message['subject']}" + (f"   [attached: {', '.join(files)}]" if files else "")
                      + (f"   [headers: {', '.join(headers)}]" if headers else ""))
                for line in str(message["text"]).strip().splitlines():
                    print(f"    │ {line}" if line else "    │")
            for entry in services.store.outbox.list("sent", limit=10_000):  # a booking made in Welsh
                message = readable(entry.payload)
                if entry.kind == "confirmed" and str(message["subject"]).startswith("Mae eich lle"):
                    print(f"\n    ── {message['subject']}   [in Welsh, as they chose when booking]")
                    for line in str(message["text"]).strip().splitlines()[:9]:
                        print(f"    │ {line}" if line else "    │")
                    print("    │ …")
                    break
        log = emulator.backend.log.summary()
        print(f"\nDone in {time.monotonic() - started:.1f} s. The stand-in for Microsoft 365 answered "
              f"{log['requests']} requests (some of them carried up to 20 changes at once).")
    if temp is not None:
        temp.cleanup()
    return 0
