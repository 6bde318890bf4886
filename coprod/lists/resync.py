"""Anti-entropy: now and then, each list read whole and held against the mirror, for what delta never reported.

A delta link can lose a change for good: a `token=latest` link handed back still saying `token=latest`
(reported for drives, microsoft-graph-docs issue 2317), a change SharePoint never logged, a `missed` lifecycle
event. Reconcilers that last re-list everything now and then for exactly this reason (Kubernetes' informers
resync on a period). So once every COPROD_RESYNC_HOURS (default 24), on `python -m coprod sync --once --resync`,
and for a list whose subscription reported `missed`, the run reads each list whole and every difference from
the mirror is acted on as a change would be, and counted: drift found is the sign that delta lost something.

`read_changes` is `coprod.lists.mirror.read_changes` with the whole reads: each list's ids and eTags first (pages
of ids and eTags, no fields), then its changes since the saved delta link, as always. What the whole read shows
differently from the mirror, and the change feed did not report, is drift: an item the mirror lacks, one at
another eTag whose columns differ (one whose columns are what the mirror holds was our own write, its eTag
learned), one the mirror holds that is gone. The drifted items join the changes, so every reconciler acts on them
as on any change. The whole read comes first so that a person's change made while it goes on is reported by the
delta read that follows, and counts as a change, not as drift.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from coprod.lists.mirror import read_changes as read_feed
from coprod.lists.mirror import same_columns
from coprod.store import StateStore
from graph_client import DeltaResult, SharePointLists, same_etag

__all__ = ["LAST", "ask", "asked", "done", "due", "last_check", "read_changes"]

log = logging.getLogger("coprod.lists.resync")

LAST = "resync.last"  # a checkpoint: when (epoch seconds) every list was last read whole
FOUND = "resync.found"  # a checkpoint: {"at": epoch seconds, "found": differences} of the last whole-list check
ASKED = "resync.asked."  # + a list's name: "1" when a `missed` event asked for that list to be read whole


def ask(store: StateStore, name: str) -> None:
    """Have the next run read this list whole (Graph said it missed notifying us of changes to it). One
    checkpoint per list, so two events at once never overwrite each other's ask."""
    store.checkpoints.set(f"{ASKED}{name}", "1")


def due(store: StateStore, clock: Callable[[], float], hours: float) -> bool:
    """Whether every list is due a whole read: none yet, or the last was `hours` ago or more."""
    last = store.checkpoints.get(LAST)
    try:
        at = float(last) if last else None
    except ValueError:
        at = None
    return at is None or clock() - at >= hours * 3600


def asked(store: StateStore, names: Iterable[str]) -> set[str]:
    """The lists among `names` a `missed` event asked to read whole."""
    return {name for name in names if store.checkpoints.get(f"{ASKED}{name}") == "1"}


def done(store: StateStore, names: Iterable[str], started: float, *, every: bool, found: int) -> None:
    """After the lists' whole reads were acted on: their asks are answered, what they `found` is kept for
    `status`, and (`every` list read) the period starts again from when the reading began."""
    for name in names:
        store.checkpoints.set(f"{ASKED}{name}", "")
    store.checkpoints.set(FOUND, json.dumps({"at": started, "found": found}))
    if every:
        store.checkpoints.set(LAST, repr(started))


def last_check(store: StateStore) -> dict[str, Any] | None:
    """The last whole-list check: when it began (epoch seconds) and how many differences it found."""
    try:
        value = json.loads(store.checkpoints.get(FOUND) or "null")
        return {"at": float(value["at"]), "found": int(value["found"])}
    except (ValueError, TypeError, KeyError):
        return None


def read_changes(lists: SharePointLists, store: StateStore, names: Iterable[str], whole: Iterable[str] = ()
                 ) -> dict[str, DeltaResult]:
    """Changes in each list since its saved delta link; the lists in `whole` are also read whole and held
    against the mirror, and what differs joins the changes (`DeltaResult.drift` counts it). A list with no saved
    link is read whole by its change feed anyway."""
    names = list(names)
    seen = {name: lists.etags(name, label=name) for name in dict.fromkeys(whole)
            if name in names and store.checkpoints.get(f"delta.{name}")}
    changes = read_feed(lists, store, names)
    for name, etags in seen.items():
        if not changes[name].full:  # (a 410 meanwhile: the feed has read it whole itself)
            changes[name].drift = _drift(lists, store, name, changes[name], etags)
    return changes


def _drift(lists: SharePointLists, store: StateStore, name: str, delta: DeltaResult,
           etags: dict[str, str | None]) -> int:
    """Put into `delta` what the whole read (`etags`) shows that the feed did not report; returns how many
    differences there were (our own writes at an eTag the mirror could not foresee are not counted)."""
    reported = set(delta.changed) | delta.known | delta.deleted
    mirrored = store.mirror.etags(name, [i for i in etags if i not in reported])
    differ = [i for i, etag in etags.items() if i not in reported and not same_etag(mirrored.get(i), etag)]
    unseen = sorted(store.mirror.ids(name) - set(etags) - reported)  # held, and not in the whole read
    if not differ and not unseen:
        return 0
    fresh = lists.read_items(name, differ + unseen, label=name)
    held = store.mirror.many(name, differ)
    drift = 0
    for item_id in differ:
        item = fresh.get(item_id)
        if item is None:  # deleted since the feed was read: the next read of the feed reports it
            continue
        old = held.get(item_id)
        drift += old is None or not same_columns(old.fields, item.fields)
        delta.changed[item_id] = item  # (unchanged columns: its eTag is learned, as for an echo)
    for item_id in unseen:
        if fresh.get(item_id) is None:  # gone, and the feed never said so
            delta.deleted.add(item_id)
            drift += 1
    if drift:
        log.warning("%s: read whole, %d differences the change feed never reported", name, drift)
    return drift
