"""The rehearsal's lines, and what every step works with.

A line is a tick (the assumption held, and what was seen), a cross (what was seen instead, and the fix) or a dash
(not tried: a step it needs did not happen, or it cannot be shown from here). A step is a function that returns
what it saw when the assumption held, raises `Unheld` when it did not, and lets Graph's errors through: a 403 then
becomes the sentence `coprod.permissions.explain` gives the team, naming the permission or tenant policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from coprod.permissions import explain
from coprod.running import describe
from graph_client import GraphError, GraphResponseError, NotFoundError

if TYPE_CHECKING:
    from coprod.rehearse._made import Made
    from coprod.runtime import Services

__all__ = ["FAIL", "MAINTAINERS", "OK", "SKIP", "Line", "Rehearsal", "Scene", "StepError", "Unheld", "brief"]

OK, FAIL, SKIP = "✓", "✗", "–"
# The fix for what Microsoft 365 itself does differently from what the service was built on: nobody in the tenant
# can change it, so it goes to whoever looks after the service, with the line that shows it.
MAINTAINERS = "nothing in the tenant changes this: send this output to whoever maintains the service"
AGAIN = "run `python -m coprod rehearse` again; if it persists, Microsoft support can trace the request id above"


class Unheld(Exception):
    """An assumption that did not hold: what was seen instead, and what to do about it."""

    def __init__(self, saw: str, fix: str) -> None:
        super().__init__(saw)
        self.saw = saw
        self.fix = fix


class StepError(Exception):
    """Graph's `error` on one of a line's calls that needs another permission than the line's own (`step`, a key
    of coprod.permissions.STEPS): sending an email (Mail.Send) and then finding it (Mail.ReadBasic.All)."""

    def __init__(self, step: str, error: GraphError) -> None:
        super().__init__(str(error))
        self.step = step
        self.error = error


@dataclass(frozen=True)
class Line:
    mark: str
    what: str
    said: str
    fix: str = ""
    assumption: bool = True  # False: leftovers and removal, which are not assumptions but still fail the run

    def lines(self) -> list[str]:
        return [f"{self.mark} {self.what}: {self.said}"] + ([f"    Fix: {self.fix}"] if self.fix else [])


@dataclass
class Rehearsal:
    """The lines so far; each is said (printed) as it is added, since a rehearsal in a tenant takes a minute."""

    say: Callable[[str], None] = field(default=lambda line: None, repr=False)
    found: list[Line] = field(default_factory=list)

    @property
    def failed(self) -> list[Line]:
        return [line for line in self.found if line.mark == FAIL]

    def add(self, mark: str, what: str, said: str, fix: str = "", *, assumption: bool = True) -> bool:
        line = Line(mark, what, said, fix, assumption)
        self.found.append(line)
        for text in line.lines():
            self.say(text)
        return mark != FAIL

    def attempt(self, what: str, step: str, action: Callable[[], str], *, missing: str = "") -> bool:
        """One line: the step's `action` returns what it saw (held) or raises; True when it held."""
        try:
            said = action()
        except Unheld as unheld:
            return self.add(FAIL, what, unheld.saw, unheld.fix)
        except StepError as failed:
            return self.add(FAIL, what, *graph_failure(failed.step, failed.error, missing))
        except GraphError as error:
            return self.add(FAIL, what, *graph_failure(step, error, missing))
        except Exception as error:  # a bug or something nobody foresaw: this line only, the rest go on
            return self.add(FAIL, what, f"stopped by an unexpected error ({describe(error)})", AGAIN)
        return self.add(OK, what, said)

    def summary(self) -> str:
        assumptions = [line for line in self.found if line.assumption and line.mark != SKIP]
        unheld = [line for line in assumptions if line.mark == FAIL]
        left = any(line.mark == FAIL and not line.assumption for line in self.found)
        skipped = sum(line.assumption and line.mark == SKIP for line in self.found)
        if not assumptions and not skipped:
            return "Nothing was rehearsed."
        if unheld:
            words = (f"{len(unheld)} of {len(assumptions)} assumptions did not hold: fix what each says, then run "
                     "`python -m coprod rehearse` again.")
        else:
            words = f"All {len(assumptions)} assumptions held" + (f" ({skipped} not tried: see the lines marked –)"
                                                                   if skipped else "") + "."
        return words + (" Not everything it made could be removed: see above." if left else "")

    def lines(self) -> list[str]:
        return [text for line in self.found for text in line.lines()] + [self.summary()]


def graph_failure(step: str, error: GraphError, missing: str = "") -> tuple[str, str]:
    """(what was seen, the fix) for Graph's `error` on `step`: a refusal names the permission or policy."""
    refused = explain(step, error)
    if refused is not None:
        return f"refused ({_words(error)})", refused
    if isinstance(error, NotFoundError):
        return f"not found ({_words(error)})", missing or AGAIN
    return str(error), AGAIN


def brief(error: GraphError) -> str:
    """An error in a few words for a line: Graph's status, code and message, or what stopped the call."""
    if isinstance(error, GraphResponseError):
        return f"{error.status} {error.code or 'no error code'}" + (f": {error.message}" if error.message else "")
    return error.detail


def _words(error: GraphError) -> str:
    if isinstance(error, GraphResponseError):
        return f"{error.status} {error.code or 'no error code'}, request-id {error.request_id or 'none'}"
    return str(error)


@dataclass
class Scene:
    """What every step works with: the service's parts, the record of what is made, and the rehearsal's marks."""

    services: Services
    report: Rehearsal
    made: Made
    title: str  # the session's, the booking's, the meeting's and the email's: "REHEARSAL - delete me - <time>"
    external_id: str  # the meeting's
    start: datetime  # the session's and the meeting's times
    end: datetime
    facts: dict[str, object] = field(default_factory=dict)  # what one step found for the steps after it
