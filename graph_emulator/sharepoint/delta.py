"""A list's delta: the opaque tokens in its `?token=` links, and one page of the changes a token asks for.

A token is base64 JSON of where its holder stands: the list (`l`) and its generation (`g`, bumped to make every
older token answer 410), the change it has seen up to (`f`), and, within a page run, the change the run stops at
(`t`), the last item id handed out (`a`), whether it enumerates the whole list (`w`), and the first call's query
options (`q`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from graph_emulator.core.errors import GraphFault, bad_request
from graph_emulator.sharepoint.records import SPItem, SPList

__all__ = ["decode_token", "delta_page", "encode_token"]

DeltaPage = tuple[list[SPItem | int], dict[str, Any] | None, dict[str, Any] | None, dict[str, str]]


def encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(data, dict):
            raise ValueError
        return data
    except ValueError:
        raise bad_request("Invalid delta token.", code="invalidRequest") from None


def delta_page(lst: SPList, token: str | None, query: dict[str, str], *, keep_query: bool = True) -> DeltaPage:
    """One page of changes: (items or deleted ids, next-page state, delta-link state, the query options).

    A first call's query options (`$expand`, `$select`, `$top`) travel inside the tokens it hands out, as
    Graph's opaque `?token=` links carry them; with `keep_query` False they are dropped (the calls after the
    first then read items without `fields`, which Graph does not promise never to do). Exactly one of the two
    states is returned. A token from an older generation of the list raises 410, as Graph does when it can
    no longer say what changed.
    """
    base = {"l": lst.id, "g": lst.generation}
    if token == "latest":  # noqa: S105 - a delta token word, not a password
        return [], None, {**base, "f": lst.seq, "q": query if keep_query else {}}, query
    state: dict[str, Any] = decode_token(token) if token else {**base, "f": 0, "w": 1, "q": query}
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
                         {"x-restart-token": encode_token({**base, "f": 0, "w": 1, "q": carried})})
    since, upto, after, top = _window(state, options, lst.seq)
    whole = bool(state.get("w"))  # a whole enumeration: every item, whatever its seq
    changed = _changes(lst, since, whole, after)
    page = changed[:top]
    if len(changed) > top:
        return [p[1] for p in page], {**base, "f": since, "t": upto, "a": page[-1][0], "q": carried} | (
            {"w": 1} if whole else {}), None, options
    return [p[1] for p in page], None, {**base, "f": upto, "q": carried}, options


def _window(state: dict[str, Any], options: dict[str, str], seq: int) -> tuple[int, int, int | None, int]:
    """(since, up to, after which item id, page size) from a token's state and the query options."""
    try:
        since = int(state.get("f") or 0)
        upto = int(state.get("t") or seq)
        after = int(state["a"]) if state.get("a") is not None else None
        top = min(int(options.get("$top") or 200), 5000)
    except (TypeError, ValueError):
        raise bad_request("Invalid delta token.") from None
    if top < 1:
        raise bad_request("Invalid value for $top.", code="BadRequest")
    return since, upto, after, top


def _changes(lst: SPList, since: int, whole: bool, after: int | None) -> list[tuple[int, SPItem | int]]:
    """(item id, the item or its id when deleted) for each change after `since`, by id, past `after`."""
    changed: list[tuple[int, SPItem | int]] = [(i.id, i) for i in lst.items.values() if whole or i.seq > since]
    if since and not whole:
        changed += [(item_id, item_id) for item_id, s in lst.tombstones.items() if s > since]
    changed.sort(key=lambda pair: pair[0])
    if after is not None:
        changed = [pair for pair in changed if pair[0] > after]
    return changed
