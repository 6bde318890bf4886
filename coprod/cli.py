"""`python -m coprod ...`: the command line (a contract other tools rely on).

    demo            the whole programme once, on the embedded emulator and a SQLite file
    provision       create or update the lists (safe to re-run)
    sync --once     run every reconciler once (`--resync`: and read every list whole first)
    status          what is pending
    check           a preflight against the tenant: every permission and setting, changing nothing
    rehearse        once after deploying: the service's assumptions shown on throwaway items, all removed after
    subscribe       subscribe to the lists' changes (webhooks), or renew the subscriptions
    export ADDRESS  everything held about one person, as JSON
    erase ADDRESS   remove one person from every list and store (`--remove-guest`: their guest account too;
                    `--dry-run`: say what would go, changing nothing)
    report          the participation report for governance: numbers, nobody named (`--from`, `--to`, `--format`)
    serve           the public pages, locally

Exit codes: 0 when the run happened (even if some items need attention);
1 when Graph could not be used (one line says why); 2 for a bad setting.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from config import LISTS, SettingsError, load_settings, load_store_settings
from graph_client import GraphError

__all__ = ["main"]


def _progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def cmd_provision(args: argparse.Namespace) -> int:
    from coprod.lists.provision import provision
    from coprod.runtime import Services

    with Services.open(load_settings()) as services:
        report = provision(services.lists)
    print("\n".join(report.lines) if report.lines else f"All {len(LISTS)} lists are already in place; nothing changed.")
    if report.problems:
        print(f"coprod: provisioning is not complete ({len(report.problems)} "
              f"problem{'s' if len(report.problems) > 1 else ''} above); run it again once they are fixed",
              file=sys.stderr)
        return 1
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """One run (`--once`), or a run every `--interval` seconds: a run that fails says why in one line, and the
    loop goes on to the next (Graph down for a while, a bug met by one run)."""
    from coprod.run import run_held
    from coprod.running import describe
    from coprod.runtime import Services

    settings = load_settings()
    whole = args.resync
    while True:
        started = time.monotonic()
        try:
            with Services.open(settings) as services:
                result = run_held(services, _progress, whole=whole)
                whole = whole and bool(result.busy)  # asked for: until a run has done it
                for line in result.lines:
                    print(line, flush=True)
                print(result.busy or f"Graph requests: {services.graph.stats['requests']}; "
                                     f"took {time.monotonic() - started:.1f} s", flush=True)
        except Exception as error:
            if args.once:
                raise
            print(f"coprod: this run stopped: {describe(error)}; the next starts in {args.interval:.0f} s",
                  file=sys.stderr, flush=True)
        if args.once:
            return 0
        time.sleep(max(1.0, args.interval - (time.monotonic() - started)))


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 only when every check passed."""
    from coprod.check import check_tenant

    settings = load_settings()
    print(f"Checking the settings against tenant {settings.tenant_id} (nothing is changed):", flush=True)
    report = check_tenant(settings)
    print("\n".join(report.lines()), flush=True)
    return 1 if report.failed else 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    """Exit 0 only when every assumption held and everything made was removed again."""
    from coprod.rehearse import rehearse_tenant

    settings = load_settings()
    print(f"Rehearsing in tenant {settings.tenant_id}: a throwaway session, booking, Teams meeting, email and "
          "subscription, each removed again (no run works meanwhile):", flush=True)
    report = rehearse_tenant(settings, lambda line: print(line, flush=True))
    print(report.summary(), flush=True)
    return 1 if report.failed else 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    """Subscribe to the five lists' changes, or renew the subscriptions (safe to repeat: still one a list)."""
    from coprod.realtime.webhooks import renew
    from coprod.runtime import Services

    with Services.open(load_settings()) as services:
        print("\n".join(renew(services)), flush=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Everything held about one person, as JSON on standard output (a subject access request)."""
    import json

    from coprod.privacy.dataprotection import export
    from coprod.runtime import Services

    with Services.open(load_settings()) as services:
        try:
            held = export(services, args.address)
        except ValueError as error:
            print(f"coprod: {error}", file=sys.stderr)
            return 2
    print(json.dumps(held, indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Remove one person from every list and store, then run once so their places go to the people waiting."""
    from coprod.privacy.erasure import Busy, erase
    from coprod.run import run_held
    from coprod.runtime import Services

    with Services.open(load_settings()) as services:
        if args.dry_run:  # what it would do, from the export: nothing is changed
            from coprod.privacy.dataprotection import export
            from coprod.privacy.preview import preview

            try:
                held = export(services, args.address)
            except ValueError as error:
                print(f"coprod: {error}", file=sys.stderr)
                return 2
            print("\n".join(preview(held, remove_guest=args.remove_guest)), flush=True)
            return 0
        try:
            done = erase(services, args.address, remove_guest=args.remove_guest, progress=_progress)
        except ValueError as error:
            print(f"coprod: {error}", file=sys.stderr)
            return 2
        except Busy as busy:
            print(f"coprod: not erased yet: {busy} Try again in a minute.", file=sys.stderr)
            return 1
        if not done.found:
            print("Nothing is held about that address (it may have been erased already).")
        print("\n".join(done.lines()), flush=True)
        if done.sessions:
            result = run_held(services, _progress)
            print(result.busy or "Then a run:\n  " + "\n  ".join(result.lines), flush=True)
    return 1 if done.problems else 0


def cmd_report(args: argparse.Namespace) -> int:
    """The participation report (numbers, no names) from the state store, as text, CSV or HTML."""
    from datetime import date

    from coprod.operating.report import as_csv, as_html, as_text_table, build
    from coprod.runtime import store_for

    try:
        start, end = (date.fromisoformat(d) if d else None for d in (args.start, args.end))
    except ValueError:
        print("coprod: dates are written YYYY-MM-DD, like 2026-04-01", file=sys.stderr)
        return 2
    settings = load_store_settings()  # (only the store's: no Microsoft 365 secret on an officer's machine)
    store = store_for(settings)
    try:
        report = build(store, start, end)
    finally:
        store.close()
    out = {"text": as_text_table, "csv": as_csv}.get(args.format)
    print(out(report) if out else as_html(report, settings.programme_name), end="" if args.format == "csv" else "\n")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """What is waiting and how the last run went, from the configured store (no personal data)."""
    from coprod.operating.status import status, status_lines
    from coprod.runtime import store_for

    store = store_for(load_store_settings())  # (only the store's settings: no Microsoft 365 secret)
    try:
        print("\n".join(status_lines(status(store))))
    finally:
        store.close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The public pages on http://host:port/api/pages/..., as the function app serves them, with an index page
    at /, /api/health, and Graph's change notifications at /api/notifications with their consumer in this process:
    a change to a list is acted on within seconds (the lists are subscribed to once the server is up); and a run
    on the function app's timer schedule (COPROD_SYNC_SCHEDULE), so what the pages record is acted on as in Azure."""
    import socket
    import threading

    import uvicorn

    from coprod.serve import SyncTimer, live_app, subscribe_when_up, sync_interval

    settings = load_settings()
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
    except OSError as error:
        listener.close()
        print(f"coprod: cannot serve on {args.host}:{args.port}: {error.strerror or error} (another program has the "
              f"port? choose one with --port)", file=sys.stderr)
        return 1
    app, queue = live_app(settings)
    every = sync_interval(settings.sync_schedule)
    print(f"Pages on http://{args.host}:{listener.getsockname()[1]}/ (Ctrl+C to stop); the lists are synced every "
          f"{every / 60:g} minutes, as the function app's timer does", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    if args.subscribe:
        threading.Thread(target=subscribe_when_up, args=(server, settings), daemon=True).start()
    timer = SyncTimer(settings, every)
    timer.start()
    server.run(sockets=[listener])
    timer.stop()
    queue.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    try:  # the demo and the emulator it runs on live beside the service, not in a deployment of it
        from demo import run_demo
    except ImportError:
        print("coprod: the demo is not part of a deployment; run it from a clone of the repository",
              file=sys.stderr)
        return 2
    return run_demo(state=args.state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coprod", description="Co-production hub for Microsoft 365.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show retries and warnings as they happen")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the whole programme once on the embedded emulator (no settings needed)")
    demo.add_argument("--state", default=None, help="SQLite file to keep the demo's state in (default: temporary)")
    demo.set_defaults(handler=cmd_demo)
    sub.add_parser("provision", help="create or update the SharePoint lists").set_defaults(handler=cmd_provision)
    sync = sub.add_parser("sync", help="run the reconcilers")
    sync.add_argument("--once", action="store_true", help="run once and exit (otherwise every --interval seconds)")
    sync.add_argument("--interval", type=float, default=300.0, help="seconds between runs without --once")
    sync.add_argument("--resync", action="store_true",
                      help="read every list whole and act on any change the change feed missed (the first run only, "
                           "without --once); otherwise once every COPROD_RESYNC_HOURS")
    sync.set_defaults(handler=cmd_sync)
    sub.add_parser("status", help="show what is pending").set_defaults(handler=cmd_status)
    export = sub.add_parser("export", help="everything held about one person, as JSON (a subject access request)")
    export.add_argument("address", help="their email address")
    export.set_defaults(handler=cmd_export)
    report = sub.add_parser("report", help="the participation report for governance (numbers, no names)")
    report.add_argument("--from", dest="start", help="sessions from this date (YYYY-MM-DD, UK)")
    report.add_argument("--to", dest="end", help="sessions up to this date, included")
    report.add_argument("--format", choices=("text", "csv", "html"), default="text")
    report.set_defaults(handler=cmd_report)
    erase = sub.add_parser("erase", help="remove one person from every list and store (an erasure request)")
    erase.add_argument("address", help="their email address")
    erase.add_argument("--remove-guest", action="store_true",
                       help="also take their guest account out of the guest group, and delete it if the service "
                            "invited it and it is in no other group")
    erase.add_argument("--dry-run", action="store_true",
                       help="say what would be erased, changing nothing")
    erase.set_defaults(handler=cmd_erase)
    sub.add_parser("subscribe", help="subscribe to the lists' changes, or renew (safe to repeat)"
                   ).set_defaults(handler=cmd_subscribe)
    sub.add_parser("check", help="check the tenant's permissions and the settings, changing nothing"
                   ).set_defaults(handler=cmd_check)
    sub.add_parser("rehearse", help="once after deploying: show the service's assumptions on throwaway items in the "
                                    "tenant, then remove them").set_defaults(handler=cmd_rehearse)
    serve = sub.add_parser("serve", help="serve the public pages locally (as the function app does)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--no-subscribe", dest="subscribe", action="store_false",
                       help="don't subscribe to list changes (they then wait for `sync`)")
    serve.set_defaults(handler=cmd_serve)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command != "demo":  # the demo runs on the emulator: nothing of it belongs in a council's telemetry
        from coprod.operating.telemetry import configure

        configure()
    try:
        code = _handle(args)
        sys.stdout.flush()  # here, where a reader that went away can be told apart from an error
        return code
    except BrokenPipeError:  # the reader went away (`export ... | head`): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (nothing more to flush at exit)
        return 141
    finally:
        from coprod.operating.telemetry import flush

        flush()  # what a short-lived command recorded reaches Application Insights before it exits


def _handle(args: argparse.Namespace) -> int:
    from coprod.operating.telemetry import run_span

    try:
        if args.command in ("provision", "check", "rehearse"):  # one trace each; a run makes its own (coprod.run)
            with run_span(f"coprod.{args.command}"):
                return int(args.handler(args))
        return int(args.handler(args))
    except SettingsError as error:
        if len(error.problems) == 1:
            print(f"coprod: cannot start: {error}", file=sys.stderr)
        else:
            print(f"coprod: cannot start: {len(error.problems)} settings need attention:", file=sys.stderr)
            for variable, problem in error.problems:
                print(f"  {variable}: {problem}", file=sys.stderr)
        return 2
    except GraphError as error:
        print(f"coprod: cannot run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # (not an error: `main` ends quietly)
        raise
    except Exception as error:  # one line (no value that broke it: it may be personal data); -v for the traceback
        from coprod.running import describe

        if args.verbose:
            logging.getLogger("coprod").exception("coprod stopped")
        print(f"coprod: stopped by an unexpected error: {describe(error)}", file=sys.stderr)
        return 1
