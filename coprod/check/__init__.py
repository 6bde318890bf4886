"""`python -m coprod check`: a preflight against the configured tenant that changes nothing.

One line a check, a tick or a cross, and under each cross what to fix: the permission, the tenant setting or
the setting. The checks come from the permissions table (coprod.permissions.STEPS): each step the service takes,
in its order, is shown the way the table says, by `CHECKS` in `_steps.py`, and a cross's fix is the table's own
sentence (`needs`), the one docs/permissions.md gives. It reads only. Where a permission can be shown by a read,
it is read (the site, the lists, the directory, Sent Items, the organiser's meetings, the guest group). Writing
to the lists is shown by an update of no fields on a condition no item can meet: Graph answers 412 to an app
that may write and 403 to one that may not, and nothing changes either way. Sending, inviting, adding to the
group, deleting an account and reading an attendance report cannot be shown without doing them (or, for the
last, without a meeting that has been held), so for those the check reads the application permissions the
access token carries (its `roles` claim). That reading is a diagnosis only: Microsoft treats Graph tokens as
opaque. An optional permission not granted is marked `!` and does not fail the check.
"""

from __future__ import annotations

from collections.abc import Callable

from config import Settings
from coprod.check._notify import check_notify
from coprod.check._report import FAIL, OK, SKIP, Finding, Preflight
from coprod.check._steps import CHECKS, Tenant
from coprod.permissions import STEPS
from coprod.store import StateStore
from graph_client import GraphClient, TokenError

__all__ = ["CHECKS", "Finding", "Preflight", "check_tenant", "preflight"]


def check_tenant(settings: Settings) -> Preflight:
    """The preflight with the configured identity and store (the CLI's `check`, and GET /api/check in Azure,
    where the identity is the function app's managed identity)."""
    from coprod.runtime import store_for

    with GraphClient.from_settings(settings) as graph:
        return preflight(settings, graph, lambda: store_for(settings))


def preflight(settings: Settings, graph: GraphClient, open_store: Callable[[], StateStore]) -> Preflight:
    """The store, the token, then every step of the permissions table, in its order; and GOV.UK Notify (which needs
    no token)."""
    report = Preflight()
    _store(report, settings, open_store)
    try:
        graph.ensure_token(fresh=True)  # a cached token would show the permissions of up to an hour ago
        roles = graph.granted_roles()
    except TokenError as error:
        report.add(FAIL, "Access token", str(error), _token_fix(error))
        check_notify(report, settings)
        report.add(SKIP, "Everything else", "not checked: nothing can be read from Microsoft 365 without a token")
        return report
    report.add(OK, "Access token", "issued" + (f"; it carries {len(roles)} application permissions: "
                                                 f"{', '.join(sorted(roles)) or 'none'}" if roles is not None else
                                                 " (its permissions cannot be read from it)"))
    tenant = Tenant(settings, graph, roles, report)
    for step in STEPS:
        CHECKS[step](tenant)
    check_notify(report, settings)
    return report


def _store(report: Preflight, settings: Settings, open_store: Callable[[], StateStore]) -> None:
    kind = "SQLite" if settings.state.startswith("sqlite:") else "Azure Table Storage"
    try:
        store = open_store()
        try:
            store.checkpoints.get("sync.last-run")
        finally:
            store.close()
    except Exception as error:  # any store, any failure: one line, by its type (the message may hold a key)
        report.add(FAIL, "State store", f"{kind} could not be used ({type(error).__name__})",
                   "check COPROD_STATE; in Azure, that the managed identity has the Storage Table Data "
                   "Contributor role on the account")
        return
    report.add(OK, "State store", f"{kind}, reachable")


def _token_fix(error: TokenError) -> str:
    if error.error == "unreachable":
        return ("check M365_AUTHORITY_HOST (the public cloud's is https://login.microsoftonline.com), the network, "
                "and M365_CA_BUNDLE if a proxy inspects TLS")
    return ("check M365_TENANT_ID and M365_CLIENT_ID, and that the secret or certificate is the app registration's "
            "current one (Entra admin centre, App registrations, Certificates & secrets)"
            + (f"; Entra's code {error.aadsts} is explained at https://login.microsoftonline.com/error?code="
               f"{error.aadsts.removeprefix('AADSTS')}" if error.aadsts else ""))
