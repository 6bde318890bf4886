"""`python -m coprod provision`: create the five lists, or add what they lack. Safe to re-run."""

from __future__ import annotations

import copy
from typing import Any

from config import LISTS, ListSchema
from graph_client import SharePointLists

__all__ = ["provision"]


def _columns(schema: ListSchema, list_ids: dict[str, str]) -> list[dict[str, Any]]:
    columns = copy.deepcopy(list(schema.columns))
    for column in columns:
        lookup = column.get("lookup")
        if lookup and lookup.get("listId") in list_ids:
            lookup["listId"] = list_ids[lookup["listId"]]
    return columns


def provision(lists: SharePointLists) -> list[str]:
    """Make the site's lists match the schemas; returns one line per change (none when all was in place)."""
    changes: list[str] = []
    list_ids: dict[str, str] = {}
    for schema in LISTS:  # Sessions first: the Registrations lookup needs its id
        existing = lists.find_list(schema.display_name)
        columns = _columns(schema, list_ids)
        if existing is None:
            created = lists.create_list(schema.display_name, columns)
            list_ids[schema.display_name] = created.id
            changes.append(f"Created the {schema.display_name} list with {len(columns)} columns.")
            continue
        list_ids[schema.display_name] = existing.id
        have = {c.name for c in existing.columns or []}
        for column in columns:
            if column["name"] not in have:
                lists.add_column(existing.id, column)
                changes.append(f"Added the {column['name']} column to the {schema.display_name} list.")
    return changes
