"""Anti-entropy: now and then, each list read whole and held against the mirror, for what delta never reported.

A delta link can lose a change for good: a `token=latest` link handed back still saying `token=latest`
(reported for drives, microsoft-graph-docs issue 2317), a change SharePoint never logged, a `missed` lifecycle
event. Reconcilers that last re-list everything now and then for exactly this reason (Kubernetes' informers
resync on a period). So once every COPROD_RESYNC_HOURS (default 24), on `python -m coprod sync --once --resync`,
and for a list whose subscription reported `missed`, the run reads each list whole and every difference from
the mirror is acted on as a change would be, and counted: drift found is the sign that delta lost something.

This module keeps only when a whole read is due and which lists asked for one; `coprod.lists.mirror.read_changes`
does the reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from coprod.store import StateStore

__all__ = ["LAST", "ask", "asked", "done", "due"]

LAST = "resync.last"  # a checkpoint: when (epoch seconds) every list was last read whole
ASKED = "resync.asked."  # + a list's name: "1" when a `missed` event asked for that list to be read whole


def ask(store: StateStore, name: str) -> None:
    """Have the next run read this list whole (Graph said it missed notifying us of changes to it). One
    checkpoint per list, so two events at once never overwrite each other's ask."""
    store.set_checkpoint(f"{ASKED}{name}", "1")


def due(store: StateStore, clock: Callable[[], float], hours: float) -> bool:
    """Whether every list is due a whole read: none yet, or the last was `hours` ago or more."""
    last = store.get_checkpoint(LAST)
    try:
        at = float(last) if last else None
    except ValueError:
        at = None
    return at is None or clock() - at >= hours * 3600


def asked(store: StateStore, names: Iterable[str]) -> set[str]:
    """The lists among `names` a `missed` event asked to read whole."""
    return {name for name in names if store.get_checkpoint(f"{ASKED}{name}") == "1"}


def done(store: StateStore, names: Iterable[str], started: float, *, every: bool) -> None:
    """After the lists' whole reads were acted on: their asks are answered, and (`every` list read) the period
    starts again from when the reading began."""
    for name in names:
        store.set_checkpoint(f"{ASKED}{name}", "")
    if every:
        store.set_checkpoint(LAST, repr(started))
