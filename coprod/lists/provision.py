"""`python -m coprod provision`: create the lists, or add what they lack. Safe to re-run.

Each list is created bare, then each of its columns with a request of its own, so one column SharePoint
refuses (multi-choice "checkBoxes" columns are reported to fail: microsoft-graph-docs issue 21021) costs that
column only: the others are made, and the report names each one that failed and why. A lookup column whose
target list could not be made is skipped and named too. Running it again adds what is still missing.

Only Graph's refusals are taken step by step: no token, or no answer from Graph at all, stops provisioning
with the error (the CLI's one line). A 403 means the app may not create lists or columns at all (it needs
Sites.Manage.All, or a Sites.Selected `manage` grant on the site): provisioning stops at the first one and
says so in plain words.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from config import LISTS, ListSchema
from coprod.permissions import explain
from graph_client import Column, GraphResponseError, SharePointLists

__all__ = ["Provisioned", "provision"]


@dataclass
class Provisioned:
    """What provisioning changed, and what it could not do (one plain line each)."""

    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.changes + self.problems


class _Refused(Exception):
    """The app may not make lists or columns at all (403): nothing further is tried."""


def provision(lists: SharePointLists) -> Provisioned:
    """Make the site's lists match the schemas; returns what changed (nothing when all was in place) and what
    could not be done."""
    report = Provisioned()
    list_ids: dict[str, str] = {}
    try:
        for schema in LISTS:  # Sessions first: the Registrations lookup needs its id
            _one_list(lists, schema, list_ids, report)
    except _Refused:
        pass
    return report


def _attempt(report: Provisioned, what: str, error: GraphResponseError) -> None:
    """Note a failed step; a 403 stops provisioning (every further step would meet it too)."""
    refused = explain("provision", error)
    if refused:
        report.problems.append(refused)
        raise _Refused() from error
    report.problems.append(f"Could not {what}: {error}")


def _one_list(lists: SharePointLists, schema: ListSchema, list_ids: dict[str, str], report: Provisioned) -> None:
    name = schema.display_name
    try:
        existing = lists.find_list(name)
        created = existing is None
        if existing is None:
            existing = lists.create_list(name)
    except GraphResponseError as error:
        _attempt(report, f"make the {name} list", error)
        return
    list_ids[name] = existing.id
    have = {c.name: c for c in existing.columns or []}
    made = 0
    for column in copy.deepcopy(list(schema.columns)):
        column_name = column["name"]
        lookup = column.get("lookup")
        if lookup is not None:
            target = lookup.get("listId")
            if target not in list_ids:
                if column_name not in have:
                    report.problems.append(f"Skipped the {column_name} column of the {name} list: it looks up the "
                                           f"{target} list, which could not be made.")
                continue
            lookup["listId"] = list_ids[target]
        current = have.get(column_name)
        try:
            if current is None:
                lists.add_column(existing.id, column)
                made += 1
                if not created:
                    report.changes.append(f"Added the {column_name} column to the {name} list.")
            elif "choice" in column:
                report.changes += _add_missing_choices(lists, existing.id, name, column, current)
        except GraphResponseError as error:
            _attempt(report, f"add the {column_name} column to the {name} list", error)
    if created:
        total = len(schema.columns)
        report.changes.append(f"Created the {name} list with {total} columns." if made == total else
                              f"Created the {name} list with {made} of its {total} columns.")


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
