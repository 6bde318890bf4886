"""SharePoint lists through Graph: lists, columns, items, delta and batched field updates."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import ValidationError

from graph_client import _pages as pages
from graph_client._client import BatchRequest, GraphClient
from graph_client._errors import (
    BadRequestError,
    GoneError,
    InvalidResponseError,
    NotFoundError,
    PreconditionFailedError,
)
from graph_client._models import BatchResponse, Column, ListInfo, ListItem, Page, Site, same_etag

__all__ = ["DeltaResult", "FieldUpdate", "KnownEtags", "SharePointLists", "says_latest"]

log = logging.getLogger("graph_client.lists")
ItemPage = Page[ListItem]
# The eTags the caller already holds, for the given item ids of a list: an item delta returns at one of these
# eTags is one the caller has seen (often its own write coming back), so its fields are not read.
KnownEtags = Callable[[str, Collection[str]], Mapping[str, str | None]]
READ_ONE_BY_ONE = 400  # changed items up to this many are read in `$batch`es; more, by reading the list's pages


def says_latest(link: str) -> bool:
    """Whether a delta link is one that says `token=latest` itself. Saved, it would report nothing ever again: each
    read of it starts from that moment. Reported for drives (microsoft-graph-docs issue 2317); never saved."""
    query = parse_qs(urlsplit(link).query)
    return any(value.strip().lower() == "latest" for value in query.get("token", []))


@dataclass
class DeltaResult:
    """What changed in a list since a delta link.

    `changed` holds each item once, in its latest state (but those at an eTag the caller holds: `known`, ids
    alone, their fields never read); `deleted` the ids
    that are gone. `full` is True when this is a whole enumeration (the first
    run, or Graph answered 410 and we started again): `changed` then holds
    every item the list had while it was read; an item missing from it may
    have been added since (only a read of that item says whether it is gone).
    `missing`: the list is not on the site (one of the `optional` lists `deltas` was given); nothing else is set.
    """

    changed: dict[str, ListItem] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    delta_link: str = ""
    full: bool = False
    pages: int = 0
    reread: int = 0  # changed items whose fields were read (delta pages carry no fields)
    missing: bool = False
    known: set[str] = field(default_factory=set)  # changed items at an eTag the caller holds: not in `changed`
    drift: int = 0  # differences a whole read found that the change feed never reported (`read_changes`)


@dataclass(frozen=True)
class FieldUpdate:
    """Columns to write on one item; `etag` (when given) makes the write conditional."""

    item_id: str
    fields: dict[str, Any]
    etag: str | None = None


class SharePointLists:
    """Typed list operations on one site."""

    def __init__(self, client: GraphClient, site_id: str, *, page_size: int = 5000) -> None:
        self.client = client
        self.site_id = site_id
        self.page_size = page_size

    def _list_path(self, list_id: str) -> str:
        return f"/sites/{self.site_id}/lists/{quote(list_id, safe='')}"

    def site(self) -> Site:
        """The site itself (its name and web address)."""
        return self.client.get("read the site", f"/sites/{self.site_id}", Site)

    # --- lists and columns -------------------------------------------------
    def find_list(self, display_name: str) -> ListInfo | None:
        try:
            return self.client.get(f"read the {display_name} list", self._list_path(display_name), ListInfo,
                                   params={"$expand": "columns"})
        except NotFoundError:
            return None

    def create_list(self, display_name: str, columns: list[dict[str, Any]] | None = None) -> ListInfo:
        """A new generic list; with `columns`, in the same request (one refused column then refuses the list)."""
        operation = f"create the {display_name} list"
        body: dict[str, Any] = {"displayName": display_name, "list": {"template": "genericList"}}
        if columns:
            body["columns"] = columns
        response = self.client.send(operation, "POST", f"/sites/{self.site_id}/lists", json=body)
        return self.client.parse(operation, response, ListInfo)

    def add_column(self, list_id: str, column: dict[str, Any]) -> Column:
        operation = f"add column {column.get('name')}"
        response = self.client.send(operation, "POST", f"{self._list_path(list_id)}/columns", json=column)
        return self.client.parse(operation, response, Column)

    def update_column(self, list_id: str, column_id: str, changes: dict[str, Any], *, name: str = "") -> Column:
        operation = f"update column {name or column_id}"
        response = self.client.send(operation, "PATCH", f"{self._list_path(list_id)}/columns/{column_id}",
                                    json=changes)
        return self.client.parse(operation, response, Column)

    # --- items -------------------------------------------------------------
    def iter_items(self, list_id: str, *, label: str = "list") -> Iterator[ListItem]:
        """Every item with its fields, page by page."""
        for page in self.client.pages(f"read {label} items", f"{self._list_path(list_id)}/items", ItemPage,
                                      params={"$expand": "fields", "$top": str(self.page_size)}):
            yield from page.value

    def etags(self, list_id: str, *, label: str = "list") -> dict[str, str | None]:
        """Every item's id and eTag, page by page, without their fields: what a whole read to hold against a
        mirror needs (`$select` on listItem's own properties, as the list-list-items reference allows)."""
        found: dict[str, str | None] = {}
        for page in self.client.pages(f"read {label} items", f"{self._list_path(list_id)}/items", ItemPage,
                                      params={"$select": "id,eTag", "$top": str(self.page_size)}):
            found.update((item.id, item.etag) for item in page.value)
        return found

    def get_item(self, list_id: str, item_id: str, *, label: str = "list") -> ListItem:
        return self.client.get(f"read a {label} item", f"{self._list_path(list_id)}/items/{item_id}", ListItem,
                               params={"$expand": "fields"})

    def read_items(self, list_id: str, item_ids: Iterable[str], *, label: str = "list") -> dict[str, ListItem | None]:
        """Several items with their fields, in `$batch`es; None for one that is gone. Other failures raise."""
        requests = [BatchRequest(item_id, "GET", f"{self._list_path(list_id)}/items/{item_id}?$expand=fields")
                    for item_id in dict.fromkeys(item_ids)]
        if not requests:
            return {}
        operation = f"read {label} items"
        answers = self.client.batch(operation, requests)
        found: dict[str, ListItem | None] = {}
        for request in requests:
            answer = answers[request.id]
            if answer.status == 404:
                found[request.id] = None
                continue
            self.client.raise_for_entry(operation, answer)
            try:
                found[request.id] = ListItem.model_validate(answer.body)
            except ValidationError as exc:
                raise InvalidResponseError(operation, answer.status, "application/json",
                                           f"unexpected shape: {exc.errors()[0]['msg']}") from None
        return found

    def first_item_id(self, list_id: str, *, label: str = "list") -> str | None:
        """The id of one item of the list (any), or None when it is empty: one small read."""
        page = self.client.get(f"read {label} items", f"{self._list_path(list_id)}/items", ItemPage,
                               params={"$top": "1", "$select": "id"})
        return page.value[0].id if page.value else None

    def may_write(self, list_id: str, item_id: str, *, label: str = "list") -> bool | None:
        """Whether the app may write items of the list, shown without writing: an update of no fields, on the
        condition of an eTag no item can have. Graph answers 412 (the condition failed: the app may write, and
        nothing changed) or 403 (it may not: raises ForbiddenError). None when the answer shows neither."""
        impossible = '"{00000000-0000-0000-0000-000000000000},0"'
        try:
            self.client.send(f"try a write to {label} items", "PATCH",
                             f"{self._list_path(list_id)}/items/{item_id}/fields", json={},
                             headers={"If-Match": impossible}, idempotent=True)
        except PreconditionFailedError:
            return True
        except BadRequestError:
            return None
        return True  # no condition was checked, and no field was sent: still nothing changed

    def create_item(self, list_id: str, fields: dict[str, Any], *, label: str = "list") -> ListItem:
        operation = f"add a {label} item"
        response = self.client.send(operation, "POST", f"{self._list_path(list_id)}/items", json={"fields": fields})
        return self.client.parse(operation, response, ListItem)

    def delete_item(self, list_id: str, item_id: str, *, label: str = "list") -> None:
        with contextlib.suppress(NotFoundError):  # already gone: what we wanted
            self.client.send(f"delete a {label} item", "DELETE", f"{self._list_path(list_id)}/items/{item_id}")

    def update_fields(self, list_id: str, updates: Iterable[FieldUpdate], *, label: str = "list"
                      ) -> dict[str, BatchResponse]:
        """PATCH the fields of many items in `$batch`es; returns each item's answer by item id."""
        requests = []
        for update in updates:
            headers = {"If-Match": update.etag} if update.etag else {}
            requests.append(BatchRequest(update.item_id, "PATCH",
                                         f"{self._list_path(list_id)}/items/{update.item_id}/fields",
                                         update.fields, headers))
        if not requests:
            return {}
        return self.client.batch(f"update {label} items", requests)

    # --- delta ---------------------------------------------------------------
    def _delta_start(self, list_id: str) -> str:
        return f"{self._list_path(list_id)}/items/delta?$expand=fields&$top={self.page_size}"

    def latest(self, list_id: str, *, fields: bool, label: str = "list") -> str:
        """A delta link for the changes from now on (`token=latest`), its pages with the items' fields or
        without them (then `_fill_fields` reads those of the items whose eTag the caller does not hold)."""
        params = {"token": "latest", "$top": str(self.page_size)} | ({"$expand": "fields"} if fields else {})
        operation = f"read {label} changes"
        page = self.client.get(operation, f"{self._list_path(list_id)}/items/delta", ItemPage, params=params)
        if not page.delta_link:
            raise InvalidResponseError(operation, 200, "application/json", "token=latest gave no deltaLink")
        if says_latest(page.delta_link):  # it would mean "from now" again each time it is read: nothing, ever
            raise InvalidResponseError(operation, 200, "application/json", "token=latest gave back token=latest")
        return page.delta_link

    def changed_since(self, list_id: str, delta_link: str, *, label: str = "list") -> bool:
        """Whether anything changed in the list since `delta_link` (one page read; a 410 counts as a change)."""
        try:
            page = self.client.get(f"read {label} changes", delta_link, ItemPage)
        except GoneError:
            return True
        return bool(page.value) or page.next_link is not None

    def delta(self, list_id: str, delta_link: str | None, *, label: str = "list",
              known: KnownEtags | None = None) -> DeltaResult:
        """Changes since `delta_link` (None: every item), with their fields. A 410 restarts as a full enumeration.
        `known`: see `deltas`."""
        return self._follow(list_id, DeltaResult(full=delta_link is None), delta_link or self._delta_start(list_id),
                            None, label, known)

    def deltas(self, starts: Sequence[tuple[str, str | None, str]], *,
               known: KnownEtags | None = None, optional: Collection[str] = ()) -> list[DeltaResult]:
        """Changes in several lists, `(list id, delta link or None, label)` each, in one request when nothing changed.

        The first page of every list comes in one `$batch`; further pages (a
        big change, a first run) are followed list by list. Changed items come
        with their fields, except those at an eTag `known` says the caller
        holds (in `DeltaResult.known`; never on a full enumeration). A list in `optional` that is not on the
        site (404) gives a result that says so (`missing`) rather than an error for them all.
        """
        requests = [BatchRequest(str(n), "GET", self.client.relative(link or self._delta_start(list_id)))
                    for n, (list_id, link, _label) in enumerate(starts)]
        answers = self.client.batch("read list changes", requests)
        results = []
        for request, (list_id, link, label) in zip(requests, starts, strict=True):
            answer = answers[request.id]
            result = DeltaResult(full=link is None)
            if answer.status == 410:  # the saved link is too old: delta() starts again, as Graph asks
                results.append(self.delta(list_id, link, label=label, known=known))
                continue
            # a list that is not on the site: 404 (itemNotFound), as for any resource that doesn't exist
            # (learn.microsoft.com/graph/errors); the emulator answers so too (tests/flows/test_heard.py)
            if answer.status == 404 and list_id in optional:
                results.append(DeltaResult(missing=True))
                continue
            self.client.raise_for_entry(f"read {label} changes", answer)
            results.append(self._follow(list_id, result, request.url, answer.body, label, known))
        return results

    def _follow(self, list_id: str, result: DeltaResult, link: str, page: Any, label: str,
                known: KnownEtags | None = None) -> DeltaResult:
        """Read delta pages from `link` (or from `page`, its JSON already read) to the deltaLink.

        Pages are read as plain JSON (`_page`): an item with its fields becomes a `ListItem`, one without (a page
        of our own writes coming back holds thousands) stays an id and an eTag, in `bare`, until `_fill_fields`
        tells whether the caller holds it."""
        operation = f"read {label} changes"
        restarts = 0
        bare: dict[str, str | None] = {}
        while True:
            if page is None:
                try:
                    page = self._read_page(operation, link)
                except GoneError as gone:
                    restarts += 1
                    if restarts > 2:
                        raise
                    log.warning("%s: Graph no longer honours the saved delta link (%s); reading the whole list "
                                "again", operation, gone.code)
                    result, bare = DeltaResult(full=True), {}
                    link = gone.location or self._delta_start(list_id)
                    continue
            value, next_link, delta_link = pages.page(operation, page)
            result.pages += 1
            for raw in value:  # the last occurrence of an item wins
                item_id = raw["id"]
                if raw.get("deleted") is not None:
                    result.changed.pop(item_id, None)
                    bare.pop(item_id, None)
                    result.deleted.add(item_id)
                    continue
                if result.deleted:  # (tested first: a page of thousands of our writes has none of these)
                    result.deleted.discard(item_id)
                if "fields" in raw:
                    bare.pop(item_id, None)
                    result.changed[item_id] = pages.item(operation, raw)
                else:
                    if result.changed:
                        result.changed.pop(item_id, None)
                    bare[item_id] = raw.get("eTag")
            if next_link:
                link, page = next_link, None
                continue
            if not delta_link:
                raise InvalidResponseError(operation, 200, "application/json",
                                           "a delta page with neither nextLink nor deltaLink")
            result.delta_link = delta_link
            return self._fill_fields(list_id, result, bare, label, known)

    def _read_page(self, operation: str, link: str) -> bytes:
        response = self.client.send(operation, "GET", link)
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type.lower():
            raise InvalidResponseError(operation, response.status_code, content_type, "expected JSON",
                                       response.headers.get("request-id"))
        return response.content

    def _fill_fields(self, list_id: str, result: DeltaResult, bare: dict[str, str | None], label: str,
                     known: KnownEtags | None) -> DeltaResult:
        """Read the fields of the changed items that came without them (`bare`: id and eTag): a change is never
        decided on without them.

        Items at an eTag the caller holds are not (`result.known`, out of `changed`). The rest are read in `$batch`es
        when there are few, or from the list's own pages when there are many (a first run, a resync, a big edit):
        then an item the pages no longer hold was deleted meanwhile, and one they show at a later eTag is taken
        as it is now (its change comes again from the delta link, at the eTag now held). If reading fails, the
        error stops this list's changes (its saved link stays, so the next run reads them again).
        """
        if known is not None and not result.full and (result.changed or bare):
            held = known(list_id, [*result.changed, *bare])
            result.known = {i for i, etag in bare.items()  # (the same text, as the mirror keeps it, tested first)
                            if (mine := held.get(i)) and (mine == etag or same_etag(mine, etag))}
            result.known |= {i for i, item in result.changed.items() if same_etag(held.get(i), item.etag)}
            for item_id in result.known:
                result.changed.pop(item_id, None)
        bare_ids = [i for i in bare if i not in result.known]
        bare = {}  # (let go: a big page's ids)
        if not bare_ids:
            return result
        if len(bare_ids) > READ_ONE_BY_ONE:
            missing = set(bare_ids)
            for item in self.iter_items(list_id, label=label):  # each in its place as its page comes (memory)
                if item.id in missing:
                    result.changed[item.id] = item
                    missing.discard(item.id)
            found: dict[str, ListItem | None] = dict.fromkeys(missing)
        else:
            found = self.read_items(list_id, bare_ids, label=label)
        for item_id, fresh in found.items():
            if fresh is None:  # deleted since the change
                del result.changed[item_id]
                result.deleted.add(item_id)
            else:
                result.changed[item_id] = fresh
        result.reread += len(bare_ids)
        return result
