"""1,000 booking confirmations (or one mailing-list update to 1,000 subscribers) through the emulator, with the
mailbox's send limit on, on a compressed clock.

    python bench/messages.py [--count 1000] [--compression 100] [--update]

The emulator enforces 30 messages per window per mailbox (Exchange Online:
a minute) as Exchange does: it takes every message (202), and holds back
those past the limit, which arrive late; the compression shrinks the minute
(100: 0.6 s) for the emulator and the outbox alike. Prints the sustained rate
as a share of the limit (goal: at least 95%: messages per full window,
averaged), the messages Exchange held back (goal: 0: the outbox keeps under the
limit, so nobody's email is late) and the 429s met (Graph's own request rate
and concurrency: goal 0). Each confirmation is a real one: rendered from
the templates with its calendar file, sent as MIME through sendMail.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emulator_process
from config import load_settings
from coprod.lists.mirror import read_changes
from coprod.lists.provision import provision
from coprod.mail.outbox import SendLimits
from coprod.mailing.subscribers import MailingList
from coprod.meetings.sync import MeetingSync
from coprod.registrations.messages import ParticipantMessages
from coprod.registrations.sync import RegistrationSync
from coprod.runtime import Services

PER_WINDOW = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--compression", type=float, default=100.0, help="how many times faster a minute passes")
    parser.add_argument("--update", action="store_true",
                        help="a mailing-list campaign to --count subscribers instead of booking confirmations")
    args = parser.parse_args()
    window = 60.0 / args.compression
    with emulator_process() as emulator, tempfile.TemporaryDirectory() as temp:
        env = emulator.reset()
        emulator.call("POST", "/_emulator/limits", {"mail": {
            "per_window": PER_WINDOW, "window_seconds": window, "recipients_per_day": 10_000,
            "day_seconds": 86_400.0 / args.compression}})
        settings = load_settings(env | {"COPROD_SIGNING_KEY": "bench-signing-key-0123456789abcdef",
                                        "COPROD_STATE": f"sqlite:///{Path(temp) / 'state.sqlite3'}"})
        with Services.open(settings, limits=SendLimits(per_window=PER_WINDOW, window_seconds=window,
                                                       day_seconds=86_400.0 / args.compression)) as services:
            provision(services.lists)
            queued = time.perf_counter()
            if args.update:
                what = "subscribers' update"
                emulator.seed("Subscribers", [{"Title": f"Person {n}", "Email": f"person{n}@example.org",
                                               "Status": "Subscribed", "ConfirmedAt": "2025-01-01T10:00:00Z"}
                                              for n in range(args.count)])
                emulator.seed("Updates", [{"Title": "What we heard this season", "Body": "Thank you **all**.",
                                           "Ready": True}])
                MailingList(services.lists, services.store, services.outbox, services.signer,
                            services.settings).run()
            else:
                what = "confirmations"
                start = (datetime.now(UTC) + timedelta(days=14)).strftime("%Y-%m-%dT%H:00:00Z")
                end = (datetime.now(UTC) + timedelta(days=14, hours=1)).strftime("%Y-%m-%dT%H:00:00Z")
                [session] = emulator.seed("Sessions", [{"Title": "Having your say: the big conversation",
                                                        "Status": "Open", "Capacity": 0, "StartTime": start,
                                                        "EndTime": end}])
                emulator.seed("Registrations", [{"Title": f"Person {n}", "Email": f"person{n}@example.org",
                                                 "Consent": True, "SessionLookupId": session}
                                                for n in range(args.count)])
                RegistrationSync(services.lists, services.store).run(
                    read_changes(services.lists, services.store, RegistrationSync.LISTS))
                MeetingSync(services.lists, services.meetings, services.store, lobby="organization").run()
                ParticipantMessages(services.store, services.outbox, services.signer, services.settings,
                                    clock=services.clock).run()
            print(f"{args.count:,} {what} queued in {time.perf_counter() - queued:.1f} s")
            emulator.call("DELETE", "/_emulator/log")
            began = time.time()
            report = services.outbox.drain(deadline=None)
            took = time.time() - began
            times = sorted(t - began for t in services.store.outbox.send_times(began - 1))
        refused = emulator.log()["by_status"].get("429", 0)
        delivered = emulator.call("GET", "/_emulator/mail/deliveries")
        late = sum(1 for d in delivered["deliveries"] if d["late"]) + int(delivered["waiting"])
    full_windows = int(times[-1] // window)
    per_window = [sum(1 for t in times if k * window <= t < (k + 1) * window) for k in range(full_windows)]
    share = statistics.mean(per_window) / PER_WINDOW if per_window else 0.0
    print(f"Sent {report.sent:,} in {took:.1f} s with the limit at {PER_WINDOW} per {window:g} s "
          f"(a minute compressed {args.compression:g} times)")
    print(f"sustained rate: {statistics.mean(per_window):.2f} messages per window over {full_windows} full windows "
          f"= {share:.1%} of the limit   [goal: >= 95%]")
    print(f"fewest in a full window: {min(per_window)}, most in any window: "
          f"{max(sum(1 for u in times if t <= u < t + window) for t in times)}   [the limit: {PER_WINDOW}]")
    print(f"held back by Exchange past the limit (delivered late): {late}   [goal: 0]")
    print(f"429s met: {refused} from the emulator, {report.throttled} seen by the outbox   [goal: 0]")


if __name__ == "__main__":
    main()
