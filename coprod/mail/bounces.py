r"""Bounces: the non-delivery reports Exchange puts in the sending mailbox's Inbox, read once each, and acted on.

Exchange Online applies a mailbox's limits, and learns that an address does not exist, after sendMail has
answered 202; it says so with a non-delivery report (NDR) in the sender's Inbox: from its system mailbox
("Microsoft Outlook" <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@...>), a multipart/report whose
message/delivery-status part gives each failed recipient and an enhanced status code (RFC 3464, RFC 3463), with
`In-Reply-To` and the original attached naming the original's Message-ID (graph_emulator/mail/ndr.py has the sources).

Each run (`Bounces.run`, before the registrations and the mailing list) that is LOOK_EVERY (15 minutes) or
more after the last look, when the mailbox sent something in the last two days and LOOK_EVERY or more ago (a report
of an address that does not exist comes within minutes; one look in 15 minutes is the Graph request this costs,
and the runs just after a send make none):

    list the Inbox: from the system mailbox, received since the checkpoint (Mail.ReadBasic.All would do)
      -> read each report not yet read whole (`$value`: content, so Mail.Read, scoped to the mailbox)
      -> believe it only if it is what Exchange sends about an email of ours:
           from the system mailbox at the sender's domain, a delivery-status report, naming exactly one
           original Message-ID, that Message-ID one we sent (`SentId`, recorded by the outbox), and the failed
           address one that email went to; anything else changes nothing (counted as ignored)
      -> claim it (`BounceReport`, a conditional write: of two runs at once, one acts) -> act -> done

A hard bounce (the address does not exist: 5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.1.10; 5.4.1 as Exchange Online's
directory-based edge blocking answers it, Exchange Online's NDR reference) of
- a booking's email: noted on the registration (`MailFailed`, reason `MailFailed.BOUNCED`: its StatusNote says
  our email didn't reach the address), and no more booking emails go to that address (`wanted`, asked by the
  outbox before each message) until the registration's address is changed;
- an update to a subscriber: counted; at HARD_LIMIT (3) the row is set Bouncing (a `bouncing` list command, which
  the mailing list applies: no more updates), and the count starts again.
The mailbox's own limits (5.1.90, 5.2.2: the service paces itself under them, so these mean someone else used the
mailbox) and every other status are counted and change nothing. A crash after the claim leaves it `sending`; a
later run takes it over after `recheck_after` and acts again: each act is a record written once, or a count that
names the report it counts, so nothing is done twice.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from email.message import Message
from email.parser import BytesParser

from coprod import handoffs
from coprod.handoffs import AddressBounces, BounceReport, ListCommand, MailFailed, SentId
from coprod.links import Signer
from coprod.permissions import STEPS
from coprod.store import OutboxEntry, StateStore
from coprod.words import count
from graph_client import ForbiddenError, GraphError, Mail, NotFoundError, message_id_for

__all__ = ["HARD", "HARD_LIMIT", "SYSTEM_LOCAL", "BounceRun", "Bounces", "Report", "classify", "read_report"]

log = logging.getLogger("coprod.mail.bounces")
SYSTEM_LOCAL = "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"  # Exchange's system mailbox, any tenant
HARD = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.4.1"})  # the address itself does not exist
SENDER_LIMITS = frozenset({"5.1.90", "5.2.2"})  # the mailbox's own recipient or message rate limit
HARD_LIMIT = 3  # hard bounces of updates before a subscriber is set Bouncing
SINCE = "bounces.read-since"  # a checkpoint: reports received before it have all been read
NEXT_LOOK = "bounces.next-look"  # a checkpoint: when to look in the Inbox again
REFUSED = "bounces.refused"  # a checkpoint: why the last look could not read (plain words), "" once it could
LOOK_EVERY = timedelta(minutes=15)
FIRST_LOOK = timedelta(days=2)  # how far back the first run looks (Exchange gives up on a message after 2 days)
MARGIN = timedelta(minutes=10)  # read again behind the checkpoint, for reports Exchange files a little late
PER_RUN = 200  # reports read whole in one run at most; the rest wait for the next
_STATUS = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?:\s.*)?")  # (a comment may follow: "5.1.1 (bad mailbox)")
STEP = STEPS["bounces"]  # the permission reading the reports takes


def refused(error: ForbiddenError) -> str:
    """One plain sentence for the team about a 403 on reading the reports: what to grant, and where."""
    code = f" {error.code}" if error.code else ""
    return (f"Microsoft 365 would not let the app {STEP.doing} (403{code}): the app's identity needs the "
            f"{STEP.permission} application permission on the sending mailbox alone: with Exchange RBAC for "
            f"Applications, the role '{STEP.exchange}' scoped to that mailbox (docs/permissions.md, section 3); "
            f"see {STEP.reference}. Until then, {STEP.stops}.")


def classify(status: str) -> str:
    """`hard` (the address does not exist), `limit` (the mailbox's own sending limit), or `other`."""
    return "hard" if status in HARD else "limit" if status in SENDER_LIMITS else "other"


@dataclass(frozen=True)
class Report:
    """What a non-delivery report says: which of our emails (its Message-ID), and each address it failed for."""

    original: str
    failed: tuple[tuple[str, str], ...]  # (address in lower case, enhanced status)


def read_report(raw: bytes, sender: str) -> Report | str:
    """The report in `raw`, or why it is not one we believe: from Exchange's system mailbox at the sender's
    domain, a delivery-status report naming one original Message-ID and at least one failed address."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    froms = [value for name, value in parsed.items() if name.lower() == "from"]
    if [a.addr_spec.lower() for value in froms for a in value.addresses] != [
            f"{SYSTEM_LOCAL}@{_domain(sender)}".lower()]:
        return "not from Exchange"
    report_type = [value for name, value in parsed.get_params() or () if name.lower() == "report-type"]
    if parsed.get_content_type() != "multipart/report" or [v.lower() for v in report_type] != ["delivery-status"]:
        return "not a delivery report"
    originals, failed = {_message_id(_header(parsed, "in-reply-to"))}, []
    for part in parsed.walk():  # (an attached original is a part of its own, with the original's Message-ID)
        kind = part.get_content_type()
        headers: Message = part
        if kind == "message/delivery-status":
            failed.extend(_failures(part))
        elif kind == "text/rfc822-headers":
            headers = message_from_string(str(part.get_content()))  # the original's headers, as text
        if part is not parsed:
            originals.add(_message_id(_header(headers, "message-id")))
    originals.discard("")
    if len(originals) != 1:
        return "not about one message"
    if not failed:
        return "no failed address"
    return Report(originals.pop(), tuple(failed))


def _domain(address: str) -> str:
    return re.sub(r"^.*@", "", address)


def _header(message: Message, name: str) -> str:
    """The first field called `name` (given in lower case: field names match in any case), or ""."""
    return next((str(value) for field_name, value in message.items() if field_name.lower() == name), "")


def _message_id(value: str) -> str:
    found = re.fullmatch(r"\s*(<[^<>\s]+>)\s*", value)
    return found[1] if found else ""


def _failures(part: Message) -> list[tuple[str, str]]:
    """(address, status) of each recipient block that failed, as RFC 3464 writes them (each block of fields is
    a part of its own to the parser, after the part itself, which names no recipient)."""
    found = []
    for block in part.walk():
        recipient = re.fullmatch(r"\s*rfc822\s*;\s*(\S+)\s*", _header(block, "final-recipient").lower())
        status = _STATUS.fullmatch(_header(block, "status").strip())
        if recipient and status and _header(block, "action").strip().lower() == "failed":
            found.append((recipient[1], status[1]))
    return found


@dataclass
class BounceRun:
    """What reading the reports found, in numbers (no addresses)."""

    read: int = 0
    bookings: int = 0  # hard bounces of a booking's email: noted on it, no more emails to the address
    subscribers: int = 0  # hard bounces of an update, counted towards Bouncing
    bouncing: int = 0  # subscribers set Bouncing now
    limit: int = 0  # failed because of the mailbox's own sending limit
    other: int = 0  # other statuses (a full mailbox, a delay, a block): nothing done
    ignored: int = 0  # not what Exchange sends about an email of ours: nothing done
    waiting: bool = False  # some left for the next run (this one's share read, or one could not be read now)
    refused: str = ""  # why reports cannot be read (a missing permission), in plain words

    def line(self) -> str | None:
        """The run's line, or None when there was nothing to read."""
        if self.refused:
            return f"Bounces: not read. {self.refused}"
        if not self.read and not self.waiting:
            return None
        parts = [f"{count(self.read, 'non-delivery report')} read"]
        for n, words in ((self.bookings, f"{count(self.bookings, 'booking email')} bounced (noted on the "
                                         "registration; no more emails to that address)"),
                         (self.subscribers, f"{count(self.subscribers, 'update')} to subscribers bounced"),
                         (self.bouncing, f"{count(self.bouncing, 'subscriber')} set to Bouncing"),
                         (self.limit, f"{self.limit} held back by the mailbox's own sending limit"),
                         (self.other, f"{self.other} not a lasting failure (nothing done)"),
                         (self.ignored, f"{self.ignored} not about an email of ours (ignored)"),
                         (self.waiting, "more left for the next run")):
            if n:
                parts.append(words)
        return "Bounces: " + "; ".join(parts) + "."


def _ignored(report: BounceRun, why: str) -> str:
    report.ignored += 1
    return f"ignored: {why}"


class Bounces:
    """Reads the sending mailbox's non-delivery reports (`run`) and withholds booking emails from addresses
    that bounced (`wanted`, the outbox's check of every message)."""

    def __init__(self, store: StateStore, mail: Mail | None, signer: Signer, sender: str, *,
                 clock: Callable[[], float] = time.time, recheck_after: float = 300.0) -> None:
        self.store = store
        self.mail = mail  # None: mail goes another way (ACS), whose reports never reach this mailbox
        self.signer = signer
        self.sender = sender
        self.clock = clock
        self.recheck_after = recheck_after
        self._stopped: set[str] | None = None  # digests of addresses that bounced hard, read at the first check

    # --- the outbox's check ----------------------------------------------------------------
    def wanted(self, entry: OutboxEntry) -> bool:
        """False for a booking's email to an address that bounced: withheld, and noted on the registration."""
        about = entry.payload.get("about")
        if not isinstance(about, dict) or not about.get("registration"):
            return True
        if self._stopped is None:
            self._stopped = AddressBounces.stopped(self.store.ledger)
        gone = tuple(a for a in entry.payload.get("to") or () if self.signer.digest(str(a).lower()) in self._stopped)
        if not gone:
            return True
        handoffs.record(self.store.ledger, MailFailed(entry.key, entry.kind, f"{MailFailed.BOUNCED}: an earlier "
                                                             "email to this address did", dict(about), gone))
        return False

    # --- reading the reports ----------------------------------------------------------------
    def run(self) -> BounceRun:
        """Read the reports that came since the last look, if it is time to look; a refusal is said every run until
        a look can read again."""
        report = BounceRun()
        mail = self.mail
        if mail is None:
            return report
        now = self.clock()
        report.refused = self.store.checkpoints.get(REFUSED) or ""
        next_look = self.store.checkpoints.get(NEXT_LOOK)
        if (next_look and now < float(next_look)) or (not report.refused and not self._due(now)):
            return report  # not yet time, or nothing went that could have come back by now
        self.store.checkpoints.set(NEXT_LOOK, str(now + LOOK_EVERY.total_seconds()))
        report.refused = ""
        self._read(mail, now, report)
        self.store.checkpoints.set(REFUSED, report.refused)
        return report

    def _due(self, now: float) -> bool:
        """Whether something went in the last two days, LOOK_EVERY or more ago: a report may be about it by now."""
        went, _ = self.store.outbox.sent_since(now - FIRST_LOOK.total_seconds())
        just_now, _ = self.store.outbox.sent_since(now - LOOK_EVERY.total_seconds())
        return went > just_now

    def _read(self, mail: Mail, now: float, report: BounceRun) -> None:
        """Every report received since the checkpoint (less MARGIN), oldest first, up to PER_RUN read whole; the
        checkpoint moves on to the first one left unread (or the newest read)."""
        since = float(self.store.checkpoints.get(SINCE) or now - FIRST_LOOK.total_seconds())
        newest, unread = since, None
        try:
            for message in mail.reports_since(datetime.fromtimestamp(since, UTC) - MARGIN,
                                              f"{SYSTEM_LOCAL}@{_domain(self.sender)}"):
                received = message.received_date_time.timestamp() if message.received_date_time else now
                if report.read >= PER_RUN or not self._one(mail, message.internet_message_id or message.id,
                                                           message.id, report):
                    report.waiting = True
                    unread = received
                    break
                newest = max(newest, received)
        except ForbiddenError as error:
            log.warning("%s", error)  # pragma: no mutate - log.warning(error) logs the same text
            report.refused = refused(error)
            return
        except GraphError as error:
            log.warning("Non-delivery reports could not be listed: %s", error)
        self.store.checkpoints.set(SINCE, str(unread if unread is not None else newest))

    def _one(self, mail: Mail, report_id: str, message_id: str, report: BounceRun) -> bool:
        """Read one report and act on it, once; False when it could not be read now (it waits)."""
        seen = handoffs.get(self.store.ledger, BounceReport(report_id))
        if seen is not None and seen.status == "done":
            return True  # read before
        if seen is not None and seen.updated > self.clock() - self.recheck_after:
            return False  # another run is reading it now: looked at again next time (taken over if it stopped)
        try:
            raw = mail.mime(message_id)
        except ForbiddenError:
            raise
        except NotFoundError:  # deleted from the Inbox since it was listed: nothing left to read
            return True
        except GraphError as error:
            log.warning("A non-delivery report could not be read; tried again next run: %s", error)
            return False
        if not handoffs.claim(self.store.ledger, BounceReport(report_id), seen):
            return False  # another run took it just now
        handoffs.put(self.store.ledger, BounceReport(report_id, self._act(raw, report_id, report)))  # (done)
        report.read += 1
        return True

    def _act(self, raw: bytes, report_id: str, report: BounceRun) -> str:
        """What the report says, done: returns its outcome in words (no addresses)."""
        try:
            found = read_report(raw, self.sender)
        except Exception as error:  # MIME so odd the parser gives up: not a report Exchange wrote
            found = f"unreadable ({type(error).__name__})"
        if isinstance(found, str):
            return _ignored(report, found)
        ours = re.fullmatch(r"<([0-9a-f]{40})@[^<>@\s]+>", found.original)  # (what message_id_for makes)
        key = SentId.key_of(self.store.ledger, ours[1]) if ours else None
        if key is None:
            return _ignored(report, "not an email we sent")
        entry = self.store.outbox.get(key)
        if entry is None or entry.status != "sent" or message_id_for(key, self.sender) != found.original:
            return _ignored(report, "not an email we sent")
        sent_to = {str(a).lower() for a in entry.payload.get("to") or ()}
        failed = [(address, status) for address, status in found.failed if address in sent_to]
        if not failed:
            return _ignored(report, "not an address that email went to")
        kinds = []
        for address, status in failed:
            kind = classify(status)
            kinds.append(f"{kind} {status}")
            if kind == "hard":
                self._hard(entry, address, status, report_id, report)
            elif kind == "limit":
                report.limit += 1
            else:
                report.other += 1
        return ", ".join(kinds)

    def _hard(self, entry: OutboxEntry, address: str, status: str, report_id: str, report: BounceRun) -> None:
        """A hard bounce of `entry` to `address`: the registration's note, or a subscriber's count, then the
        address's record (last: a crash before it leaves the report to be acted on again, and every act before
        it is idempotent)."""
        found = entry.payload.get("about")
        about: dict[str, str] = found if isinstance(found, dict) else {}
        digest = self.signer.digest(address)
        subscriber = str(about.get("subscriber") or "")
        if about.get("registration"):
            handoffs.record(self.store.ledger, MailFailed(entry.key, entry.kind, f"{MailFailed.BOUNCED} ({status})",
                                                   dict(about), (address,)))
            report.bookings += 1
        elif subscriber:
            report.subscribers += 1
        while True:  # a conditional write: another run counting another report meanwhile makes it read again
            seen, record = AddressBounces.of(self.store.ledger, digest)
            if report_id in record.reports:
                return  # counted before (a rerun after a crash)
            toward = record.toward + 1 if subscriber else record.toward
            bouncing = toward >= HARD_LIMIT
            if bouncing:
                handoffs.put(self.store.ledger, ListCommand("bouncing", f"{subscriber}:{digest}"), "due")
            updated = AddressBounces(digest, record.hard + 1, 0 if bouncing else toward, (*record.reports, report_id))
            if handoffs.claim(self.store.ledger, updated, seen, "done"):
                report.bouncing += bouncing
                return
