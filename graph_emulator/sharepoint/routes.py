"""SharePoint routes: sites, lists, columns, list items (with `fields`, `$expand`, `$select`, `$top`) and delta."""

from __future__ import annotations

import re
from typing import Any

from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault, bad_request
from graph_emulator.core.http import Call, Reply, Route, parse_select
from graph_emulator.sharepoint.delta import encode_token
from graph_emulator.sharepoint.records import Site, SPItem, SPList

__all__ = ["SharePointRoutes", "sharepoint_routes"]


def _expand_fields(raw: str | None) -> tuple[bool, list[str] | None]:
    """`$expand=fields` or `$expand=fields($select=A,B)` -> (expand?, selected field names)."""
    if not raw:
        return False, None
    match = re.fullmatch(r"\s*fields(?:\s*\(\s*\$select\s*=\s*([^)]*)\))?\s*", raw)
    if not match:
        raise bad_request(f"Parsing OData Select and Expand failed: Could not find a property named "
                          f"'{raw.split('(')[0]}' on type 'microsoft.graph.listItem'.", code="BadRequest")
    return True, parse_select(match.group(1))


class SharePointRoutes:
    """One handler per SharePoint route, each over `backend.sharepoint` (looked up per call: reset swaps it)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # --- sites and lists ------------------------------------------------------
    def get_site(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        return Reply(200, sp.site_json(sp.site(call.params["site"])))

    def get_lists(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        return Reply(200, {"value": [sp.list_json(site, lst) for lst in site.lists.values()]})

    def post_list(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst = sp.create_list(site.id, call.json())
        return Reply(201, sp.list_json(site, lst))

    def get_list(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst = sp.get_list(site.id, call.params["list"])
        body = sp.list_json(site, lst)
        if "columns" in (call.query.get("$expand") or ""):
            body["columns"] = list(lst.columns.values())
        return Reply(200, body)

    def get_columns(self, call: Call) -> Reply:
        lst = self.backend.sharepoint.get_list(call.params["site"], call.params["list"])
        return Reply(200, {"value": list(lst.columns.values())})

    def patch_column(self, call: Call) -> Reply:
        return Reply(200, self.backend.sharepoint.update_column(call.params["site"], call.params["list"],
                                                                call.params["column"], call.json_object()))

    def post_column(self, call: Call) -> Reply:
        return Reply(201, self.backend.sharepoint.add_column(call.params["site"], call.params["list"], call.json()))

    # --- items ------------------------------------------------------------
    def get_items(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst = sp.get_list(site.id, call.params["list"])
        expand, field_select = _expand_fields(call.query.get("$expand"))
        select = parse_select(call.query.get("$select"))
        top = call.top()
        after = call.query.get("$skiptoken")
        after_id = int(after[len("Paged=TRUE&p_ID="):]) if after and after.startswith("Paged=TRUE&p_ID=") else 0
        ids = sorted(i for i in lst.items if i > after_id)
        page = ids[:top]
        body: dict[str, Any] = {
            "@odata.context": f"{call.base}/v1.0/$metadata#sites('{site.id}')/lists('{lst.id}')/items",
            "value": [sp.item_json(site, lst, lst.items[i], expand_fields=expand, field_select=field_select,
                                   select=select) for i in page]}
        if len(ids) > top:
            query = {k: v for k, v in call.query.items() if k != "$skiptoken"}
            body["@odata.nextLink"] = call.link(call.path, **query, **{"$skiptoken": f"Paged=TRUE&p_ID={page[-1]}"})
        return Reply(200, body)

    def post_item(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            raise bad_request("The request body must have a fields object.")
        item = sp.create_item(site.id, call.params["list"], body["fields"])
        lst = sp.get_list(site.id, call.params["list"])
        return Reply(201, sp.item_json(site, lst, item, expand_fields=True))

    def get_item(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        lst, item = sp.get_item(site.id, call.params["list"], call.params["item"])
        expand, field_select = _expand_fields(call.query.get("$expand"))
        return Reply(200, sp.item_json(site, lst, item, expand_fields=expand, field_select=field_select,
                                       select=parse_select(call.query.get("$select"))))

    def get_item_fields(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        lst, item = sp.get_item(call.params["site"], call.params["list"], call.params["item"])
        return Reply(200, sp.fields_json(lst, item, parse_select(call.query.get("$select"))))

    def patch_fields(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        fields = call.json()
        item = sp.update_fields(call.params["site"], call.params["list"], call.params["item"], fields,
                                call.headers.get("if-match"))
        lst = sp.get_list(call.params["site"], call.params["list"])
        # The reference's example answer (listitem-update) shows the fields and no eTag, but is marked as
        # shortened, and every read of a fieldValueSet carries `@odata.etag`: so this answer carries it too
        # ([docs: example shortened]; the service guesses the next version only when an answer has none).
        body = sp.fields_json(lst, item)
        if not self.backend.tenant.write_answers_etag:  # as the example shows it
            body.pop("@odata.etag", None)
        return Reply(200, body)

    def patch_item(self, call: Call) -> Reply:
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            raise bad_request("Only fields can be changed on a list item.")
        item = sp.update_fields(site.id, call.params["list"], call.params["item"], body["fields"],
                                call.headers.get("if-match"))
        lst = sp.get_list(site.id, call.params["list"])
        return Reply(200, sp.item_json(site, lst, item, expand_fields=True))

    def delete_item(self, call: Call) -> Reply:
        self.backend.sharepoint.delete_item(call.params["site"], call.params["list"], call.params["item"])
        return Reply(204)

    def get_delta(self, call: Call) -> Reply:
        """Graph's links are `.../items/delta?token=<opaque>`: the first call's options live inside the token."""
        sp = self.backend.sharepoint
        site = sp.site(call.params["site"])
        options = {k: v for k, v in call.query.items() if k != "token"}
        try:
            lst, changes, next_state, delta_state, options = sp.delta_page(
                site.id, call.params["list"], call.query.get("token"), options,
                keep_query=self.backend.tenant.delta_keeps_query)
        except GraphFault as fault:
            restart = fault.headers.pop("x-restart-token", None)
            if restart:  # where to start again: a new enumeration, as the reference's 410 says
                fault.headers["Location"] = call.link(call.path, token=restart)
            raise
        body: dict[str, Any] = {
            "@odata.context": f"{call.base}/v1.0/$metadata#Collection(microsoft.graph.listItem)",
            "value": self._changes_json(site, lst, changes, options)}
        return Reply(200, body | self._delta_link(call, next_state, delta_state))

    def _changes_json(self, site: Site, lst: SPList, changes: list[SPItem | int],
                      options: dict[str, str]) -> list[dict[str, Any]]:
        """A delta page's `value`: each changed item as the page's options ask, each deleted one as its id."""
        expand, field_select = _expand_fields(options.get("$expand"))
        select = parse_select(options.get("$select"))
        value: list[dict[str, Any]] = []
        for change in changes:
            if isinstance(change, int):
                value.append({"id": str(change), "deleted": {"state": "deleted"}})
            else:
                value.append(self.backend.sharepoint.item_json(site, lst, change, expand_fields=expand,
                                                               field_select=field_select, select=select,
                                                               in_delta=True))
        return value

    def _delta_link(self, call: Call, next_state: dict[str, Any] | None,
                    delta_state: dict[str, Any] | None) -> dict[str, str]:
        """The page's nextLink (more to come) or its deltaLink (the changes after this one)."""
        if next_state is not None:
            return {"@odata.nextLink": call.link(call.path, token=encode_token(next_state))}
        if call.query.get("token") == "latest" and self.backend.tenant.latest_says_latest:
            return {"@odata.deltaLink": call.link(call.path, token="latest")}  # noqa: S106 - as reported for drives
        assert delta_state is not None
        return {"@odata.deltaLink": call.link(call.path, token=encode_token(delta_state))}

    # --- Sites.Selected grants -------------------------------------------------
    def get_permissions(self, call: Call) -> Reply:
        site = self.backend.sharepoint.site(call.params["site"])
        return Reply(200, {"@odata.context": call.context(f"sites('{site.id}')/permissions"),
                           "value": list(site.permissions)})

    def post_permission(self, call: Call) -> Reply:
        return Reply(201, self.backend.sharepoint.grant(call.params["site"], call.json_object()))

    def patch_permission(self, call: Call) -> Reply:
        return Reply(200, self.backend.sharepoint.regrant(call.params["site"], call.params["permission"],
                                                          call.json_object()))

    def delete_permission(self, call: Call) -> Reply:
        self.backend.sharepoint.revoke(call.params["site"], call.params["permission"])
        return Reply(204)

    def routes(self) -> list[Route]:
        site_path = "/sites/{site}"
        list_path = site_path + "/lists/{list}"
        item_path = list_path + "/items/{item}"
        return [
            Route("GET", site_path, self.get_site),
            Route("GET", site_path + "/permissions", self.get_permissions),
            Route("POST", site_path + "/permissions", self.post_permission),
            Route("PATCH", site_path + "/permissions/{permission}", self.patch_permission),
            Route("DELETE", site_path + "/permissions/{permission}", self.delete_permission),
            Route("GET", site_path + "/lists", self.get_lists),
            Route("POST", site_path + "/lists", self.post_list),
            Route("GET", list_path, self.get_list),
            Route("GET", list_path + "/columns", self.get_columns),
            Route("POST", list_path + "/columns", self.post_column),
            Route("PATCH", list_path + "/columns/{column}", self.patch_column),
            Route("GET", list_path + "/items/delta", self.get_delta),
            Route("GET", list_path + "/items", self.get_items),
            Route("POST", list_path + "/items", self.post_item),
            Route("GET", item_path, self.get_item),
            Route("GET", item_path + "/fields", self.get_item_fields),
            Route("PATCH", item_path + "/fields", self.patch_fields),
            Route("PATCH", item_path, self.patch_item),
            Route("DELETE", item_path, self.delete_item),
        ]


def sharepoint_routes(backend: Backend) -> list[Route]:
    """The SharePoint part of Graph v1.0, served from `backend.sharepoint`."""
    return SharePointRoutes(backend).routes()
