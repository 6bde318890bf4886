"""Timer: run every reconciler once (COPROD_SYNC_SCHEDULE, default every 5 minutes)."""

from __future__ import annotations

import logging
import os

import azure.functions as func

from config import DEFAULT_SYNC_SCHEDULE

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped
log = logging.getLogger("functions.sync")


# Read here, not as a %COPROD_SYNC_SCHEDULE% binding expression: the host cannot index a function whose
# expression names an app setting that is not set, and the schedule has a default (docs/configuration.md).
SCHEDULE = os.environ.get("COPROD_SYNC_SCHEDULE", "").strip() or DEFAULT_SYNC_SCHEDULE


@bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False, use_monitor=True)
def sync_timer(timer: func.TimerRequest) -> None:
    from config import load_settings
    from coprod.run import run_held
    from coprod.runtime import Services

    if timer.past_due:
        log.info("The sync timer is running late; catching up now.")
    with Services.open(load_settings()) as services:
        result = run_held(services, progress=log.info)
        for line in result.lines or (result.busy or "",):
            log.info(line)
        log.info("Graph requests this run: %d", services.graph.stats["requests"])
