"""A user of the tenant as the services that act for one see it: mail's mailboxes, meetings' organisers.

The directory keeps the users (`directory/models.py`); the other services take anything with these attributes,
so they depend on the core and never on the directory.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Account"]


class Account(Protocol):
    id: str
    display_name: str
    user_principal_name: str
    mail: str | None
