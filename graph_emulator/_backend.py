"""The whole emulated tenant: identity, SharePoint, directory, faults and the request log.

Plain Python with no HTTP in it; `_app.py` is the thin HTTP layer in front.
`reset()` puts everything back to a fresh tenant with the programme's site,
the organiser, the sending mailbox and the guest group.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph_emulator._faults import Faults, RequestLog
from graph_emulator._identity import Identity
from graph_emulator._sharepoint import SharePoint, Site

__all__ = ["Backend", "Group", "User"]

TENANT_DOMAIN = "council.example.org"
SHAREPOINT_HOST = "council.sharepoint.example.org"


@dataclass
class User:
    id: str
    display_name: str
    user_principal_name: str
    mail: str | None
    user_type: str = "Member"
    other_mails: list[str] = field(default_factory=list)
    external_user_state: str | None = None
    created: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.display_name, "userPrincipalName": self.user_principal_name,
                "mail": self.mail, "userType": self.user_type, "otherMails": list(self.other_mails),
                "externalUserState": self.external_user_state, "businessPhones": [], "givenName": None,
                "surname": None, "jobTitle": None, "mobilePhone": None, "officeLocation": None,
                "preferredLanguage": None}


@dataclass
class Group:
    id: str
    display_name: str
    members: list[str] = field(default_factory=list)  # user ids, in the order added


class Backend:
    """State of one emulated tenant. Thread-safe; `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.faults = Faults()
        self.log = RequestLog()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.identity = Identity(self.clock)
            self.sharepoint = SharePoint(self.clock, SHAREPOINT_HOST)
            self.site: Site = self.sharepoint.add_site("coproduction", "Co-production programme")
            self.users: dict[str, User] = {}
            self.groups: dict[str, Group] = {}
            self.faults.clear()
            self.log.clear()
            self.organizer = self.add_user("Programme Organiser", f"organiser@{TENANT_DOMAIN}")
            self.sender = self.add_user("Co-production Team", f"coproduction@{TENANT_DOMAIN}")
            guests = Group(str(uuid.uuid4()), "Co-production guests")
            self.groups[guests.id] = guests
            self.guest_group = guests

    def add_user(self, display_name: str, upn: str, *, mail: str | None = None, user_type: str = "Member",
                 other_mails: list[str] | None = None) -> User:
        user = User(str(uuid.uuid4()), display_name, upn, mail if mail is not None else upn, user_type,
                    list(other_mails or []), None, self.clock())
        with self.lock:
            self.users[user.id] = user
        return user

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
