"""A test helper: a provisioned programme in the emulator, people registering, and syncs through Graph."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from coprod.lists.provision import provision
from coprod.registrations.sync import RegistrationSync, SyncReport
from coprod.store import SqliteStore
from graph_client import SharePointLists
from graph_emulator import EmulatorServer


class Programme:
    """Sessions and registrations typed into SharePoint (the emulator), and the service syncing them."""

    def __init__(self, emulator: EmulatorServer, lists: SharePointLists, store: SqliteStore) -> None:
        self.emulator = emulator
        self.backend = emulator.backend
        self.site = emulator.backend.site.id
        self.lists = lists
        self.store = store
        self.now = datetime.now(UTC)
        self._clock = self.now - timedelta(days=2)
        provision(lists)

    def session(self, title: str = "Having choice", *, capacity: Any = 10, status: str = "Open",
                days: int = 7, **fields: Any) -> str:
        start = self.now + timedelta(days=days)
        values = {"Title": title, "Theme": "Having choice", "Capacity": capacity, "Status": status,
                  "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "EndTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")} | fields
        return str(self.backend.sharepoint.create_item(self.site, "Sessions", values, check=False).id)

    def register(self, session: str | None, name: str = "Ann Example", email: str | None = None, *,
                 check: bool = True, **fields: Any) -> str:
        self._clock += timedelta(minutes=5)
        values: dict[str, Any] = {"Title": name, "Email": email or name.lower().replace(" ", ".") + "@example.org",
                                  "Consent": True} | fields
        if session is not None:
            values["SessionLookupId"] = session
        item = self.backend.sharepoint.create_item(self.site, "Registrations", values, check=check,
                                                   created=self._clock.timestamp())
        return str(item.id)

    def edit(self, list_name: str, item_id: str, **fields: Any) -> None:
        """Someone edits an item in SharePoint."""
        self.backend.sharepoint.update_fields(self.site, list_name, item_id, fields)

    def delete(self, list_name: str, item_id: str) -> None:
        self.backend.sharepoint.delete_item(self.site, list_name, item_id)

    def sync(self) -> SyncReport:
        return RegistrationSync(self.lists, self.store).run()

    def fields(self, item_id: str, list_name: str = "Registrations") -> dict[str, Any]:
        _, item = self.backend.sharepoint.get_item(self.site, list_name, item_id)
        return dict(item.fields)

    def status(self, item_id: str) -> str | None:
        return self.fields(item_id).get("Status")

    def note(self, item_id: str) -> str:
        return str(self.fields(item_id).get("StatusNote", ""))

    def statuses(self, *item_ids: str) -> list[str | None]:
        return [self.status(i) for i in item_ids]

    def due(self, kind: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.store.ledger.list(kind=kind)]
