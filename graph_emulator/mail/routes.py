"""Mail routes: sendMail (JSON and MIME), the mailbox's Sent Items and Inbox, and its messages' attachments and MIME.

Thin over `backend.mail`: this module resolves the mailbox (a user of the
tenant), reads Graph's query options (`$select`, `$filter`, `$orderby`,
`$expand`, `$top`, `$skip`) and pages; the backend holds the messages and shapes them.
Every request first counts against Graph's own limits for the mailbox
(`backend.mail.request`: a 429 past them, see `delivery.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from graph_emulator.core.backend import Backend
from graph_emulator.core.errors import GraphFault, bad_request, not_found
from graph_emulator.core.http import Call, Reply, Route, parse_select
from graph_emulator.directory.models import User
from graph_emulator.mail.models import INBOX, MESSAGE_PROPERTIES, SENT_ITEMS, SentMessage, attachment_json, extended_key

__all__ = ["mail_routes"]

Predicate = Callable[[SentMessage], bool]

# Well-known folders besides Sent Items and the Inbox exist in every mailbox; the emulator puts nothing in them.
_WELL_KNOWN = frozenset({"drafts", "deleteditems", "junkemail", "outbox", "archive", "clutter",
                         "conversationhistory", "scheduled", "msgfolderroot"})
_FOLDER_CALL = re.compile(r"mailFolders\('([^']*)'\)", re.IGNORECASE)
_STRING = r"'((?:[^']|'')*)'"
_SORTABLE = {"sentDateTime", "receivedDateTime", "createdDateTime", "lastModifiedDateTime", "subject"}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
_WHEN = r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))"
_TEXT_BODY = re.compile(r'outlook\.body-content-type\s*=\s*"?(text|html)"?', re.IGNORECASE)
_CANONICAL = {name.lower(): name for name in MESSAGE_PROPERTIES}  # $filter and $orderby name properties too
DEFAULT_PAGE = 10
MAX_PAGE = 1000


def _no_property(name: str) -> GraphFault:
    return bad_request(f"Could not find a property named '{name}' on type 'Microsoft.OutlookServices.Message'.",
                       code="RequestBroker--ParseUri")


def _invalid_filter() -> GraphFault:
    return bad_request("The query filter contains one or more invalid nodes.", code="ErrorInvalidUrlQueryFilter")


def _unquote(literal: str) -> str:
    return literal.replace("''", "'")


def _split_top(text: str, separator: str) -> list[str]:
    """Split on `separator` (a regex) where it stands outside quotes and parentheses."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    pattern = re.compile(separator, re.IGNORECASE)
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0:
            found = pattern.match(text, i)
            if found and found.end() > i:
                parts.append(text[start:i])
                start = i = found.end()
                continue
        i += 1
    parts.append(text[start:])
    return parts


# --- $filter ----------------------------------------------------------------------
def _property_equals(prop: str, value: str) -> Predicate:
    wanted = value.lower()
    if prop == "subject":
        return lambda m: m.subject.lower() == wanted
    return lambda m: m.internet_message_id.lower() == wanted


def _value_test(operator: str, wanted: str) -> Callable[[str], bool]:
    """A test of an extended property's value; Exchange compares string values in any case."""
    def test(value: str) -> bool:
        value = value.lower()
        return {"eq": value == wanted, "ne": value != wanted, "contains": wanted in value,
                "startswith": value.startswith(wanted)}[operator]
    return test


def _from_predicate(address: str) -> Predicate:
    """`from/emailAddress/address eq '...'`: the sender's address, in any case."""
    return lambda m: m.from_address.lower() == address


def _time_predicate(operator: str, literal: str) -> Predicate:
    """`receivedDateTime ge 2026-11-24T10:00:00Z` (a DateTimeOffset, unquoted, as OData writes it); the emulator's
    times are whole seconds, as Graph shows them."""
    try:
        wanted = datetime.fromisoformat(literal.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _invalid_filter() from None
    compare = _COMPARE[operator.lower()]
    return lambda m: compare(int(m.sent_at), wanted)


def _extended_predicate(variable: str, inner: str) -> Predicate:
    """`ep/id eq '...'` with at most one test of `ep/value` (eq, ne, contains, startswith); values match in any case."""
    var = re.escape(variable)
    ids: list[str] = []
    tests: list[Callable[[str], bool]] = []
    for clause in _split_top(inner, r"\s+and\s+"):
        if found := re.fullmatch(rf"\s*{var}/id\s+eq\s+{_STRING}\s*", clause, re.IGNORECASE):
            ids.append(extended_key(_unquote(found[1])))
        elif found := (re.fullmatch(rf"\s*{var}/value\s+(eq|ne)\s+{_STRING}\s*", clause, re.IGNORECASE)
                       or re.fullmatch(rf"\s*(contains|startswith)\(\s*{var}/value\s*,\s*{_STRING}\s*\)\s*", clause,
                                       re.IGNORECASE)):
            tests.append(_value_test(found[1].lower(), _unquote(found[2]).lower()))
        else:
            raise _invalid_filter()
    if len(ids) != 1 or len(tests) > 1:
        raise _invalid_filter()

    def matches(message: SentMessage) -> bool:
        return any(extended_key(key) == ids[0] and all(test(value) for test in tests)
                   for key, value in message.extended_properties.items())
    return matches


def _parse_filter(raw: str | None) -> tuple[list[Predicate], list[str]]:
    """The predicates of a `$filter`, and the properties it names in order (for the `$orderby` rule)."""
    if not raw:
        return [], []
    predicates: list[Predicate] = []
    properties: list[str] = []
    for clause in _split_top(raw, r"\s+and\s+"):
        if found := re.fullmatch(rf"\s*(internetMessageId|subject)\s+eq\s+{_STRING}\s*", clause, re.IGNORECASE):
            prop = _CANONICAL[found[1].lower()]
            predicates.append(_property_equals(prop, _unquote(found[2])))
            properties.append(prop)
        elif found := re.fullmatch(rf"\s*from/emailAddress/address\s+eq\s+{_STRING}\s*", clause, re.IGNORECASE):
            sender = _unquote(found[1]).lower()
            predicates.append(_from_predicate(sender))
            properties.append("from")
        elif found := re.fullmatch(rf"\s*(receivedDateTime|sentDateTime)\s+(eq|ne|gt|ge|lt|le)\s+{_WHEN}\s*", clause,
                                   re.IGNORECASE):
            predicates.append(_time_predicate(found[2], found[3]))
            properties.append(_CANONICAL[found[1].lower()])
        elif found := re.fullmatch(r"\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:(.*)\)\s*", clause,
                                   re.IGNORECASE | re.DOTALL):
            predicates.append(_extended_predicate(found[1], found[2]))
            properties.append("singleValueExtendedProperties")
        else:
            raise _invalid_filter()
    return predicates, properties


# --- $orderby, $select, $expand ---------------------------------------------------------
def _parse_orderby(raw: str | None, filtered: list[str]) -> list[tuple[str, bool]]:
    """(property, descending) pairs; Exchange wants sorted properties first in `$filter`, in the same order."""
    if not raw:
        return []
    order: list[tuple[str, bool]] = []
    for part in raw.split(","):
        found = re.fullmatch(r"\s*(\w+)(?:\s+(asc|desc))?\s*", part, re.IGNORECASE)
        if not found:
            raise bad_request(f"Invalid $orderby expression '{part.strip()}'.", code="BadRequest")
        prop = _CANONICAL.get(found[1].lower())
        if prop is None:
            raise _no_property(found[1])
        if prop not in _SORTABLE:
            raise bad_request(f"The property '{prop}' can't be used to sort messages here.",
                              code="ErrorInvalidProperty")
        order.append((prop, (found[2] or "asc").lower() == "desc"))
    if filtered and [p for p, _ in order] != filtered[:len(order)]:
        raise bad_request("The restriction or sort order is too complex for this operation.",
                          code="InefficientFilter")
    return order


def _parse_select(raw: str | None) -> list[str] | None:
    return parse_select(raw, MESSAGE_PROPERTIES, _no_property)


def _parse_expand(raw: str | None) -> tuple[bool, list[str] | None]:
    """(expand attachments?, extended property ids to expand or None)."""
    attachments, extended = False, None
    for part in _split_top(raw or "", r"\s*,\s*"):
        if not part.strip():
            continue
        if re.fullmatch(r"\s*attachments\s*", part, re.IGNORECASE):
            attachments = True
        elif found := re.fullmatch(r"\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=(.*)\)\s*", part,
                                   re.IGNORECASE | re.DOTALL):
            extended = extended or []
            for clause in _split_top(found[1], r"\s+or\s+"):
                match = re.fullmatch(rf"\s*id\s+eq\s+{_STRING}\s*", clause, re.IGNORECASE)
                if not match:
                    raise _invalid_filter()
                extended.append(_unquote(match[1]))
        elif re.fullmatch(r"\s*singleValueExtendedProperties\s*", part, re.IGNORECASE):
            raise bad_request("Expanding singleValueExtendedProperties needs a $filter on their id.",
                              code="ErrorInvalidUrlQuery")
        else:
            raise _no_property(part.split("(")[0].strip())
    return attachments, extended


def _body_type(call: Call) -> str:
    found = _TEXT_BODY.search(call.headers.get("prefer", ""))
    return found[1].lower() if found else "html"


def _preference_applied(call: Call, body_type: str) -> dict[str, str]:
    return {"Preference-Applied": f'outlook.body-content-type="{body_type}"'} if _TEXT_BODY.search(
        call.headers.get("prefer", "")) else {}


def mail_routes(backend: Backend) -> list[Route]:
    """Mail, served from `backend.mail`."""
    def mailbox(call: Call) -> User:
        key = call.params["user"].lower()
        for user in backend.directory.users.values():
            if key in (user.id, user.user_principal_name.lower(), (user.mail or "").lower()):
                backend.mail.request(user)  # Graph's request-rate and concurrency limits: 429 past them
                return user
        raise not_found(f"The requested user '{call.params['user']}' is invalid.", code="ErrorInvalidUser")

    def folder_name(call: Call) -> str | None:
        """The folder the path names (`mailFolders/{folder}` or `mailFolders('{folder}')`), if it names one."""
        if "folder_call" in call.params:
            found = _FOLDER_CALL.fullmatch(call.params["folder_call"])
            if not found:
                raise bad_request(f"Resource not found for the segment '{call.params['folder_call']}'.",
                                  code="BadRequest")
            return found[1]
        return call.params.get("folder")

    def known_folder(user: User, name: str) -> str | None:
        """Sent Items or the Inbox (by well-known name in any case, or by id); None for another well-known folder
        (empty here)."""
        for folder in (SENT_ITEMS, INBOX):
            if name.lower() == folder or name == backend.mail.folder_id(user, folder):
                return folder
        if name.lower() in _WELL_KNOWN:
            return None
        raise bad_request("Id is malformed.", code="ErrorInvalidIdMalformed")

    def context(call: Call, rest: str) -> str:
        return call.context(f"users('{call.params['user']}')/{rest}")

    def send_mail(call: Call) -> Reply:
        user = mailbox(call)
        if call.headers.get("content-type", "").split(";")[0].strip().lower() == "text/plain":
            backend.mail.send_mime(user, call.body)
        else:
            backend.mail.send_json(user, call.json_object())
        return Reply(202)

    def list_messages(call: Call) -> Reply:
        user = mailbox(call)
        folder = folder_name(call)
        which = known_folder(user, folder) if folder is not None else None
        select = _parse_select(call.query.get("$select"))
        attachments, extended = _parse_expand(call.query.get("$expand"))
        predicates, filtered = _parse_filter(call.query.get("$filter"))
        order = _parse_orderby(call.query.get("$orderby"), filtered)
        top = call.top(default=DEFAULT_PAGE, maximum=MAX_PAGE)
        raw_skip = call.query.get("$skip", "0")
        if not raw_skip.isdigit():
            raise bad_request(f"Invalid value '{raw_skip}' for $skip.", code="BadRequest")
        skip = int(raw_skip)
        held = backend.mail.folder(user, which) if folder is None or which is not None else []
        found = sorted((m for m in held if all(p(m) for p in predicates)), key=lambda m: m.seq, reverse=True)
        for prop, descending in reversed(order or [("sentDateTime", True)]):
            found.sort(key=(lambda m: m.subject.lower()) if prop == "subject" else (lambda m: m.sent_at),
                       reverse=descending)
        page = found[skip:skip + top]
        body_type = _body_type(call)
        where = f"mailFolders('{folder}')/messages" if folder is not None else "messages"
        body: dict[str, Any] = {
            "@odata.context": context(call, where + (f"({','.join(select)})" if select else "")),
            "value": [backend.mail.message_json(user, m, select=select, attachments=attachments,
                                                extended_ids=extended, body_type=body_type) for m in page]}
        if len(found) > skip + top:
            query = {k: v for k, v in call.query.items() if k != "$skip"}
            body["@odata.nextLink"] = call.link(call.path, **query, **{"$skip": str(skip + top)})
        return Reply(200, body, _preference_applied(call, body_type))

    def message_of(call: Call) -> tuple[User, SentMessage]:
        user = mailbox(call)
        folder = folder_name(call)
        if folder is not None:
            known_folder(user, folder)  # a message id stands alone in Exchange; the folder need only exist
        return user, backend.mail.message(user, call.params["message"])

    def get_message(call: Call) -> Reply:
        user, message = message_of(call)
        select = _parse_select(call.query.get("$select"))
        attachments, extended = _parse_expand(call.query.get("$expand"))
        body_type = _body_type(call)
        body = {"@odata.context": context(call, "messages" + (f"({','.join(select)})" if select else "") + "/$entity")}
        body |= backend.mail.message_json(user, message, select=select, attachments=attachments,
                                          extended_ids=extended, body_type=body_type)
        return Reply(200, body, _preference_applied(call, body_type))

    def get_message_mime(call: Call) -> Reply:
        _, message = message_of(call)
        return Reply(200, message.raw, {"Content-Type": "text/plain"})

    def get_attachments(call: Call) -> Reply:
        _, message = message_of(call)
        return Reply(200, {"@odata.context": context(call, f"messages('{message.id}')/attachments"),
                           "value": [attachment_json(message, a) for a in message.attachments]})

    def attachment_of(call: Call) -> tuple[SentMessage, Any]:
        _, message = message_of(call)
        for attachment in message.attachments:
            if attachment.id == call.params["attachment"]:
                return message, attachment
        raise not_found("The specified object was not found in the store.", code="ErrorItemNotFound")

    def get_attachment(call: Call) -> Reply:
        message, attachment = attachment_of(call)
        return Reply(200, {"@odata.context": context(call, f"messages('{message.id}')/attachments/$entity")}
                     | attachment_json(message, attachment))

    def get_attachment_value(call: Call) -> Reply:
        _, attachment = attachment_of(call)
        return Reply(200, attachment.content, {"Content-Type": attachment.content_type})

    routes = [Route("POST", "/users/{user}/sendMail", send_mail)]
    for messages in ("/users/{user}/messages", "/users/{user}/mailFolders/{folder}/messages",
                     "/users/{user}/{folder_call}/messages"):
        one = messages + "/{message}"
        routes += [
            Route("GET", messages, list_messages),
            Route("GET", one, get_message),
            Route("GET", one + "/$value", get_message_mime),
            Route("GET", one + "/attachments", get_attachments),
            Route("GET", one + "/attachments/{attachment}", get_attachment),
            Route("GET", one + "/attachments/{attachment}/$value", get_attachment_value),
        ]
    return routes
