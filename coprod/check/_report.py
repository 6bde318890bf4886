"""The preflight's report: one line a check, and under each cross (or missing optional permission) its fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coprod.permissions import STEPS, needs, remedy
from graph_client import ForbiddenError, GraphError, GraphResponseError, NotFoundError

__all__ = ["FAIL", "OFF", "OK", "OPTIONAL", "SKIP", "Finding", "Preflight"]

# OK; FAIL; SKIP: not shown either way (never fails the check); OPTIONAL: an optional permission not granted (the
# service works without it, and the line says what it would take); OFF: an optional part not set up (GOV.UK Notify),
# said and not counted as a check
OK, FAIL, SKIP, OPTIONAL, OFF = "✓", "✗", "–", "!", "·"


@dataclass(frozen=True)
class Finding:
    mark: str  # OK, FAIL, SKIP or OPTIONAL
    what: str
    said: str
    fix: str = ""
    step: str = ""  # the step of coprod.permissions.STEPS it shows, if any

    def lines(self) -> list[str]:
        return [f"{self.mark} {self.what}: {self.said}"] + ([f"    Fix: {self.fix}"] if self.fix else [])


@dataclass
class Preflight:
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.mark == FAIL]

    def add(self, mark: str, what: str, said: str, fix: str = "", *, step: str = "") -> bool:
        self.findings.append(Finding(mark, what, said, fix, step))
        return mark != FAIL

    def lines(self) -> list[str]:
        out = [line for finding in self.findings for line in finding.lines()]
        checked = sum(f.mark not in (SKIP, OFF) for f in self.findings)
        if self.failed:
            out.append(f"{len(self.failed)} of {checked} checks failed: fix what each says, then run "
                       "`python -m coprod check` again.")
            return out
        notes = []
        if any(f.mark == SKIP for f in self.findings):
            notes.append("the ones marked – could not be shown without changing something")
        if any(f.mark == OPTIONAL for f in self.findings):
            notes.append("the ones marked ! are optional permissions not granted: each says what it leaves undone")
        out.append(f"All {checked} checks passed" + (f" ({'; '.join(notes)})." if notes else "."))
        return out

    def probe(self, what: str, step: str, action: Callable[[], str], *, missing: str = "") -> bool:
        """Run one read; a tick with what it found, or a cross with what to fix."""
        try:
            said = action()
        except GraphError as error:
            return self.failure(what, step, error, missing)
        return self.add(OK, what, said, step=step)

    def failure(self, what: str, step: str, error: GraphError, missing: str = "") -> bool:
        """A cross for Graph's `error` on `step`: a 403 names the permission or policy, a 404 the setting."""
        if isinstance(error, ForbiddenError):
            return self.add(FAIL, what, f"refused ({_graph_words(error)})", capital(remedy(step, error)), step=step)
        if isinstance(error, NotFoundError):
            return self.add(FAIL, what, f"not found ({_graph_words(error)})", missing, step=step)
        return self.add(FAIL, what, str(error), "try again; if it persists, Microsoft support can trace the "
                                                "request id above", step=step)

    def granted(self, what: str, step: str, roles: frozenset[str] | None) -> bool:
        """A tick when the token carries a permission for `step` (shown without doing it), else a cross (or, for an
        optional permission, a `!` with what to grant)."""
        need = STEPS[step]
        if roles is None:
            return self.add(SKIP, what, f"not shown: the access token's permissions cannot be read, and "
                                        f"{need.untried}; the first run will show it", step=step)
        have = [role for role in (need.permission, *need.wider) if role in roles]
        if have:
            return self.add(OK, what, f"the token carries {have[0]} (not tried: {need.untried})", step=step)
        said = f"the token carries no {need.permission}, nor a permission that includes it"
        if need.optional:
            return self.add(OPTIONAL, what, f"{said} (optional)", capital(needs(step)), step=step)
        return self.add(FAIL, what, said, capital(needs(step)), step=step)


def _graph_words(error: GraphResponseError) -> str:
    """`403 ErrorAccessDenied, request-id ...`: what Microsoft support asks for."""
    return f"{error.status} {error.code or 'no error code'}, request-id {error.request_id or 'none'}"


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]
