"""SharePoint sites, lists, columns and list items, with delta: state and rules only.

The shapes follow Graph v1.0 (`site`, `list`, `columnDefinition`, `listItem`
with `fields`). Column values are checked roughly as SharePoint does
(`columns.py`: a number column takes numbers, a choice column one of its
choices); `create_item(..., check=False)` skips the checks so tests can plant
the odd data people paste into real lists. The records are in `records.py`,
the delta tokens and pages in `delta.py`.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from graph_emulator.core.dates import iso
from graph_emulator.core.errors import GraphFault, bad_request, not_found
from graph_emulator.core.permissions import SITE_ROLES, SITE_ROLES_ON_CREATE
from graph_emulator.sharepoint.columns import add_column, change_column, checked_fields, new_column
from graph_emulator.sharepoint.delta import delta_page
from graph_emulator.sharepoint.records import Site, SPItem, SPList, etag_key

__all__ = ["SPItem", "SPList", "SharePoint", "Site"]


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
            lst.columns["Title"] = new_column("Title", "text", {"allowMultipleLines": False, "maxLength": 255},
                                              columnGroup="Custom Columns")
            for col in body.get("columns") or []:
                add_column(lst.columns, col)
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
            return add_column(lst.columns, body)

    def update_column(self, site_id: str, list_ref: str, column_ref: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH a column: its display name, description, or its type facet's settings (not its type or name)."""
        lst = self.get_list(site_id, list_ref)
        with self._lock:
            col = next((c for c in lst.columns.values() if column_ref in (c["id"], c["name"])), None)
            if col is None:
                raise not_found("The specified column was not found.")
            change_column(col, body)
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
            values = checked_fields(lst.columns, fields) if check else dict(fields)
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
            values = checked_fields(lst.columns, fields) if check else dict(fields)
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

    def delta_page(self, site_id: str, list_ref: str, token: str | None, query: dict[str, str], *,
                   keep_query: bool = True) -> tuple[SPList, list[SPItem | int], dict[str, Any] | None,
                                                     dict[str, Any] | None, dict[str, str]]:
        """The list, and one page of its changes since `token` (`delta.delta_page` says what each part is)."""
        lst = self.get_list(site_id, list_ref)
        with self._lock:
            return (lst, *delta_page(lst, token, query, keep_query=keep_query))
