"""Delta pages read as plain JSON: an item with its fields becomes a `ListItem`; one without stays its id and eTag."""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict  # (pydantic reads only this one's on Python 3.11)

from graph_client._errors import InvalidResponseError
from graph_client._models import ListItem

__all__ = ["Entry", "item", "page"]


class Entry(TypedDict):
    """A delta page's item, as far as a `ListItem` reads it (its id, eTag, times, deletion mark, and fields
    when sent): what it does not read is passed over."""

    id: str
    eTag: NotRequired[str | None]
    createdDateTime: NotRequired[str | None]
    lastModifiedDateTime: NotRequired[str | None]
    deleted: NotRequired[dict[str, Any] | None]
    fields: NotRequired[dict[str, Any]]


# A delta page: read into plain dicts, its items' other properties (createdBy, parentReference, contentType...)
# passed over without being built, which takes half the time of building a ListItem for each (a page of our own
# writes coming back holds thousands, of which only ids and eTags are wanted).
_RawPage = TypedDict("_RawPage", {"value": NotRequired[list[Entry]], "@odata.nextLink": NotRequired[str | None],
                                   "@odata.deltaLink": NotRequired[str | None]})
_RAW_PAGE = TypeAdapter(_RawPage)


def page(operation: str, page: bytes | Any, request_id: str | None = None
          ) -> tuple[list[Entry], str | None, str | None]:
    """A delta page's items, nextLink and deltaLink, from its JSON (`bytes`, or already read); a shape Graph never
    sends is an InvalidResponseError."""
    try:
        read = _RAW_PAGE.validate_json(page) if isinstance(page, bytes) else _RAW_PAGE.validate_python(page)
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = "the JSON is cut off or malformed" if first["type"].startswith("json") else \
            f"unexpected shape at {'.'.join(map(str, first['loc'])) or 'top level'}: {first['msg']}"
        raise InvalidResponseError(operation, 200, "application/json", problem, request_id) from None
    return read.get("value", []), read.get("@odata.nextLink"), read.get("@odata.deltaLink")


def item(operation: str, raw: Entry) -> ListItem:
    try:
        return ListItem.model_validate(raw)
    except ValidationError as exc:
        raise InvalidResponseError(operation, 200, "application/json",
                                   f"unexpected shape: {exc.errors()[0]['msg']}") from None
