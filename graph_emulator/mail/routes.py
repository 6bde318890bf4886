"""Mail routes: sendMail (JSON and MIME), the mailbox's Sent Items and Inbox, and its messages' attachments and MIME.

Thin over `backend.mail`: this module resolves the mailbox (a user of the
tenant), reads Graph's query options (`$select`, `$filter`, `$orderby`,
`$expand`, `$top`, `$skip`) and pages; the backend holds the messages and shapes them.
Every request first counts against Graph's own limits for the mailbox
(`backend.mail.request`: a 429 past them, see `delivery.py`).
"""

from __future__ import annotations

import re
from typing import Any

from graph_emulator.core.account import Account
from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import bad_request, not_found
from graph_emulator.core.http import Call, Reply, Route
from graph_emulator.mail.messages import INBOX, SENT_ITEMS, SentMessage, attachment_json
from graph_emulator.mail.query import Predicate, parse_expand, parse_filter, parse_message_select, parse_orderby

__all__ = ["MailRoutes", "mail_routes"]

# Well-known folders besides Sent Items and the Inbox exist in every mailbox; the emulator puts nothing in them.
_WELL_KNOWN = frozenset({"drafts", "deleteditems", "junkemail", "outbox", "archive", "clutter",
                         "conversationhistory", "scheduled", "msgfolderroot"})
_FOLDER_CALL = re.compile(r"mailFolders\('([^']*)'\)", re.IGNORECASE)
_TEXT_BODY = re.compile(r'outlook\.body-content-type\s*=\s*"?(text|html)"?', re.IGNORECASE)
DEFAULT_PAGE = 10
MAX_PAGE = 1000


def _body_type(call: Call) -> str:
    found = _TEXT_BODY.search(call.headers.get("prefer", ""))
    return found[1].lower() if found else "html"


def _preference_applied(call: Call, body_type: str) -> dict[str, str]:
    return {"Preference-Applied": f'outlook.body-content-type="{body_type}"'} if _TEXT_BODY.search(
        call.headers.get("prefer", "")) else {}


def _skip(call: Call) -> int:
    raw_skip = call.query.get("$skip", "0")
    if not raw_skip.isdigit():
        raise bad_request(f"Invalid value '{raw_skip}' for $skip.", code="BadRequest")
    return int(raw_skip)


def _found(held: list[SentMessage], predicates: list[Predicate], order: list[tuple[str, bool]]) -> list[SentMessage]:
    """The messages that meet every predicate, newest first unless `$orderby` says otherwise."""
    found = sorted((m for m in held if all(p(m) for p in predicates)), key=lambda m: m.seq, reverse=True)
    for prop, descending in reversed(order or [("sentDateTime", True)]):
        found.sort(key=(lambda m: m.subject.lower()) if prop == "subject" else (lambda m: m.sent_at),
                   reverse=descending)
    return found


class MailRoutes:
    """One handler per mail route, each over `backend.mail`, for the mailbox the path names (a user of the
    directory); the helpers that resolve the mailbox, folder, message and attachment start with `_`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _mailbox(self, call: Call) -> Account:
        key = call.params["user"].lower()
        for user in self.backend.directory.users.values():
            if key in (user.id, user.user_principal_name.lower(), (user.mail or "").lower()):
                self.backend.mail.request(user)  # Graph's request-rate and concurrency limits: 429 past them
                return user
        raise not_found(f"The requested user '{call.params['user']}' is invalid.", code="ErrorInvalidUser")

    def _folder_name(self, call: Call) -> str | None:
        """The folder the path names (`mailFolders/{folder}` or `mailFolders('{folder}')`), if it names one."""
        if "folder_call" in call.params:
            found = _FOLDER_CALL.fullmatch(call.params["folder_call"])
            if not found:
                raise bad_request(f"Resource not found for the segment '{call.params['folder_call']}'.",
                                  code="BadRequest")
            return found[1]
        return call.params.get("folder")

    def _known_folder(self, user: Account, name: str) -> str | None:
        """Sent Items or the Inbox (by well-known name in any case, or by id); None for another well-known folder
        (empty here)."""
        for folder in (SENT_ITEMS, INBOX):
            if name.lower() == folder or name == self.backend.mail.folder_id(user, folder):
                return folder
        if name.lower() in _WELL_KNOWN:
            return None
        raise bad_request("Id is malformed.", code="ErrorInvalidIdMalformed")

    def _context(self, call: Call, rest: str) -> str:
        return call.context(f"users('{call.params['user']}')/{rest}")

    def send_mail(self, call: Call) -> Reply:
        user = self._mailbox(call)
        if call.headers.get("content-type", "").split(";")[0].strip().lower() == "text/plain":
            self.backend.mail.send_mime(user, call.body)
        else:
            self.backend.mail.send_json(user, call.json_object())
        return Reply(202)

    def list_messages(self, call: Call) -> Reply:
        user = self._mailbox(call)
        folder = self._folder_name(call)
        which = self._known_folder(user, folder) if folder is not None else None
        select = parse_message_select(call.query.get("$select"))
        attachments, extended = parse_expand(call.query.get("$expand"))
        predicates, filtered = parse_filter(call.query.get("$filter"))
        order = parse_orderby(call.query.get("$orderby"), filtered)
        top = call.top(default=DEFAULT_PAGE, maximum=MAX_PAGE)
        skip = _skip(call)
        held = self.backend.mail.folder(user, which) if folder is None or which is not None else []
        found = _found(held, predicates, order)
        page = found[skip:skip + top]
        body_type = _body_type(call)
        where = f"mailFolders('{folder}')/messages" if folder is not None else "messages"
        body: dict[str, Any] = {
            "@odata.context": self._context(call, where + (f"({','.join(select)})" if select else "")),
            "value": [self.backend.mail.message_json(user, m, select=select, attachments=attachments,
                                                     extended_ids=extended, body_type=body_type) for m in page]}
        if len(found) > skip + top:
            query = {k: v for k, v in call.query.items() if k != "$skip"}
            body["@odata.nextLink"] = call.link(call.path, **query, **{"$skip": str(skip + top)})
        return Reply(200, body, _preference_applied(call, body_type))

    def _message_of(self, call: Call) -> tuple[Account, SentMessage]:
        user = self._mailbox(call)
        folder = self._folder_name(call)
        if folder is not None:
            self._known_folder(user, folder)  # a message id stands alone in Exchange; the folder need only exist
        return user, self.backend.mail.message(user, call.params["message"])

    def get_message(self, call: Call) -> Reply:
        user, message = self._message_of(call)
        select = parse_message_select(call.query.get("$select"))
        attachments, extended = parse_expand(call.query.get("$expand"))
        body_type = _body_type(call)
        shape = "messages" + (f"({','.join(select)})" if select else "") + "/$entity"
        body = {"@odata.context": self._context(call, shape)}
        body |= self.backend.mail.message_json(user, message, select=select, attachments=attachments,
                                               extended_ids=extended, body_type=body_type)
        return Reply(200, body, _preference_applied(call, body_type))

    def get_message_mime(self, call: Call) -> Reply:
        _, message = self._message_of(call)
        return Reply(200, message.raw, {"Content-Type": "text/plain"})

    def get_attachments(self, call: Call) -> Reply:
        _, message = self._message_of(call)
        return Reply(200, {"@odata.context": self._context(call, f"messages('{message.id}')/attachments"),
                           "value": [attachment_json(message, a) for a in message.attachments]})

    def _attachment_of(self, call: Call) -> tuple[SentMessage, Any]:
        _, message = self._message_of(call)
        for attachment in message.attachments:
            if attachment.id == call.params["attachment"]:
                return message, attachment
        raise not_found("The specified object was not found in the store.", code="ErrorItemNotFound")

    def get_attachment(self, call: Call) -> Reply:
        message, attachment = self._attachment_of(call)
        return Reply(200, {"@odata.context": self._context(call, f"messages('{message.id}')/attachments/$entity")}
                     | attachment_json(message, attachment))

    def get_attachment_value(self, call: Call) -> Reply:
        _, attachment = self._attachment_of(call)
        return Reply(200, attachment.content, {"Content-Type": attachment.content_type})

    def routes(self) -> list[Route]:
        routes = [Route("POST", "/users/{user}/sendMail", self.send_mail)]
        for messages in ("/users/{user}/messages", "/users/{user}/mailFolders/{folder}/messages",
                         "/users/{user}/{folder_call}/messages"):
            one = messages + "/{message}"
            routes += [
                Route("GET", messages, self.list_messages),
                Route("GET", one, self.get_message),
                Route("GET", one + "/$value", self.get_message_mime),
                Route("GET", one + "/attachments", self.get_attachments),
                Route("GET", one + "/attachments/{attachment}", self.get_attachment),
                Route("GET", one + "/attachments/{attachment}/$value", self.get_attachment_value),
            ]
        return routes


def mail_routes(backend: Backend) -> list[Route]:
    """Mail, served from `backend.mail`."""
    return MailRoutes(backend).routes()
