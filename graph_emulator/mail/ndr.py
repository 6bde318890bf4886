"""Non-delivery reports in the shape Exchange Online puts them in the sender's Inbox.

What it follows, and where from:
- Graph shows an NDR as a message whose subject is "Undeliverable: <the original's subject>", whose `from` and
  `sender` are "Microsoft Outlook" <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@<the organisation's
  domain>>, whose `bodyPreview` starts "Delivery has failed to these recipients or groups:", and whose
  `toRecipients` are the recipients that failed, not the mailbox it was delivered to (the response example of
  Graph's message-move reference page, microsoft-graph-docs api-reference/v1.0/api/message-move.md; the same
  `toRecipients` reported in microsoftgraph/msgraph-sdk-java issue 807).
- Its MIME is a multipart/report (RFC 3464): a readable part (text and HTML: "Diagnostic information for
  administrators", "Generating server", "Remote Server returned '550 5.1.1 ...'", "Original message headers"), a
  message/delivery-status part (Reporting-MTA; per recipient Final-Recipient, Action: failed, Status,
  Diagnostic-Code), and the original message (message/rfc822). Its headers carry `X-MS-Exchange-Message-Is-Ndr`,
  `Auto-Submitted: auto-replied`, `Return-Path: <>`, and `In-Reply-To` and `References` naming the original's
  Message-ID (Office 365 NDRs kept in sisimai/set-of-emails, maildir/bsd/lhost-office365-*.eml).
- The enhanced status codes and their words: 5.1.1 "Bad destination mailbox address", 5.1.10 "Recipient not
  found", 5.1.90 "Your message can't be sent because you've reached your daily limit for message recipients"
  (Exchange Online's NDR reference, MicrosoftDocs/SupportArticles-docs
  Exchange/ExchangeOnline/email-delivery/ndr/non-delivery-reports-in-exchange-online.md).
"""

from __future__ import annotations

import html
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.parser import BytesParser
from email.utils import format_datetime

__all__ = ["SYSTEM_LOCAL", "SYSTEM_NAME", "Failure", "build_ndr", "report_recipients", "system_sender"]

SYSTEM_LOCAL = "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"  # Exchange's system mailbox, in every tenant
SYSTEM_NAME = "Microsoft Outlook"
# What each status says, in the NDR's readable part and its Diagnostic-Code.
WORDS = {
    "5.1.1": ("The email address you entered couldn't be found. Please check the recipient's email address and try "
              "to resend the message.", "550 5.1.1 <{address}>: Recipient address rejected: User unknown"),
    "5.1.10": ("The email address you entered couldn't be found.",
               "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"),
    "5.1.90": ("Your message can't be sent because you've reached your daily limit for message recipients.",
               "550 5.1.90 Your message can't be sent because you've reached your daily limit for message "
               "recipients"),
    "5.2.2": ("The recipient's mailbox is full and can't accept messages now.",
              "552 5.2.2 <{address}>: Mailbox full"),
}
_OTHERWISE = ("Your message couldn't be delivered.", "550 {status} Requested action not taken")


@dataclass(frozen=True)
class Failure:
    """One recipient the message could not reach, and the enhanced status code that says why."""

    address: str
    status: str = "5.1.1"

    @property
    def explanation(self) -> str:
        return WORDS.get(self.status, _OTHERWISE)[0]

    @property
    def diagnostic(self) -> str:
        return WORDS.get(self.status, _OTHERWISE)[1].format(address=self.address, status=self.status)


def system_sender(mailbox: str) -> str:
    """The address NDRs to `mailbox` come from: Exchange's system mailbox at the mailbox's domain."""
    return f"{SYSTEM_LOCAL}@{mailbox.rsplit('@', 1)[-1]}"


def _server() -> str:
    return f"EMU{secrets.token_hex(4).upper()}.eurprd01.prod.outlook.com"


def build_ndr(mailbox: str, original: bytes, subject: str, message_id: str, failures: Iterable[Failure],
              now: float) -> bytes:
    """The NDR Exchange delivers to `mailbox` for its message `original` (its MIME, `subject` and `message_id`)."""
    failed = list(failures)
    server = _server()
    boundary, alternative = str(uuid.uuid4()), str(uuid.uuid4())
    date = format_datetime(datetime.fromtimestamp(now, UTC))
    text = _explanation(failed, server, original)
    markup = ("<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>"
              "\r\n<body>\r\n<pre>" + html.escape(text) + "</pre>\r\n</body>\r\n</html>")
    headers = _headers(mailbox, subject, message_id, server, date, boundary)
    body = [
        f"--{boundary}",
        f'Content-Type: multipart/alternative; differences=Content-Type;\r\n\tboundary="{alternative}"',
        "",
        f"--{alternative}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
        "",
        text,
        f"--{alternative}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
        "",
        markup,
        f"--{alternative}--",
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        _delivery_status(failed, server, date),
        f"--{boundary}",
        "Content-Type: message/rfc822",
        "",
        original.decode("utf-8", "replace").rstrip("\r\n"),
        "",
        f"--{boundary}--",
        "",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(body)).encode()


def _explanation(failed: list[Failure], server: str, original: bytes) -> str:
    """The report's text for people: who failed and why, then the diagnostics and the original's headers."""
    original_headers = original.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = ["Delivery has failed to these recipients or groups:", ""]
    for failure in failed:
        lines += [f"{failure.address} ({failure.address})", failure.explanation, ""]
    lines += ["", "", "Diagnostic information for administrators:", "", f"Generating server: {server}", ""]
    for failure in failed:
        lines += [failure.address, f"Remote Server returned '{failure.diagnostic}'", ""]
    lines += ["Original message headers:", "", original_headers]
    return "\r\n".join(lines)


def _delivery_status(failed: list[Failure], server: str, date: str) -> str:
    """The message/delivery-status part (RFC 3464): one block per failed recipient."""
    status = ["Reporting-MTA: dns;" + server, f"Received-From-MTA: dns;{server}", f"Arrival-Date: {date}", ""]
    for failure in failed:
        status += [f"Final-Recipient: rfc822;{failure.address}", "Action: failed", f"Status: {failure.status}",
                   f"Diagnostic-Code: smtp;{failure.diagnostic}", ""]
    return "\r\n".join(status)


def _headers(mailbox: str, subject: str, message_id: str, server: str, date: str, boundary: str) -> list[str]:
    return [
        f"From: {SYSTEM_NAME} <{system_sender(mailbox)}>",
        f"To: <{mailbox}>",
        f"Date: {date}",
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"',
        "X-MS-Exchange-Message-Is-Ndr:",
        "Content-Language: en-US",
        f"Message-ID: <{uuid.uuid4()}@{server}>",
        f"In-Reply-To: {message_id}",
        f"References: {message_id}",
        f"Thread-Topic: {_encoded(_one_line(subject))}",
        f"Subject: {_encoded('Undeliverable: ' + _one_line(subject))}",
        "Auto-Submitted: auto-replied",
        "Return-Path: <>",
        "MIME-Version: 1.0",
    ]


def report_recipients(raw: bytes) -> tuple[str, ...]:
    """The recipients a delivery report says failed (its message/delivery-status part): Graph shows them as an NDR's
    `toRecipients`."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    failed = []
    for part in parsed.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in part.get_payload():
            if isinstance(block, str):
                continue
            kind, _, address = str(block.get("Final-Recipient") or "").partition(";")
            if kind.strip().lower() == "rfc822" and str(block.get("Action") or "").strip().lower() == "failed":
                failed.append(address.strip())
    return tuple(failed)


def _one_line(value: str) -> str:
    """A header value as one line: the original's subject may have been folded."""
    return " ".join(value.split())


def _encoded(value: str) -> str:
    """Header text as the wire carries it: RFC 2047 encoded words when it is not ASCII."""
    return value if value.isascii() else Header(value, "utf-8").encode()
