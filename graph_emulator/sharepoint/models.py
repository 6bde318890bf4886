"""SharePoint sites, lists, columns and list items, with delta: state and rules only.

The shapes follow Graph v1.0 (`site`, `list`, `columnDefinition`, `listItem`
with `fields`). Column values are checked roughly as SharePoint does (a number
column takes numbers, a choice column one of its choices); `seed_item` skips
the checks so tests can plant the odd data people paste into real lists.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graph_emulator.core.dates import iso
from graph_emulator.core.errors import GraphFault, bad_request, not_found
from graph_emulator.core.permissions import SITE_ROLES, SITE_ROLES_ON_CREATE

__all__ = ["SPItem", "SPList", "SharePoint", "Site"]

SYSTEM_FIELDS = {"id", "ContentType", "Modified", "Created", "AuthorLookupId", "EditorLookupId",
                 "_UIVersionString", "Attachments", "Edit", "LinkTitle", "LinkTitleNoMenu",
                 "ItemChildCount", "FolderChildCount", "_ComplianceFlags", "_ComplianceTag",
                 "_ComplianceTagWrittenTime", "_ComplianceTagUserId", "AppAuthorLookupId",
                 "AppEditorLookupId", "@odata.etag"}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$")


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


def _column(name: str, kind: str, spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    col: dict[str, Any] = {"id": str(uuid.uuid4()), "name": name, "displayName": extra.pop("displayName", name),
                           "columnGroup": "Custom Columns", "description": "", "enforceUniqueValues": False,
                           "hidden": False, "indexed": False, "readOnly": False, "required": False}
    col.update(extra)
    col[kind] = spec or {}
    return col


_KINDS = ("text", "choice", "number", "boolean", "dateTime", "lookup", "personOrGroup", "currency",
          "hyperlinkOrPicture")


def column_kind(col: dict[str, Any]) -> str:
    for kind in _KINDS:
        if kind in col:
            return kind
    return "text"


class SharePoint:
    """Sites and lists of one tenant. Thread-safe: one lock around every change."""

    def __init__(self, clock: Callable[[], float], host: str) -> None:
        self.listeners: list[Callable[[str, str], None]] = []  # (site id, list id) after an item changed
        self._clock = clock
        self._lock = threading.RLock()
        self.host = host
        self.sites: dict[str, Site] = {}

    # --- sites -------------------------------------------------------------
    def add_site(self, name: str, display_name: str) -> Site:
        site_id = f"{self.host},{uuid.uuid4()},{uuid.uuid4()}"
        site = Site(site_id, name, display_name, f"https://{self.host}/sites/{name}", self._clock())
        self.sites[site_id] = site
        return site

    def site(self, site_id: str) -> Site:
        site = self.sites.get(site_id)
        if site is None:
            for candidate in self.sites.values():
                if site_id == candidate.id.split(",")[1] or site_id.endswith(f":/sites/{candidate.name}"):
                    return candidate
            raise not_found("Requested site could not be found")
        return site

    def site_json(self, site: Site) -> dict[str, Any]:
        return {"id": site.id, "name": site.name, "displayName": site.display_name, "webUrl": site.web_url,
                "createdDateTime": iso(site.created), "lastModifiedDateTime": iso(site.created),
                "siteCollection": {"hostname": self.host}}

    # --- Sites.Selected grants ----------------------------------------------
    def grant(self, site_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /sites/{id}/permissions: give applications a role on the site; answers the permission."""
        site = self.site(site_id)
        roles = body.get("roles")
        identities = body.get("grantedToIdentities") or body.get("grantedToIdentitiesV2")
        if not isinstance(roles, list) or not roles or any(r not in SITE_ROLES_ON_CREATE for r in roles):
            raise bad_request("Invalid value for role")  # manage and fullcontrol: POST read/write, then PATCH
        apps = [entry.get("application") for entry in identities or [] if isinstance(entry, dict)]
        named = [a for a in apps if isinstance(a, dict) and isinstance(a.get("id"), str)]
        if not named or len(named) != len(apps):
            raise bad_request("grantedToIdentities must name each application by id.")
        granted = [{"application": {"id": a["id"], "displayName": str(a.get("displayName") or "")}} for a in named]
        permission = {"id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
                      "roles": list(roles), "grantedToIdentitiesV2": granted, "grantedToIdentities": granted}
        with self._lock:
            site.permissions.append(permission)
        return permission

    def regrant(self, site_id: str, permission_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH /sites/{id}/permissions/{id}: change a grant's roles (how manage and fullcontrol are given)."""
        site = self.site(site_id)
        roles = body.get("roles")
        if not isinstance(roles, list) or not roles or any(r not in SITE_ROLES for r in roles):
            raise bad_request("Invalid value for role")
        with self._lock:
            for permission in site.permissions:
                if permission["id"] == permission_id:
                    permission["roles"] = list(roles)
                    return permission
        raise not_found("The permission was not found.")

    def revoke(self, site_id: str, permission_id: str) -> None:
        site = self.site(site_id)
        with self._lock:
            kept = [p for p in site.permissions if p["id"] != permission_id]
            if len(kept) == len(site.permissions):
                raise not_found("The permission was not found.")
            site.permissions[:] = kept

    def app_role(self, site_id: str, client_id: str) -> str | None:
        """The highest role the site's grants give the application `client_id` (None: none, or no such site)."""
        try:
            site = self.site(site_id)
        except GraphFault:
            return None
        held = [role for p in site.permissions for role in p["roles"]
                if any(g["application"]["id"] == client_id for g in p["grantedToIdentitiesV2"])]
        return max(held, key=SITE_ROLES.index, default=None)

    # --- lists -------------------------------------------------------------
    def get_list(self, site_id: str, list_ref: str) -> SPList:
        site = self.site(site_id)
        found = site.lists.get(list_ref)
        if found is None:
            lowered = list_ref.lower()
            found = next((lst for lst in site.lists.values()
                          if lowered in (lst.name.lower(), lst.display_name.lower())), None)
        if found is None:
            raise not_found("The specified list was not found", code="itemNotFound")
        return found

    def create_list(self, site_id: str, body: dict[str, Any]) -> SPList:
        site = self.site(site_id)
        display = body.get("displayName")
        if not isinstance(display, str) or not display.strip():
            raise bad_request("displayName is required")
        with self._lock:
            if any(lst.display_name.lower() == display.lower() for lst in site.lists.values()):
                raise GraphFault(409, "nameAlreadyExists", "The list name is already in use.")
            lst = SPList(str(uuid.uuid4()), re.sub(r"[^A-Za-z0-9]", "", display) or "List", display, self._clock())
            lst.columns["Title"] = _column("Title", "text", {"allowMultipleLines": False, "maxLength": 255},
                                           columnGroup="Custom Columns")
            for col in body.get("columns") or []:
                self._add_column(lst, col)
            site.lists[lst.id] = lst
            return lst

    def list_json(self, site: Site, lst: SPList) -> dict[str, Any]:
        return {"@odata.etag": f'"{lst.id},{len(lst.columns)}"', "id": lst.id, "name": lst.name,
                "displayName": lst.display_name, "description": "", "createdDateTime": iso(lst.created),
                "lastModifiedDateTime": iso(lst.created), "webUrl": f"{site.web_url}/Lists/{lst.name}",
                "list": {"contentTypesEnabled": False, "hidden": False, "template": "genericList"},
                "parentReference": {"siteId": site.id}}

    def add_column(self, site_id: str, list_ref: str, body: dict[str, Any]) -> dict[str, Any]:
        lst = self.get_list(site_id, list_ref)
        with self._lock:
            return self._add_column(lst, body)

    def update_column(self, site_id: str, list_ref: str, column_ref: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH a column: its display name, description, or its type facet's settings (not its type or name)."""
        lst = self.get_list(site_id, list_ref)
        with self._lock:
            col = next((c for c in lst.columns.values() if column_ref in (c["id"], c["name"])), None)
            if col is None:
                raise not_found("The specified column was not found.")
            kind = column_kind(col)
            for key, value in body.items():
                if key in _KINDS:
                    if key != kind or not isinstance(value, dict):
                        raise bad_request(f"The type of column '{col['name']}' cannot be changed.")
                    col[kind] = {**col[kind], **value}
                elif key in ("displayName", "description", "hidden", "required", "indexed", "enforceUniqueValues"):
                    col[key] = value
                elif key not in ("id", "name"):
                    raise bad_request(f"Property '{key}' of a column cannot be changed.")
            return col

    def _add_column(self, lst: SPList, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
            raise bad_request(f"Invalid column name '{name}'.")
        if name in lst.columns or name in SYSTEM_FIELDS:
            raise GraphFault(409, "nameAlreadyExists", f"A column named '{name}' already exists.")
        kinds = [k for k in _KINDS if k in body]
        if len(kinds) != 1:
            raise bad_request("A column definition needs exactly one type facet, such as text or choice.")
        if kinds[0] == "lookup":
            target = (body["lookup"] or {}).get("listId")
            if not target:
                raise bad_request("A lookup column needs lookup.listId.")
        extra = {k: v for k, v in body.items() if k not in _KINDS and k not in {"name", "id"}}
        col = _column(name, kinds[0], dict(body[kinds[0]] or {}), **extra)
        lst.columns[name] = col
        return col

    # --- items -------------------------------------------------------------
    def _stamp(self, lst: SPList, item: SPItem) -> None:
        lst.seq += 1
        item.seq = lst.seq

    def create_item(self, site_id: str, list_ref: str, fields: dict[str, Any], *, check: bool = True,
                    created: float | None = None, silent: bool = False) -> SPItem:
        """`silent` (the control API's, for tests): made, and no delta link, nor any notification, ever reports
        it; only a whole read shows it (a change lost as the issue it tests describes)."""
        lst = self.get_list(site_id, list_ref)
        with self._lock:
            values = self._checked(lst, fields) if check else dict(fields)
            now = self._clock() if created is None else created
            item = SPItem(lst.next_id, values, now, now)
            lst.next_id += 1
            if not silent:  # (silent: seq 0, which only a whole read shows)
                self._stamp(lst, item)
            lst.items[item.id] = item
        if not silent:
            self._changed(site_id, lst)
        return item

    def get_item(self, site_id: str, list_ref: str, item_id: str) -> tuple[SPList, SPItem]:
        lst = self.get_list(site_id, list_ref)
        try:
            item = lst.items[int(item_id)]
        except (ValueError, KeyError):
            raise not_found("The specified item was not found.") from None
        return lst, item

    def update_fields(self, site_id: str, list_ref: str, item_id: str, fields: dict[str, Any],
                      if_match: str | None = None, *, check: bool = True, silent: bool = False) -> SPItem:
        lst, item = self.get_item(site_id, list_ref, item_id)
        with self._lock:
            if if_match and if_match.strip() != "*" and etag_key(if_match) != etag_key(item.etag):
                raise GraphFault(412, "preconditionFailed", f"The request ETag value '{if_match}' does not match "
                                 f"the object's ETag value '{item.etag}'.")
            values = self._checked(lst, fields) if check else dict(fields)
            item.fields.update(values)
            for key in [k for k, v in values.items() if v is None]:
                item.fields.pop(key, None)
            item.version += 1
            item.modified = self._clock()
            if not silent:  # (silent: a new eTag, and no link that has passed the item's last change reports it)
                self._stamp(lst, item)
        if not silent:
            self._changed(site_id, lst)
        return item

    def delete_item(self, site_id: str, list_ref: str, item_id: str, *, silent: bool = False) -> None:
        lst, item = self.get_item(site_id, list_ref, item_id)
        with self._lock:
            del lst.items[item.id]
            if not silent:  # (silent: no tombstone, so no delta link reports it gone)
                lst.seq += 1
                lst.tombstones[item.id] = lst.seq
        if not silent:
            self._changed(site_id, lst)

    def _changed(self, site_id: str, lst: SPList) -> None:
        site = self.site(site_id)
        for listener in list(self.listeners):
            listener(site.id, lst.id)

    def _checked(self, lst: SPList, fields: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(fields, dict):
            raise bad_request("fields must be an object.")
        out: dict[str, Any] = {}
        for key, value in fields.items():
            if key.endswith("@odata.type"):
                continue
            name = key[: -len("LookupId")] if key.endswith("LookupId") else key
            col = lst.columns.get(name)
            if col is None:
                if key in SYSTEM_FIELDS:
                    raise bad_request(f"Field '{key}' is read-only")
                raise bad_request(f"Field '{key}' is not recognized")
            kind = column_kind(col)
            if key.endswith("LookupId") != (kind == "lookup"):
                raise bad_request(f"Field '{key}' is not recognized")
            out[key] = self._check_value(key, kind, col, value)
        return out

    @staticmethod
    def _check_value(key: str, kind: str, col: dict[str, Any], value: Any) -> Any:
        if value is None:
            return None
        if value == "":
            return "" if kind in ("text", "choice") else None
        wrong = bad_request(f"Invalid value for field '{key}'.", code="invalidRequest")
        if kind == "number" or kind == "currency":
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
        if kind == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise wrong
            return value
        if kind == "dateTime":
            if not isinstance(value, str) or not _DATE_RE.match(value):
                raise wrong
            return value
        if kind == "choice":
            spec = col["choice"]
            choices = spec.get("choices") or []
            multi = spec.get("displayAs") == "checkBoxes"
            values = value if isinstance(value, list) else [value]
            if not multi and isinstance(value, list):
                raise wrong
            for one in values:
                if not isinstance(one, str) or (choices and one not in choices and not spec.get("allowTextEntry")):
                    raise wrong
            return list(values) if multi else value
        if kind == "lookup":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(int(value))
            if isinstance(value, str) and value.isdigit():
                return value
            raise wrong
        if not isinstance(value, str):
            raise wrong
        limit = col.get("text", {}).get("maxLength")
        if limit and not col.get("text", {}).get("allowMultipleLines") and len(value) > limit:
            raise bad_request(f"The value of field '{key}' is longer than {limit} characters.")
        return value

    # --- JSON --------------------------------------------------------------
    def item_json(self, site: Site, lst: SPList, item: SPItem, *, expand_fields: bool,
                  field_select: Iterable[str] | None = None, select: Iterable[str] | None = None,
                  in_delta: bool = False) -> dict[str, Any]:
        """A listItem as GET shows it; `in_delta`, as a delta page shows it (listitem-delta's examples): no
        `lastModifiedBy` (delta leaves it out, Microsoft's Q&A confirms) and no `@odata.etag` beside `eTag`."""
        etag = item.etag
        body: dict[str, Any] = {} if in_delta else {"@odata.etag": etag}
        body |= {"createdDateTime": iso(item.created), "eTag": etag, "id": str(item.id),
                 "lastModifiedDateTime": iso(item.modified),
                 "webUrl": f"{site.web_url}/Lists/{lst.name}/{item.id}_.000",
                 "createdBy": {"user": {"displayName": "SharePoint App"}}}
        if not in_delta:
            body["lastModifiedBy"] = {"user": {"displayName": "SharePoint App"}}
        body |= {"parentReference": {"id": lst.id, "siteId": site.id},
                 "contentType": {"id": "0x0100" + lst.id.replace("-", "").upper()[:32], "name": "Item"}}
        if select:
            wanted = set(select)
            body = {k: v for k, v in body.items() if k in wanted or k == "@odata.etag"}
        if expand_fields:
            body["fields"] = self.fields_json(lst, item, field_select)
        return body

    def fields_json(self, lst: SPList, item: SPItem, field_select: Iterable[str] | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"@odata.etag": item.fields_etag}
        for key, value in item.fields.items():
            fields[key] = value
            name = key[: -len("LookupId")] if key.endswith("LookupId") else key
            col = lst.columns.get(name)
            if col is not None and isinstance(value, list) and col.get("choice", {}).get("displayAs") == "checkBoxes":
                fields[f"{key}@odata.type"] = "Collection(Edm.String)"
        fields.update({"id": str(item.id), "ContentType": "Item", "Modified": iso(item.modified),
                       "Created": iso(item.created), "AuthorLookupId": "6", "EditorLookupId": "6",
                       "_UIVersionString": f"{item.version}.0", "Attachments": False, "Edit": "",
                       "ItemChildCount": "0", "FolderChildCount": "0", "_ComplianceFlags": "",
                       "_ComplianceTag": "", "_ComplianceTagWrittenTime": "", "_ComplianceTagUserId": ""})
        if "Title" in item.fields:
            fields["LinkTitleNoMenu"] = fields["LinkTitle"] = item.fields["Title"]
        if field_select:
            wanted = set(field_select) | {"@odata.etag"}
            fields = {k: v for k, v in fields.items() if k.split("@")[0] in wanted}
        return fields

    # --- delta -------------------------------------------------------------
    def expire_delta_links(self, site_id: str) -> int:
        """Make every delta link of the site's lists answer 410, as Graph does when it forgets them."""
        with self._lock:
            lists = self.site(site_id).lists.values()
            for lst in lists:
                lst.generation += 1
            return len(lists)

    @staticmethod
    def encode_token(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    @staticmethod
    def decode_token(token: str) -> dict[str, Any]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded))
            if not isinstance(data, dict):
                raise ValueError
            return data
        except ValueError:
            raise bad_request("Invalid delta token.", code="invalidRequest") from None

    def delta_page(self, site_id: str, list_ref: str, token: str | None, query: dict[str, str], *,
                   keep_query: bool = True) -> tuple[SPList, list[SPItem | int], dict[str, Any] | None,
                                                     dict[str, Any] | None, dict[str, str]]:
        """One page of changes: (list, items or deleted ids, next-page state, delta-link state, the query options).

        A first call's query options (`$expand`, `$select`, `$top`) travel inside the tokens it hands out, as
        Graph's opaque `?token=` links carry them; with `keep_query` False they are dropped (the calls after the
        first then read items without `fields`, which Graph does not promise never to do). Exactly one of the two
        states is returned. A token from an older generation of the list raises 410, as Graph does when it can
        no longer say what changed.
        """
        lst = self.get_list(site_id, list_ref)
        with self._lock:
            base = {"l": lst.id, "g": lst.generation}
            if token == "latest":  # noqa: S105 - a delta token word, not a password
                return lst, [], None, {**base, "f": lst.seq, "q": query if keep_query else {}}, query
            state: dict[str, Any] = self.decode_token(token) if token else {**base, "f": 0, "w": 1, "q": query}
            if state.get("l") != lst.id:
                raise bad_request("The delta token belongs to another list.")
            saved = state.get("q")
            saved = saved if isinstance(saved, dict) else {}
            options = {str(k): str(v) for k, v in saved.items()} | query  # options on the call itself win
            carried = options if keep_query else {}
            if state.get("g") != lst.generation:
                raise GraphFault(410, "resyncChangesApplyDifferences",
                                 "The delta token is no longer valid: replace your copy of the list with the "
                                 "server's, using the link in the Location header.",
                                 {"x-restart-token": self.encode_token({**base, "f": 0, "w": 1, "q": carried})})
            try:
                since = int(state.get("f") or 0)
                upto = int(state.get("t") or lst.seq)
                after = int(state["a"]) if state.get("a") is not None else None
                top = min(int(options.get("$top") or 200), 5000)
            except (TypeError, ValueError):
                raise bad_request("Invalid delta token.") from None
            if top < 1:
                raise bad_request("Invalid value for $top.", code="BadRequest")
            whole = bool(state.get("w"))  # a whole enumeration: every item, whatever its seq
            changed: list[tuple[int, SPItem | int]] = [(i.id, i) for i in lst.items.values()
                                                       if whole or i.seq > since]
            if since and not whole:
                changed += [(item_id, item_id) for item_id, s in lst.tombstones.items() if s > since]
            changed.sort(key=lambda pair: pair[0])
            if after is not None:
                changed = [pair for pair in changed if pair[0] > after]
            page = changed[:top]
            if len(changed) > top:
                return lst, [p[1] for p in page], {**base, "f": since, "t": upto, "a": page[-1][0], "q": carried} | (
                    {"w": 1} if whole else {}), None, options
            return lst, [p[1] for p in page], None, {**base, "f": upto, "q": carried}, options
