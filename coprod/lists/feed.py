"""A list's change feed: what changed since the saved delta link, and where to read from next.

- `read_changes`: the changes in several lists, the first page of each in one `$batch` (a quiet run is one
  request); an item at the eTag the mirror holds is told apart without its fields (`DeltaResult.known`);
- `relink`: after a write bigger than a page, the next run's pages carry ids and eTags alone;
- `save_link`: where a list was read up to, saved only once its changes are processed.

`coprod.lists.mirror` puts the changes into the mirror (`ListMirror.apply`) and names these too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from config import OPTIONAL_LISTS
from coprod.store import StateStore
from graph_client import DeltaResult, GraphError, SharePointLists, says_latest

__all__ = ["read_changes", "reads_light", "relink", "save_link"]

log = logging.getLogger("coprod.lists.mirror")


def read_changes(lists: SharePointLists, store: StateStore, names: Iterable[str]) -> dict[str, DeltaResult]:
    """Changes in each list since its saved delta link (the whole list the first time, or after a 410). After a
    whole read, `deleted` holds the mirrored items Graph confirms are gone (`_gone`)."""
    names = list(names)
    results = lists.deltas([(name, store.checkpoints.get(f"delta.{name}"), name) for name in names],
                           known=store.mirror.etags, optional=OPTIONAL_LISTS)  # eTags held: no fields read
    for name, delta in zip(names, results, strict=True):
        if delta.full:
            _gone(lists, store, name, delta)
    return dict(zip(names, results, strict=True))


def _gone(lists: SharePointLists, store: StateStore, name: str, delta: DeltaResult) -> None:
    """A whole read: which mirrored items it did not show are really gone. Another run may have added an item,
    and mirrored it, while this read went on (or since): it is not in the read, yet it is in the list. So each
    item the mirror holds and the read did not show is read again: gone (404), it goes in `deleted`; still
    there, it joins `changed` as it now is. Nothing else is ever dropped."""
    unseen = sorted(store.mirror.ids(name) - set(delta.changed) - delta.deleted)
    for item_id, item in lists.read_items(name, unseen, label=name).items():
        if item is None:
            delta.deleted.add(item_id)
        else:
            delta.changed[item_id] = item


def save_link(store: StateStore, name: str, delta: DeltaResult, *, light: bool | None = None) -> None:
    """Remember where this list's changes were read up to. Call only once they are processed. `light`: the
    link now reads pages without fields (True) or with them (False), after `relink`. A link that says
    `token=latest` is never saved (`says_latest`): the one saved before stays, and reads these changes again."""
    if says_latest(delta.delta_link):
        log.warning("%s: Graph gave a delta link that says token=latest; the one saved before is kept", name)
        return
    store.checkpoints.set(f"delta.{name}", delta.delta_link)
    if light is not None:
        store.checkpoints.set(f"delta.{name}.light", "1" if light else "")


def reads_light(store: StateStore, name: str) -> bool:
    """Whether this list's saved link reads pages without fields (see `relink`)."""
    return store.checkpoints.get(f"delta.{name}.light") == "1"


def relink(lists: SharePointLists, name: str, delta: DeltaResult, *, fields: bool) -> bool:
    """Point `delta`'s link at now, its pages with the items' fields or without, if nothing changed meanwhile.

    A run about to write more items than a delta page holds has the next run read pages without fields: most
    of what they hold is that write coming back, told by its eTag alone, and only the others have their fields
    read. The run after, writing few, goes back to pages with fields, so a person's change costs one request.
    The new link is taken first (`token=latest`), then the old one is read: if anything changed since it (a
    person's edit while this run decided), the old link is kept and nothing is missed."""
    try:
        fresh = lists.latest(name, fields=fields, label=name)
        if lists.changed_since(name, delta.delta_link, label=name):
            return False
    except GraphError as error:  # the old link still serves
        log.warning("%s", error)
        return False
    delta.delta_link = fresh
    return True
