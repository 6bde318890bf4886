"""The directory: users (members and guests), groups and their members, and invitations: state and rules only."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Directory", "Group", "User"]


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


class Directory:
    """Users and groups of one tenant. Callers hold the backend's lock around changes."""

    def __init__(self, clock: Callable[[], float], tenant_domain: str) -> None:
        self.clock = clock
        self.tenant_domain = tenant_domain
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.set_limit()

    def set_limit(self, *, per_window: int = 150, window_seconds: float = 5.0, enabled: bool = True) -> None:
        """The invitation API's throttle: at most `per_window` POST /invitations per `window_seconds` per tenant."""
        if per_window < 1 or window_seconds <= 0:
            raise ValueError("per_window must be at least 1 and window_seconds above 0")
        self.invite_limit = {"per_window": per_window, "window_seconds": window_seconds, "enabled": enabled}

    def limit_json(self) -> dict[str, Any]:
        return dict(self.invite_limit)

    def add_user(self, display_name: str, upn: str, *, mail: str | None = None, user_type: str = "Member",
                 other_mails: list[str] | None = None) -> User:
        user = User(str(uuid.uuid4()), display_name, upn, mail if mail is not None else upn, user_type,
                    list(other_mails or []), None, self.clock())
        with self.lock:
            self.users[user.id] = user
        return user

    def add_group(self, display_name: str) -> Group:
        group = Group(str(uuid.uuid4()), display_name)
        with self.lock:
            self.groups[group.id] = group
        return group
