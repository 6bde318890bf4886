"""Timer: run every reconciler once (COPROD_SYNC_SCHEDULE, default every 5 minutes)."""

from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped
log = logging.getLogger("functions.sync")


@bp.timer_trigger(arg_name="timer", schedule="%COPROD_SYNC_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sync_timer(timer: func.TimerRequest) -> None:
    from config import load_settings
    from coprod.cli import run_sync_once
    from coprod.runtime import Services

    if timer.past_due:
        log.info("The sync timer is running late; catching up now.")
    with Services.open(load_settings()) as services:
        for line in run_sync_once(services, progress=log.info):
            log.info(line)
        log.info("Graph requests this run: %d", services.graph.stats["requests"])
