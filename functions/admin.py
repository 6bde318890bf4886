"""The IT admin's three calls in Azure, as the function app's managed identity (the CLI on a laptop would use
another identity): `GET /api/check` (a function key) runs the preflight, changing nothing; `POST /api/provision`
(the admin key) creates or completes the lists, then subscribes to their changes; `POST /api/rehearse` (the admin
key) proves in the tenant the assumptions the service rests on, with a throwaway session it removes again
(coprod/rehearse). All answer plain text, a line a check, a change or an assumption."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from config import Settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions leaves its __init__ untyped


def _text(lines: list[str], status: int) -> func.HttpResponse:
    return func.HttpResponse("\n".join(lines) + "\n", status_code=status, mimetype="text/plain",
                             charset="utf-8")


def _settings() -> Settings | func.HttpResponse:
    """The settings, or the answer that names every one missing."""
    from config import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        return _text([f"✗ {variable}: {problem}" for variable, problem in exc.problems], 503)


@bp.route(route="check", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def check(req: func.HttpRequest) -> func.HttpResponse:
    """200 when every check passed, 503 otherwise (so a monitor can call it), the lines either way."""
    from coprod.check import check_tenant
    from coprod.operating.telemetry import run_span

    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    with run_span("coprod.check"):
        report = check_tenant(settings)
    return _text(report.lines(), 503 if report.failed else 200)


@bp.route(route="provision", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def provision(req: func.HttpRequest) -> func.HttpResponse:
    """Safe to repeat: what exists is kept. 200 when complete, 503 with the problems otherwise."""
    from coprod.lists.provision import provision as make_lists
    from coprod.operating.telemetry import run_span
    from coprod.runtime import Services

    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    from coprod.realtime.webhooks import renew
    from coprod.running import describe

    with run_span("coprod.provision"), Services.open(settings) as services:
        report = make_lists(services.lists)
        lines = report.lines or ["All five lists are already in place; nothing changed."]
        if not report.problems:  # the lists are there: subscribe to their changes (the daily timer renews)
            try:
                lines += renew(services)
            except Exception as error:  # the lists are made; the daily timer subscribes later
                lines.append(f"Not yet subscribed to list changes ({describe(error)}); the daily timer tries again.")
    return _text(lines, 503 if report.problems else 200)


# An HTTP-triggered function must answer within 230 seconds, whatever the app's timeout, because of the Azure Load
# Balancer's idle timeout (Microsoft's "Function app timeout duration", note 1). So the rehearsal here does not wait
# for a run to finish (it says one is working instead), and looks for its email in Sent Items for a minute at most.
REHEARSE_MAIL_WAIT = 60.0


@bp.route(route="rehearse", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def rehearse(req: func.HttpRequest) -> func.HttpResponse:
    """200 when every assumption held, 503 otherwise; everything it made is removed either way."""
    from coprod.operating.telemetry import run_span
    from coprod.rehearse import rehearse_tenant

    settings = _settings()
    if isinstance(settings, func.HttpResponse):
        return settings
    with run_span("coprod.rehearse"):
        report = rehearse_tenant(settings, lease_wait=0, mail_wait=REHEARSE_MAIL_WAIT)
    return _text(report.lines(), 503 if report.failed else 200)
