"""Graph's change notifications for the lists (webhooks), and the runs they call for.

- `POST /api/notifications` (anonymous: Graph calls it) answers at once, with no Graph call in the request, and
  puts one message on the `coprod-notifications` queue for a good notification (coprod.realtime.webhooks.receive); a
  body over coprod.realtime.webhooks.MAX_BODY is refused with 413 (the Functions host has read it; we do not parse it).
  It is the subscriptions' lifecycle URL too: a lifecycle event is written down in the store (one checkpoint per
  event and subscription; `missed` asks for its list to be read whole), RESUBSCRIBE is set, and then the message is
  queued, in that order, so the run finds what it is to answer. Graph's validation handshake
  (`?validationToken=...`) is answered before the settings, the store or the credential are touched: on a cold
  instance opening the store is network calls and a token fetch, and Graph wants the echo within 10 seconds;
- the queue's consumer runs the reconcilers under the run lease, first answering any lifecycle event
  (coprod.realtime.webhooks.notified_run: reauthorize, or subscribe again); a message that a run began after is
  skipped, so a burst of notifications becomes one run; a message for later (a repeat's run, at the end of
  coprod.realtime.webhooks.REPEAT_WINDOW) waits until then;
- a daily timer answers any lifecycle event still waiting, renews the subscriptions, and recreates one Graph
  dropped.

The 5-minute timer (functions/sync.py) stays as the safety net.
"""

from __future__ import annotations

import json
import logging
import time
from functools import cache
from typing import Any

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped
log = logging.getLogger("functions.notifications")
QUEUE = "coprod-notifications"
# The queue's own identity-based connection (COPROD_QUEUE__queueServiceUri, __credential, __clientId; locally a
# connection string in COPROD_QUEUE): Microsoft recommends one of its own, not the host's AzureWebJobsStorage, for
# what the app itself keeps in storage.
QUEUE_CONNECTION = "COPROD_QUEUE"
NOT_OPENED: Any = None  # the store and signer of the handshake: `receive` answers it with neither


@cache
def _receiving() -> tuple[Any, Any]:
    """The store and signer the endpoint checks notifications with: made once per process, not per request
    (opening the Table Storage store checks its tables: requests Graph's 3-second answer can't wait for)."""
    from config import load_settings
    from coprod.runtime import signer_for, store_for

    settings = load_settings()
    return store_for(settings), signer_for(settings)


@bp.route(route="notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="wake", queue_name=QUEUE, connection=QUEUE_CONNECTION)
def notifications(req: func.HttpRequest, wake: func.Out[str]) -> func.HttpResponse:
    from coprod.realtime.webhooks import RESUBSCRIBE, receive

    query = dict(req.params)
    if "validationToken" in query:  # the handshake, for the notification and lifecycle URL alike: echoed at once
        got = receive(query, b"", NOT_OPENED, NOT_OPENED, time.time())
        return func.HttpResponse(got.body, status_code=got.status, mimetype=got.content_type, headers=got.headers)
    store, signer = _receiving()  # (a body over the limit is refused by `receive`, unparsed)
    got = receive(query, req.get_body(), store, signer, time.time())
    if got.resubscribe:
        store.checkpoints.set(RESUBSCRIBE, "1")
    if got.run:
        wake.set(json.dumps({"at": got.after or time.time()}))
    return func.HttpResponse(got.body, status_code=got.status, mimetype=got.content_type, headers=got.headers)


@bp.queue_trigger(arg_name="message", queue_name=QUEUE, connection=QUEUE_CONNECTION)
def on_notification(message: func.QueueMessage) -> None:
    from config import load_settings
    from coprod.realtime.webhooks import REPEAT_WINDOW, answer_waiting, consume, notified_run
    from coprod.running.lease import last_run
    from coprod.runtime import Services

    try:
        sent = float(json.loads(message.get_body()).get("at", 0))
    except (ValueError, AttributeError):
        sent = 0.0
    time.sleep(min(max(0.0, sent - time.time()), REPEAT_WINDOW))  # a run for later: a repeat's, at its window's end
    with Services.open(load_settings()) as services:
        finished = last_run(services.store)
        if finished is not None and finished.started >= sent:
            answer_waiting(services, log.info)  # a lifecycle event is still answered now, not at the daily timer
            return  # a run that began after this notification has seen its change
        consume(lambda: notified_run(services, log.info), lambda: sent, services.clock)


@bp.timer_trigger(arg_name="timer", schedule="0 30 3 * * *", run_on_startup=False, use_monitor=True)
def renew_subscriptions(timer: func.TimerRequest) -> None:
    """Daily, 3:30am UTC: lifecycle events still waiting answered, then each list's subscription renewed when it
    expires within 3 days, or made again."""
    from config import load_settings
    from coprod.realtime.webhooks import renew
    from coprod.runtime import Services

    with Services.open(load_settings()) as services:
        for line in renew(services):
            log.info(line)
