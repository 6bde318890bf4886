"""A programme for any test: its lists in the emulator as people edit them, the service's runs, what people received.

The `programme` fixture (conftest.py) opens one on the test's settings (a module adds its own by overriding the
`programme_settings` fixture) and the test's clock; `live` opens one behind a local server on loopback, as
`python -m coprod serve` runs it, so that Graph's notifications reach it. A test that needs a world of its own
(the mailing list's, guest access's) subclasses `Programme` and opens it the same way: `Kind.open(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar

from config import load_settings
from coprod.lists.provision import provision
from coprod.registrations.sync import RegistrationSync, SyncReport
from coprod.run import run_once
from coprod.runtime import Services
from coprod.serve import live_app
from graph_emulator import EmulatorServer
from graph_emulator.testing import BackgroundServer
from tests.support.fakes import FakeClock

__all__ = ["PUBLIC_URL", "Later", "Programme", "calendar_of", "event_of", "soon"]

PUBLIC_URL = "https://coprod.example.org"


def soon(days: float = 10, hour: int = 14) -> datetime:
    """`days` from now, on the hour (UTC): when a session starts."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def calendar_of(message: Any) -> icalendar.Calendar:
    [ics] = [a for a in message.attachments if a.name == "session.ics"]
    return icalendar.Calendar.from_ical(ics.content)


def event_of(calendar: icalendar.Calendar) -> Any:
    [event] = calendar.walk("VEVENT")
    return event


class Programme:
    """The lists as people edit them (straight into the emulator, as someone typing into SharePoint), the service's
    runs on the test's clock, and what people received (the sender's Sent Items)."""

    check_sessions = True  # sessions checked against their columns, as Graph checks them; False: stored as typed

    def __init__(self, emulator: EmulatorServer, services: Services, clock: FakeClock) -> None:
        self.emulator = emulator
        self.backend = emulator.backend
        self.services = services
        self.lists = services.lists
        self.store = services.store
        self.clock = clock
        self.site = services.settings.site_id
        self._created = datetime.now(UTC) - timedelta(days=1)
        provision(services.lists)

    @classmethod
    @contextmanager
    def open(cls, emulator: EmulatorServer, env: dict[str, str], clock: FakeClock,
             **settings: str) -> Iterator[Any]:
        """The service opened on the emulator's settings and `settings`, with `clock`; the lists provisioned."""
        with Services.open(load_settings(env | settings), clock=clock, sleep=clock.sleep) as services:
            made = cls(emulator, services, clock)
            try:
                yield made
            finally:
                made.close()

    @classmethod
    @contextmanager
    def live(cls, emulator: EmulatorServer, env: dict[str, str], clock: FakeClock) -> Iterator[Any]:
        """Opened behind a local server on loopback (the pages and /api/notifications, with the consumer that
        runs the reconcilers a notification asks for), which is also its public URL."""
        later = Later()
        with BackgroundServer(later, name="live") as server:
            env = env | {"COPROD_PUBLIC_URL": server.url}
            later.app, queue = live_app(load_settings(env))
            try:
                with cls.open(emulator, env, clock) as made:
                    yield made
            finally:
                queue.stop()

    def close(self) -> None:
        """What a subclass opened beyond the service."""

    # --- what people type -------------------------------------------------------------------------------------------

    def add(self, list_name: str, **fields: Any) -> str:
        return str(self.backend.sharepoint.create_item(self.site, list_name, fields).id)

    def session(self, title: str = "Having choice", start: datetime | None = None, *, minutes: int = 60,
                capacity: Any = 10, **fields: Any) -> str:
        """A session, Open, a week from now unless `start` says when."""
        start = start or datetime.now(UTC) + timedelta(days=7)
        values = {"Title": title, "Status": "Open", "Capacity": capacity, "Theme": "Carers",
                  "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "EndTime": (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")} | fields
        return str(self.backend.sharepoint.create_item(self.site, "Sessions", values, check=self.check_sessions).id)

    def register(self, session: str | None, name: str, email: str | None = None, *, check: bool = True,
                 **fields: Any) -> str:
        """Someone books `session` (None: chose none), a minute after the one before; `email` (or `Email=`) is
        their name as an address at example.org unless given."""
        self._created += timedelta(minutes=1)
        address = email or fields.pop("Email", name.lower().replace(" ", ".") + "@example.org")
        values: dict[str, Any] = {"Title": name, "Email": address, "Consent": True} | fields
        if session is not None:
            values["SessionLookupId"] = session
        return str(self.backend.sharepoint.create_item(self.site, "Registrations", values, check=check,
                                                       created=self._created.timestamp()).id)

    def edit(self, list_name: str, item_id: str, **fields: Any) -> None:
        """Someone edits an item in SharePoint."""
        self.backend.sharepoint.update_fields(self.site, list_name, item_id, fields)

    def delete(self, list_name: str, item_id: str) -> None:
        self.backend.sharepoint.delete_item(self.site, list_name, item_id)

    # --- the service ------------------------------------------------------------------------------------------------

    def run(self, minutes: float = 5, drain_seconds: float = 600) -> list[str]:
        """`minutes` later, one whole run (every reconciler, then the outbox): its lines."""
        self.clock.offset += minutes * 60
        return run_once(self.services, drain_seconds=drain_seconds)

    def sync(self) -> SyncReport:
        """The registration reconciler alone."""
        return RegistrationSync(self.lists, self.store).run()

    # --- what there is to see ---------------------------------------------------------------------------------------

    def fields(self, item_id: str, list_name: str = "Registrations") -> dict[str, Any]:
        _, item = self.backend.sharepoint.get_item(self.site, list_name, item_id)
        return dict(item.fields)

    def field(self, list_name: str, item_id: str, name: str) -> Any:
        return self.fields(item_id, list_name).get(name)

    def status(self, item_id: str) -> str | None:
        return self.fields(item_id).get("Status")

    def statuses(self, *item_ids: str) -> list[str | None]:
        return [self.status(i) for i in item_ids]

    def note(self, item_id: str) -> str:
        return str(self.fields(item_id).get("StatusNote", ""))

    def due(self, kind: str) -> list[dict[str, Any]]:
        """The payloads of the ledger's records of `kind`: what one part left for another."""
        return [e.payload for e in self.store.ledger.list(kind=kind)]

    def mail(self) -> list[Any]:
        return self.backend.mail.sent(self.backend.sender)

    def mail_to(self, address: str) -> list[Any]:
        return [m for m in self.mail() if address in m.to]

    def meetings(self) -> list[Any]:
        return self.backend.meetings.for_organizer(self.backend.organizer.id)


class Later:
    """An ASGI app set after the server is made (its port is needed first, for the settings)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
