"""What SharePoint keeps, as plain records: sites, their lists, and the lists' items (with their eTags)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SPItem", "SPList", "Site", "etag_key"]


@dataclass
class SPItem:
    id: int
    fields: dict[str, Any]
    created: float
    modified: float
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = 1
    seq: int = 0

    @property
    def etag(self) -> str:
        """The listItem's eTag as the reference shows it: `"{GUID},version"`, braces and upper case."""
        return f'"{{{self.guid.upper()}}},{self.version}"'

    @property
    def fields_etag(self) -> str:
        """The fieldValueSet's `@odata.etag`: the same version, written without braces (clients must not care)."""
        return f'"{self.guid},{self.version}"'


def etag_key(value: str) -> str:
    """An eTag reduced to what identifies the version: no W/, quotes or braces, any case."""
    text = value.strip()
    text = text[2:] if text[:2].upper() == "W/" else text
    return text.strip('"').replace("{", "").replace("}", "").casefold()


@dataclass
class SPList:
    id: str
    name: str
    display_name: str
    created: float
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[int, SPItem] = field(default_factory=dict)
    tombstones: dict[int, int] = field(default_factory=dict)  # item id -> seq of its deletion
    next_id: int = 1
    seq: int = 0
    generation: int = 0  # bumped to force 410 on old delta tokens


@dataclass
class Site:
    id: str
    name: str
    display_name: str
    web_url: str
    created: float
    lists: dict[str, SPList] = field(default_factory=dict)
    permissions: list[dict[str, Any]] = field(default_factory=list)  # Sites.Selected grants (site-post-permissions)
