"""Real time: Graph tells us a list changed (a webhook), and a run follows within seconds instead of at the timer.

- `ensure_subscriptions` (`python -m coprod subscribe`, and a daily timer) keeps one subscription a list. It
  renews one that expires within `RENEW_WITHIN`, recreates one Graph no longer has, and never makes a second:
  what Graph already has for our notification URL is reused, so running it twice changes nothing.
- `receive` answers `POST /api/notifications` (the notification URL and the lifecycle URL alike):
  - the validation handshake: the token echoed as text/plain (and `nosniff`, so no browser reads it as a page);
  - a body over MAX_BODY: 413; one that isn't Graph's shape (not JSON, nested too deep): 400;
  - notifications whose clientState is wrong, or whose subscription we don't know: ignored, 202, and one warning
    line for the request, counting them, without data;
  - a good one: 202 at once, with no Graph call in the request, and one message for the queue; more within the
    same REPEAT_WINDOW ask for one more run at its end, at most (replays: see `receive`).

  A notification carries no data ("this list changed"); the delta query reads what changed.
- Lifecycle events (Microsoft's "Reduce missing subscriptions and change notifications",
  change-notifications-lifecycle-events) are written down in the request and answered by the run it asks for,
  before the lists are read: `reauthorizationRequired` (Graph pauses the list's notifications until it is
  answered) by `POST /subscriptions/{id}/reauthorize`, or a renewal when that fails or the subscription is near
  its expiry; `subscriptionRemoved` by making it again; `missed` by asking for that list to be read whole
  (coprod.lists.resync). One instance at a time answers them (a lease), so two at once never make two.
- `consume` is the queue's consumer. It runs the reconcilers under the run lease. A burst of notifications becomes
  one run, then one more if any came after that run began, so no change waits for the timer (the timer stays,
  as the safety net). The queues themselves are in coprod.realtime.webhook_queues.

The clientState is a keyed digest of the signing key, so there is no new secret to keep, and a forger without the
key can't produce one.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from coprod.links import Signer
from coprod.lists import resync
from coprod.realtime.webhook_queues import AzureQueue, LocalQueue
from coprod.running.lease import holder_name
from coprod.store import StateStore
from graph_client import GraphError, SharePointLists, Subscription, Subscriptions

if TYPE_CHECKING:
    from coprod.runtime import Services

__all__ = ["LIFETIME", "RENEW_WITHIN", "RESUBSCRIBE", "AzureQueue", "LocalQueue", "Received", "answer_lifecycle",
           "answer_waiting", "client_state", "consume", "ensure_subscriptions", "notified_run", "receive", "renew",
           "resubscribe_quietly"]

log = logging.getLogger("coprod.webhooks")

LISTS = ("Sessions", "Registrations", "GuestRequests", "Subscribers", "Updates")
LIFETIME = timedelta(minutes=42_300) - timedelta(hours=1)  # Graph's longest for a list, less a margin
RENEW_WITHIN = timedelta(days=3)  # the daily timer renews what expires sooner than this
KNOWN = "webhooks.subscriptions"  # checkpoint: {list name: {"id": ..., "expires": epoch seconds}}
RESUBSCRIBE = "webhooks.resubscribe"  # checkpoint: "1" while a lifecycle event waits for the run to answer it
WAITING = "webhooks.lifecycle."  # + event + "." + subscription id, a checkpoint: "1" while that event waits
ANSWERED_IN_RUN = ("reauthorizationRequired", "subscriptionRemoved")  # the events whose answer is a Graph call
SUBSCRIBING = "webhooks.subscribing"  # a lease: one instance at a time changes the subscriptions
SUBSCRIBING_SECONDS = 300.0  # its length: a few Graph calls a list, each within its own retries
MAX_ROUNDS = 3  # runs one consumer makes in a row while notifications keep coming
MAX_NOTIFICATIONS = 100  # read from one request; the rest are ignored
# Our subscriptions carry no resource data, so a notification is well under 1 kB and the most we read from one
# request (MAX_NOTIFICATIONS) is about 100 kB: 1 MiB is ten times that, and stops a client making us hold hundreds.
MAX_BODY = 1024 * 1024  # bytes
# A list's notification carries no id of its own (the same body for every change: subscriptionId, clientState,
# expirationDateTime, resource, tenantId, siteUrl, webId, in Microsoft's "Overview of SharePoint webhooks",
# notification resource), so a replay looks like a new change. In each such window of the clock the first
# notification asks for a run at once, and any more for one run at its end: a replayer gets at most two runs a
# window, and no genuine change waits longer than the window.
REPEAT_WINDOW = 10.0  # seconds
NOSNIFF = {"X-Content-Type-Options": "nosniff"}  # on every answer: the echoed token must never be read as a page


def client_state(signer: Signer) -> str:
    """What our subscriptions carry and each notification must bring back: a keyed digest (no new secret)."""
    return signer.digest("graph-change-notifications")


def notification_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/api/notifications"


def known(store: StateStore) -> dict[str, dict[str, Any]]:
    raw = store.checkpoints.get(KNOWN)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def ensure_subscriptions(subscriptions: Subscriptions, lists: SharePointLists, store: StateStore, signer: Signer,
                         public_url: str, now: datetime) -> list[str]:
    """One live subscription a list, renewed in time; a line each saying what was done."""
    url = notification_url(public_url)
    held = known(store)
    by_resource = {s.resource.removeprefix("/"): s for s in subscriptions.all() if s.notification_url == url}
    lines = []
    for name in LISTS:
        found = lists.find_list(name)
        if found is None:
            lines.append(f"{name}: the list isn't on the site: run `python -m coprod provision` first.")
            continue
        resource = f"sites/{lists.site_id}/lists/{found.id}"
        lines.append(_keep(subscriptions, by_resource.get(resource), resource, url, signer, now, held, name))
    store.checkpoints.set(KNOWN, json.dumps(held))
    return lines


def _keep(subscriptions: Subscriptions, current: Subscription | None, resource: str, url: str, signer: Signer,
          now: datetime, held: dict[str, Any], name: str) -> str:
    """List `name`'s subscription: Graph's `current` one kept while it has more than RENEW_WITHIN to live, renewed
    otherwise, made when there is none or it is gone; recorded in `held`. Its line."""
    if current is not None and current.expiration_date_time is not None and \
            current.expiration_date_time - now > RENEW_WITHIN:
        held[name] = {"id": current.id, "expires": current.expiration_date_time.timestamp()}
        return f"{name}: subscribed until {current.expiration_date_time:%d %B %Y}."
    asked = now + LIFETIME
    renewed = subscriptions.renew(current.id, asked) if current is not None else None
    made = renewed or subscriptions.create(resource, url, client_state(signer), asked, lifecycle_url=url)
    expires = made.expiration_date_time or asked  # what Graph granted
    held[name] = {"id": made.id, "expires": expires.timestamp()}
    return f"{name}: {'renewed' if renewed else 'subscribed'} until {expires:%d %B %Y}."


@dataclass(frozen=True)
class Received:
    """The answer to a POST from Graph, and whether it calls for a run (one queue message)."""

    status: int
    body: str = ""
    content_type: str = "text/plain"
    run: bool = False
    resubscribe: bool = False  # a lifecycle event waits for the run: the caller sets RESUBSCRIBE before queueing
    after: float | None = None  # the run is for then (time.time()), not now: repeats within REPEAT_WINDOW

    @property
    def headers(self) -> dict[str, str]:
        return dict(NOSNIFF)


def too_large(content_length: str | None) -> bool:
    """Whether a request's Content-Length is over MAX_BODY (so its body need not be read at all)."""
    declared = str(content_length).strip()  # absent: "None", not a number
    return declared.isdigit() and int(declared) > MAX_BODY


async def read_body(content_length: str | None, chunks: AsyncIterator[bytes]) -> bytes | None:
    """A request's body as it streams in, or None as soon as it passes MAX_BODY (the rest is never read)."""
    if too_large(content_length):
        return None
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def receive(query: dict[str, str], body: bytes, store: StateStore, signer: Signer, now: float) -> Received:
    """Answer Graph at once; never call Graph here (it wants 2xx within 3 seconds).

    Good notifications ask for a run; a run reads every list, so one run covers them all. A notification carries
    nothing a replayer could not copy (a list's has no id of its own), so repeats are told apart by time alone: a
    counter in the store, shared by every instance, for each REPEAT_WINDOW of the clock. The first good request in
    a window asks for a run at once; the second asks for one run at the window's end (so after every other request
    of that window); the rest ask for none, as those two runs read what they announce. Lifecycle events are
    written down first (`_write_down`), for the run to answer."""
    token = query.get("validationToken")
    if token is not None:
        return Received(200, token[:1024])  # the handshake: echoed as it came, as text/plain
    if len(body) > MAX_BODY:
        log.warning("A notification body over %d bytes was refused", MAX_BODY)
        return Received(413)
    try:
        payload = json.loads(body)
        notifications = payload.get("value") if isinstance(payload, dict) else None
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        notifications = None  # pragma: no mutate - its one mutant, "", is refused just the same: not a list
    if not isinstance(notifications, list) or not notifications:
        log.warning("A notification that isn't Graph's shape was ignored")
        return Received(400)
    expected = client_state(signer)
    names = {str(s.get("id")): name for name, s in known(store).items() if isinstance(s, dict)}
    good = [note for note in notifications[:MAX_NOTIFICATIONS] if _good(note, expected, names)]
    ignored = len(notifications) - len(good)
    if ignored:  # one line a request, however many: a count, nothing from the body
        log.warning("%d of %d notifications in one request were ignored (a wrong clientState, an unknown "
                    "subscription, or past the first %d)", ignored, len(notifications), MAX_NOTIFICATIONS)
    if not good:
        return Received(202)
    resubscribe = _write_down(store, good, names)
    window = math.floor(now / REPEAT_WINDOW)
    ends = (window + 1) * REPEAT_WINDOW
    seen = store.counters.add(f"webhooks.notified:{window}", ends)
    if seen == 1:
        return Received(202, run=True, resubscribe=resubscribe)
    if seen == 2:
        log.info("Notified again within %g seconds: one more run at the end of that time", REPEAT_WINDOW)
        return Received(202, run=True, resubscribe=resubscribe, after=ends)
    return Received(202, resubscribe=resubscribe)  # the run due at the window's end reads this change too


def _good(note: Any, expected: str, ours: Container[str]) -> bool:
    """A notification with our clientState, for one of our subscriptions."""
    if not isinstance(note, dict):
        return False
    state = str(note.get("clientState"))  # absent: "None", never a digest
    return hmac.compare_digest(state.encode(), expected.encode()) and str(note.get("subscriptionId")) in ours


def _write_down(store: StateStore, notes: list[dict[str, Any]], names: dict[str, str]) -> bool:
    """What each believed lifecycle event asks, kept for the run it calls for (no Graph call in the request):
    `missed`, that its list be read whole; the others, a checkpoint each per event and subscription, so two
    instances receiving two events at once never overwrite each other's. True when one waits for the run."""
    waits = False
    for note in notes:
        event, subscription = note.get("lifecycleEvent"), str(note.get("subscriptionId"))
        if event == "missed":  # some notifications were not delivered: only a whole read finds what they said
            resync.ask(store, names[subscription])
        elif event in ANSWERED_IN_RUN:
            store.checkpoints.set(f"{WAITING}{event}.{subscription}", "1")
            waits = True
    return waits


def answer_lifecycle(subscriptions: Subscriptions, lists: SharePointLists, store: StateStore, signer: Signer,
                     public_url: str, now: datetime) -> list[str]:
    """Answer the lifecycle events waiting for our subscriptions (hold the SUBSCRIBING lease: `_one_at_a_time`).
    Each is taken (its checkpoint emptied) before it is answered, so a rerun answers nothing twice; one that fails
    is put back for the next answer (the daily renewal at the latest). A line for each subscription answered."""
    held = known(store)
    lines = []
    for name in LISTS:
        record = held.get(name)
        if not isinstance(record, dict):
            continue
        subscription = str(record.get("id"))
        taken = [event for event in ANSWERED_IN_RUN if _take(store, f"{WAITING}{event}.{subscription}")]
        if not taken:
            continue
        try:
            lines.append(_answer(subscriptions, lists, signer, public_url, now, held, name, taken))
        except GraphError as error:
            for event in taken:
                store.checkpoints.set(f"{WAITING}{event}.{subscription}", "1")
            lines.append(f"{name}: {' and '.join(taken)} not answered yet: {error}")
            log.warning("%s: could not answer %s: %s", name, " and ".join(taken), error)
    if lines:
        store.checkpoints.set(KNOWN, json.dumps(held))
    return lines


def _take(store: StateStore, checkpoint: str) -> bool:
    if not store.checkpoints.get(checkpoint):
        return False
    store.checkpoints.set(checkpoint, "")
    return True


def _answer(subscriptions: Subscriptions, lists: SharePointLists, signer: Signer, public_url: str, now: datetime,
            held: dict[str, Any], name: str, taken: list[str]) -> str:
    """`reauthorizationRequired`: reauthorize (the expiry unchanged); renew instead when that fails other than
    for a subscription that is gone (a renewal reauthorizes too), or when it expires within RENEW_WITHIN anyway.
    Reauthorizing is tried once before renewing, never both on success: the docs warn against both for one
    subscription within 10 minutes. `subscriptionRemoved`, or gone: made again."""
    record = held[name]
    subscription, expires = str(record.get("id")), record.get("expires")
    if "subscriptionRemoved" not in taken:
        gone = False  # pragma: no mutate - its one mutant, None, is as false
        if isinstance(expires, (int, float)) and expires - now.timestamp() > RENEW_WITHIN.total_seconds():
            try:
                if subscriptions.reauthorize(subscription):
                    return f"{name}: reauthorized."
                gone = True
            except GraphError as error:  # refused, or failing past its retries: a renewal may still be let through
                log.warning("%s: reauthorizing failed (%s); renewing instead", name, error)
        renewed = None if gone else subscriptions.renew(subscription, now + LIFETIME)
        if renewed is not None:
            granted = renewed.expiration_date_time or now + LIFETIME
            held[name] = {"id": renewed.id, "expires": granted.timestamp()}
            return f"{name}: reauthorized and renewed until {granted:%d %B %Y}."
    found = lists.find_list(name)
    if found is None:
        return f"{name}: the list isn't on the site: run `python -m coprod provision` first."
    url, resource = notification_url(public_url), f"sites/{lists.site_id}/lists/{found.id}"
    current = next((s for s in subscriptions.all() if s.id != subscription and s.notification_url == url
                    and s.resource.removeprefix("/") == resource), None)  # made meanwhile (the daily timer's)
    return _keep(subscriptions, current, resource, url, signer, now, held, name)


def _one_at_a_time(store: StateStore, work: Callable[[], list[str]]) -> list[str]:
    """`work` under the SUBSCRIBING lease, and again if a lifecycle event came while it worked. An instance that
    finds the lease held leaves RESUBSCRIBE as it is: the holder looks at it after letting go, so an event that
    came meanwhile is answered by one or the other, never by neither."""
    holder = holder_name()
    lines: list[str] = []
    for _ in range(MAX_ROUNDS):
        if not store.leases.acquire(SUBSCRIBING, holder, SUBSCRIBING_SECONDS):
            return [*lines, "Subscriptions: another instance is changing them, and answers what came meanwhile."]
        try:
            store.checkpoints.set(RESUBSCRIBE, "")
            lines += work()
        finally:
            store.leases.release(SUBSCRIBING, holder)
        if not store.checkpoints.get(RESUBSCRIBE):
            return lines
    return lines


def consume(run: Callable[[], bool], latest: Callable[[], float], clock: Callable[[], float]) -> int:
    """Run while notifications keep coming: `run()` does one run under the lease (False: another holds it, and
    that run will see these changes or come round again); `latest()` is when the last notification came. Returns
    the runs made."""
    made = 0
    for _ in range(MAX_ROUNDS):
        started = clock()
        if not run():
            return made
        made += 1
        if latest() < started:
            return made
    return made


def resubscribe_quietly(answer: Callable[[], list[str]], say: Callable[[str], None] = lambda line: None) -> None:
    """After a lifecycle event: answer it, each line said, and a failure only logged (the daily timer tries
    again)."""
    try:
        for line in answer():
            say(line)
    except GraphError as error:
        log.warning("Could not renew the list subscriptions: %s", error)


def _parts(services: Services) -> tuple[Subscriptions, SharePointLists, StateStore, Signer, str, datetime]:
    return (Subscriptions(services.graph), services.lists, services.store, services.signer,
            services.settings.public_url, datetime.fromtimestamp(services.clock(), UTC))


def renew(services: Services) -> list[str]:
    """`python -m coprod subscribe` and the daily timer: the lifecycle events still waiting answered, then
    `ensure_subscriptions`, one instance at a time."""
    return _one_at_a_time(services.store, lambda: answer_lifecycle(*_parts(services))
                          + ensure_subscriptions(*_parts(services)))


def answer_waiting(services: Services, say: Callable[[str], None]) -> None:
    """The lifecycle events waiting answered, when one came (RESUBSCRIBE): by every run a notification asks for,
    even one whose lists another run has read already (a paused subscription sends no other notification)."""
    if services.store.checkpoints.get(RESUBSCRIBE):
        resubscribe_quietly(lambda: _one_at_a_time(services.store, lambda: answer_lifecycle(*_parts(services))),
                            say)


def notified_run(services: Services, say: Callable[[str], None]) -> bool:
    """One run after notifications, answering the lifecycle events first when one came; False when another run
    holds the lease."""
    from coprod.run import run_held

    answer_waiting(services, say)
    result = run_held(services)
    for line in result.lines:
        say(line)
    return not result.busy
