"""The query options of a mailbox's messages, as Exchange reads them: `$filter` (the clauses this service uses),
`$orderby` (sorted properties first in the filter, in the same order), `$select` and `$expand` (attachments, and
extended properties by id). Each parser answers Graph's 400 with Exchange's code for what it cannot read."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from graph_emulator.core.errors import GraphFault, bad_request
from graph_emulator.core.http import parse_select
from graph_emulator.mail.messages import MESSAGE_PROPERTIES, SentMessage, extended_key

__all__ = ["Predicate", "parse_expand", "parse_filter", "parse_message_select", "parse_orderby"]

Predicate = Callable[[SentMessage], bool]

_STRING = r"'((?:[^']|'')*)'"
_SORTABLE = {"sentDateTime", "receivedDateTime", "createdDateTime", "lastModifiedDateTime", "subject"}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
_WHEN = r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))"
_CANONICAL = {name.lower(): name for name in MESSAGE_PROPERTIES}  # $filter and $orderby name properties too


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


def parse_filter(raw: str | None) -> tuple[list[Predicate], list[str]]:
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
def parse_orderby(raw: str | None, filtered: list[str]) -> list[tuple[str, bool]]:
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


def parse_message_select(raw: str | None) -> list[str] | None:
    return parse_select(raw, MESSAGE_PROPERTIES, _no_property)


def parse_expand(raw: str | None) -> tuple[bool, list[str] | None]:
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
