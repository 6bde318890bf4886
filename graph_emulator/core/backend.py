"""The whole emulated tenant: identity, SharePoint, directory, mail, meetings, faults and the request log.

Plain Python with no HTTP in it; `app.py` is the thin HTTP layer in front.
`reset()` puts everything back to a fresh tenant with the programme's site,
the organiser, the sending mailbox and the guest group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from graph_emulator.core.errors import GraphFault
from graph_emulator.core.faults import Faults, RequestLog
from graph_emulator.core.permissions import ALL_ROLES, TenantPolicy
from graph_emulator.directory.models import Directory, Group, User
from graph_emulator.identity.models import Identity
from graph_emulator.mail.models import Mailboxes
from graph_emulator.meetings.models import Meetings
from graph_emulator.sharepoint.models import SharePoint, Site
from graph_emulator.subscriptions.models import Subscriptions

__all__ = ["Backend"]

TENANT_DOMAIN = "council.example.org"
SHAREPOINT_HOST = "council.sharepoint.example.org"


class Backend:
    """State of one emulated tenant. Thread-safe; `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._base_clock = clock
        self.offset = 0.0  # seconds the control API has moved the clock on (POST /_emulator/clock)
        self.lock = threading.RLock()
        self.faults = Faults()
        self.log = RequestLog()
        self.reset()

    def clock(self) -> float:
        return self._base_clock() + self.offset

    def reset(self) -> None:
        with self.lock:
            self.offset = 0.0
            self.identity = Identity(self.clock, roles=frozenset(ALL_ROLES))
            self.tenant = TenantPolicy()
            self.sharepoint = SharePoint(self.clock, SHAREPOINT_HOST)
            self.site: Site = self.sharepoint.add_site("coproduction", "Co-production programme")
            self.subscriptions = Subscriptions(self.clock, self.identity.tenant_id, self._list_ids)
            self.sharepoint.listeners.append(self.subscriptions.changed)
            self.directory = Directory(self.clock, TENANT_DOMAIN)
            self.mail = Mailboxes(self.clock)
            self.meetings = Meetings(self.clock)
            self.faults.clear()
            self.log.clear()
            self.organizer: User = self.directory.add_user("Programme Organiser", f"organiser@{TENANT_DOMAIN}")
            self.sender: User = self.directory.add_user("Co-production Team", f"coproduction@{TENANT_DOMAIN}")
            self.guest_group: Group = self.directory.add_group("Co-production guests")

    def _list_ids(self, site_id: str) -> set[str]:
        try:
            lists = self.sharepoint.site(site_id).lists.values()
        except GraphFault:  # an unknown site: no lists
            return set()
        return {lst.id for lst in lists}

    def env(self, base_url: str, ca_bundle: str | None) -> dict[str, str]:
        """The M365_* settings that point the service at this emulator."""
        values = {
            "M365_TENANT_ID": self.identity.tenant_id,
            "M365_CLIENT_ID": self.identity.client_id,
            "M365_CLIENT_SECRET": self.identity.client_secret,
            "M365_AUTHORITY_HOST": base_url,
            "M365_GRAPH_ENDPOINT": base_url,
            "M365_SITE_ID": self.site.id,
            "M365_ORGANIZER_ID": self.organizer.id,
            "M365_SENDER": self.sender.user_principal_name,
            "M365_GUEST_GROUP_ID": self.guest_group.id,
        }
        if ca_bundle:
            values["M365_CA_BUNDLE"] = ca_bundle
        return values
