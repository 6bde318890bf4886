"""One item alone: the one place that says what happens when an item's work fails in a way nobody foresaw.

A job handles its items one at a time (a registration, a guest request, a subscriber's row, an update, a
message). Every failure the service expects is handled where it happens, in words for whoever reads the note;
anything else is caught here, logged by its type and the line that raised it (never its message, which may
quote the value that broke it: an address, a name), and handed to the job's `failed`, which notes it on that
item (a Sync note, a Failed status, a failed hand-off). The rest of the run goes on.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from graph_client import GraphError

__all__ = ["alone", "describe"]

log = logging.getLogger("coprod.run")


def describe(error: BaseException) -> str:
    """An error in words safe for a log: Graph's errors as they are (addresses masked), anything else by its type
    and the line that raised it (an exception's message may quote the value that broke it)."""
    if isinstance(error, GraphError):
        return str(error)
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"


@contextmanager
def alone(what: str, failed: Callable[[Exception], object] | None = None) -> Iterator[None]:
    """`with alone("Guest access: a request", failed=note_it): work()`: an unexpected error in `work` is logged as
    "{what} was set aside ({error})", handed to `failed`, and goes no further."""
    try:
        yield
    except Exception as error:  # the one guard of "one bad item does not stop the run"
        log.warning("%s was set aside (%s); the rest go on", what, describe(error))
        if failed is not None:
            failed(error)
