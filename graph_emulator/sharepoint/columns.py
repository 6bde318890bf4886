"""SharePoint columns: their definitions (`columnDefinition`, one type facet each) and the checks a field value
meets before it is stored, roughly as SharePoint makes them (a number column takes numbers, a choice column one
of its choices). Plain functions over a list's `columns` (name -> definition)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from graph_emulator.core.errors import GraphFault, bad_request

__all__ = ["KINDS", "SYSTEM_FIELDS", "add_column", "change_column", "check_value", "checked_fields", "column_kind",
           "new_column"]

SYSTEM_FIELDS = {"id", "ContentType", "Modified", "Created", "AuthorLookupId", "EditorLookupId",
                 "_UIVersionString", "Attachments", "Edit", "LinkTitle", "LinkTitleNoMenu",
                 "ItemChildCount", "FolderChildCount", "_ComplianceFlags", "_ComplianceTag",
                 "_ComplianceTagWrittenTime", "_ComplianceTagUserId", "AppAuthorLookupId",
                 "AppEditorLookupId", "@odata.etag"}
KINDS = ("text", "choice", "number", "boolean", "dateTime", "lookup", "personOrGroup", "currency",
         "hyperlinkOrPicture")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")


def new_column(name: str, kind: str, spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    col: dict[str, Any] = {"id": str(uuid.uuid4()), "name": name, "displayName": extra.pop("displayName", name),
                           "columnGroup": "Custom Columns", "description": "", "enforceUniqueValues": False,
                           "hidden": False, "indexed": False, "readOnly": False, "required": False}
    col.update(extra)
    col[kind] = spec or {}
    return col


def column_kind(col: dict[str, Any]) -> str:
    for kind in KINDS:
        if kind in col:
            return kind
    return "text"


def add_column(columns: dict[str, dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """A new column from a POSTed definition, added to `columns`."""
    name = body.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
        raise bad_request(f"Invalid column name '{name}'.")
    if name in columns or name in SYSTEM_FIELDS:
        raise GraphFault(409, "nameAlreadyExists", f"A column named '{name}' already exists.")
    kinds = [k for k in KINDS if k in body]
    if len(kinds) != 1:
        raise bad_request("A column definition needs exactly one type facet, such as text or choice.")
    if kinds[0] == "lookup":
        target = (body["lookup"] or {}).get("listId")
        if not target:
            raise bad_request("A lookup column needs lookup.listId.")
    extra = {k: v for k, v in body.items() if k not in KINDS and k not in {"name", "id"}}
    col = new_column(name, kinds[0], dict(body[kinds[0]] or {}), **extra)
    columns[name] = col
    return col


def change_column(col: dict[str, Any], body: dict[str, Any]) -> None:
    """A PATCH of a column: its display name, description, or its type facet's settings (not its type or name)."""
    kind = column_kind(col)
    for key, value in body.items():
        if key in KINDS:
            if key != kind or not isinstance(value, dict):
                raise bad_request(f"The type of column '{col['name']}' cannot be changed.")
            col[kind] = {**col[kind], **value}
        elif key in ("displayName", "description", "hidden", "required", "indexed", "enforceUniqueValues"):
            col[key] = value
        elif key not in ("id", "name"):
            raise bad_request(f"Property '{key}' of a column cannot be changed.")


def checked_fields(columns: dict[str, dict[str, Any]], fields: dict[str, Any]) -> dict[str, Any]:
    """The field values as they would be stored, each checked against its column (Graph's 400 for the first that
    is not a column, is read-only, or does not fit)."""
    if not isinstance(fields, dict):
        raise bad_request("fields must be an object.")
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key.endswith("@odata.type"):
            continue
        name = key[: -len("LookupId")] if key.endswith("LookupId") else key
        col = columns.get(name)
        if col is None:
            if key in SYSTEM_FIELDS:
                raise bad_request(f"Field '{key}' is read-only")
            raise bad_request(f"Field '{key}' is not recognized")
        kind = column_kind(col)
        if key.endswith("LookupId") != (kind == "lookup"):
            raise bad_request(f"Field '{key}' is not recognized")
        out[key] = check_value(key, kind, col, value)
    return out


def check_value(key: str, kind: str, col: dict[str, Any], value: Any) -> Any:
    """One field's value as stored (a number as a float, a lookup id as a string), or Graph's 400."""
    if value is None:
        return None
    if value == "":
        return "" if kind in ("text", "choice") else None
    wrong = bad_request(f"Invalid value for field '{key}'.", code="invalidRequest")
    if kind == "number" or kind == "currency":
        return _number(value, wrong)
    if kind == "boolean":
        return _boolean(value, wrong)
    if kind == "dateTime":
        if not isinstance(value, str) or not _DATE_RE.match(value):
            raise wrong
        return value
    if kind == "choice":
        return _choice(col["choice"], value, wrong)
    if kind == "lookup":
        return _lookup(value, wrong)
    return _text(key, col, value, wrong)


def _number(value: Any, wrong: GraphFault) -> float:
    if isinstance(value, bool):
        raise wrong
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise wrong from None
    if not isinstance(value, (int, float)):
        raise wrong
    return float(value)


def _boolean(value: Any, wrong: GraphFault) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise wrong
    return value


def _choice(spec: dict[str, Any], value: Any, wrong: GraphFault) -> Any:
    choices = spec.get("choices") or []
    multi = spec.get("displayAs") == "checkBoxes"
    values = value if isinstance(value, list) else [value]
    if not multi and isinstance(value, list):
        raise wrong
    for one in values:
        if not isinstance(one, str) or (choices and one not in choices and not spec.get("allowTextEntry")):
            raise wrong
    return list(values) if multi else value


def _lookup(value: Any, wrong: GraphFault) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, str) and value.isdigit():
        return value
    raise wrong


def _text(key: str, col: dict[str, Any], value: Any, wrong: GraphFault) -> str:
    if not isinstance(value, str):
        raise wrong
    limit = col.get("text", {}).get("maxLength")
    if limit and not col.get("text", {}).get("allowMultipleLines") and len(value) > limit:
        raise bad_request(f"The value of field '{key}' is longer than {limit} characters.")
    return value
