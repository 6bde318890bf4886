"""`python -m coprod provision`: create the five lists, or add what they lack. Safe to re-run."""

from __future__ import annotations

import copy
from typing import Any

from config import LISTS, ListSchema
from graph_client import Column, SharePointLists

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
        have = {c.name: c for c in existing.columns or []}
        for column in columns:
            current = have.get(column["name"])
            if current is None:
                lists.add_column(existing.id, column)
                changes.append(f"Added the {column['name']} column to the {schema.display_name} list.")
            elif "choice" in column:
                changes += _add_missing_choices(lists, existing.id, schema.display_name, column, current)
    return changes


def _add_missing_choices(lists: SharePointLists, list_id: str, list_name: str, wanted: dict[str, Any],
                         current: Column) -> list[str]:
    """A choice column keeps the choices an admin added; the ones the service relies on are added to it."""
    spec = (current.model_extra or {}).get("choice")
    if not isinstance(spec, dict) or current.id is None:
        return []  # not a choice column any more: an admin's decision, and the rules read it as text anyway
    have = [c for c in spec.get("choices") or [] if isinstance(c, str)]
    missing = [c for c in wanted["choice"]["choices"] if c not in have]
    if not missing:
        return []
    lists.update_column(list_id, current.id, {"choice": {"choices": have + missing}}, name=current.name)
    return [f"Added the choices {', '.join(missing)} to the {current.name} column of the {list_name} list."]
