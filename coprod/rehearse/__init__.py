"""`python -m coprod rehearse`: once in a council's tenant after deploying, the service's assumptions shown by doing.

`check` reads and changes nothing, so it cannot show what only doing shows. This makes a throwaway session and
booking, a Teams meeting, one email and (when the public pages answer) a change subscription; shows on them, one
line each, what the service rests on (held, or what it saw instead and the fix); and removes all of it again.
It exits non-zero if any assumption did not hold, or anything it made could not be removed.

Nobody can mistake or meet what it makes:
- the session and the booking are titled `REHEARSAL - delete me - <time>`. The session is Draft: the timetable,
  a session's page and the booking form take Open sessions only, and only from the mirror a run keeps
  (coprod.pages.booking), and the registration sync books nobody on a session that is not Open. The booking asks
  for nothing (no consent, no mailing list, no site access) and its address, if any, is COPROD_ADMIN_EMAIL;
- the meeting's externalId starts `coprod-rehearsal-`, its subject is the same title, and it invites nobody;
- the one email goes to COPROD_ADMIN_EMAIL and nobody else;
- the subscription is the service's own kind, to its own endpoint, for two hours, and is removed at once.

It holds the run lease (coprod.running.lease) throughout, as `rehearse:<machine>:<process>`, so no run works
meanwhile: the timer's and a notified run find it held, say so and do nothing, and no run ever reads the rehearsal's
items. The run after it reads them as items made and deleted before it looked, which asks nothing of it. (Rather
than teach every reconciler to ignore rehearsal items: the lease is one rule, already obeyed by all of them.) If a
run is working when it starts, it waits for the lease up to `lease_wait` seconds.

Everything it makes is recorded before or as it is made (coprod.rehearse._made), and removed in a `finally`: after
a failed step, an unexpected error or Ctrl+C. A rehearsal killed outright, or interrupted again while it removed,
leaves the record and the marked items; the next rehearsal removes those first, and says so.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from config import Settings
from coprod.rehearse import _lists, _notify, _teams
from coprod.rehearse._made import MARK, Made, find_marked, remove
from coprod.rehearse._report import FAIL, OK, SKIP, Rehearsal, Scene, brief
from coprod.running.lease import RunLease, holder_name
from coprod.runtime import Services
from graph_client import GraphError

__all__ = ["EXTERNAL_PREFIX", "LEASE_WAIT", "MAIL_WAIT", "MARK", "Rehearsal", "rehearse", "rehearse_tenant"]

EXTERNAL_PREFIX = "coprod-rehearsal-"
LEASE_WAIT = 300.0  # seconds to wait for a run under way to finish (a timer run sends for 4 minutes at most)
MAIL_WAIT = 120.0  # seconds to look for the email in Sent Items
LEASE_POLL = 5.0
LISTS_MISSING = "run `python -m coprod provision` first (it creates the lists), then run the rehearsal again"


def rehearse_tenant(settings: Settings, say: Callable[[str], None] = lambda line: None, *,
                    lease_wait: float = LEASE_WAIT, mail_wait: float = MAIL_WAIT) -> Rehearsal:
    """The rehearsal with the configured identity and store (the CLI's `rehearse`; an HTTP trigger would pass
    shorter waits, to answer within the front end's time limit)."""
    with Services.open(settings) as services:
        return rehearse(services, say, lease_wait=lease_wait, mail_wait=mail_wait)


def rehearse(services: Services, say: Callable[[str], None] = lambda line: None, *, lease_wait: float = LEASE_WAIT,
             mail_wait: float = MAIL_WAIT) -> Rehearsal:
    """Every line, under the run lease; what was made removed whatever happens. KeyboardInterrupt is raised again
    once that is done. TokenError (no access token at all) is raised before anything is made."""
    report = Rehearsal(say)
    services.graph.ensure_token(fresh=True)  # the permissions consented now, not those of a cached token
    lease = _take_lease(services, lease_wait, say)
    try:
        if not lease.held:
            report.add(FAIL, "Run lease", lease.says_busy().replace("this one did nothing", "not rehearsed"),
                       "run it again once that run has finished (a run takes a few minutes at most)",
                       assumption=False)
            return report
        now = datetime.fromtimestamp(services.clock(), UTC).replace(microsecond=0)
        start = (now + timedelta(days=7)).replace(minute=0, second=0)
        external_id = f"{EXTERNAL_PREFIX}{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        scene = Scene(services, report, Made(services.store), f"{MARK}{now:%Y-%m-%d %H:%M:%S} UTC", external_id,
                      start, start + timedelta(hours=1))
        try:
            _leftovers(scene)
            _steps(scene, mail_wait)
        except KeyboardInterrupt:
            report.add(FAIL, "Rehearsal", "interrupted: what it made is removed now", assumption=False)
            raise
        finally:
            removed, left = remove(services, scene.made)
            said = "removed " + _joined(removed) if removed else "nothing was left to remove"
            if left:
                report.add(FAIL, "Removing what it made", f"{said}; still there: {'; '.join(left)}",
                           "run `python -m coprod rehearse` again (it first removes what an earlier rehearsal left), "
                           f"or delete by hand the items titled “{MARK}...” in Sessions and Registrations",
                           assumption=False)
            else:
                report.add(OK, "Removing what it made", f"{said}; nothing it made is left", assumption=False)
    finally:
        lease.__exit__(None, None, None)
    return report


def _take_lease(services: Services, wait: float, say: Callable[[str], None]) -> RunLease:
    """The run lease, waiting up to `wait` seconds for a run under way; held or not."""
    deadline = services.clock() + wait
    told = False
    while True:
        lease = RunLease(services.store, seconds=services.settings.lease_seconds, holder=f"rehearse:{holder_name()}",
                         clock=services.clock).__enter__()
        if lease.held or services.clock() >= deadline:
            return lease
        if not told:
            say(f"  … a run is working; waiting up to {wait:.0f} s for it to finish")
            told = True
        services.sleep(LEASE_POLL)


def _leftovers(scene: Scene) -> None:
    """What an earlier rehearsal left: recorded in the store, or marked in the lists. Removed first."""
    what = "Leftovers of an earlier rehearsal"
    unsearched = ""
    try:
        find_marked(scene.services.lists, scene.made)
    except GraphError as error:  # (the lines below say why the lists cannot be read)
        unsearched = f" (the lists could not be searched: {brief(error)})"
    if not scene.made:
        scene.report.add(OK if not unsearched else SKIP, what, "none" + unsearched, assumption=False)
        return
    removed, left = remove(scene.services, scene.made)
    if left:
        scene.report.add(FAIL, what, f"removed {_joined(removed) or 'nothing'}; still there: {'; '.join(left)}",
                         "see the lines below for what stops it; the next rehearsal tries again", assumption=False)
    else:
        scene.report.add(OK, what, f"removed {_joined(removed)}{unsearched}", assumption=False)


def _steps(scene: Scene, mail_wait: float) -> None:
    report, lists = scene.report, scene.services.lists
    links = _lists.start_links(lists)  # before anything is made, so the change feed has it to report
    report.attempt("Throwaway session and booking", "lists-write", lambda: _lists.make_items(scene),
                   missing=LISTS_MISSING)
    report.attempt("Change feed with fields", "lists-read", lambda: _lists.change_feeds(scene, links, "Sessions"),
                   missing=LISTS_MISSING)
    report.attempt("Change feed without fields", "lists-read",
                   lambda: _lists.change_feeds(scene, links, "Registrations"), missing=LISTS_MISSING)
    organiser = "M365_ORGANIZER_ID names no user: use the organiser's object id"
    if report.attempt("Teams meeting made", "meetings", lambda: _teams.make(scene), missing=organiser):
        report.attempt("Teams meeting found again by its externalId", "meetings", lambda: _teams.find_again(scene))
    else:
        report.add(SKIP, "Teams meeting found again, updated, locked; its attendance report",
                   "not tried: no meeting was made")
    report.attempt("Writing an item, and the eTag its answer carries", "lists-write", lambda: _lists.write(scene))
    report.attempt("Writing on an out-of-date eTag", "lists-write", lambda: _lists.stale_write(scene))
    report.attempt("A saved change link", "lists-read", lambda: _lists.saved_link(scene))
    if "meeting" in scene.facts:
        report.attempt("Teams meeting updated", "meetings", lambda: _teams.update(scene))
        report.attempt("Teams meeting locked", "meetings", lambda: _teams.lock(scene))
        report.attempt("Attendance report", "attendance", lambda: _teams.attendance(scene))
    if scene.services.settings.mail_transport == "acs":
        report.add(SKIP, "Email to COPROD_ADMIN_EMAIL", "not tried: emails go by Azure Communication Services "
                                                        "(COPROD_MAIL_TRANSPORT=acs), not through a mailbox")
    else:
        report.attempt("Email to COPROD_ADMIN_EMAIL", "send", lambda: _notify.email(scene, mail_wait))
    away = _notify.unreachable(scene)
    if away:
        report.add(SKIP, "Change notifications", f"skipped: not reachable: {away}; run the rehearsal again once the "
                                                 "app is up to show Graph's check of /api/notifications")
    else:
        report.attempt("Change notifications", "lists-read", lambda: _notify.subscription(scene),
                       missing=LISTS_MISSING)


def _joined(parts: list[str]) -> str:
    """"a, b and c"."""
    if len(parts) <= 1:
        return "".join(parts) or "nothing"
    return ", ".join(parts[:-1]) + " and " + parts[-1]

