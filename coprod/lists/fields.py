"""Reading list columns safely, with no I/O: any value people (or a bad import) put in a SharePoint column.

Every reader here accepts any value (missing, wrong type, huge, HTML, control characters) and never raises:
it returns what it could read, or a plain "nothing usable". Each job's rules decide what that means for them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from config import THEMES
from graph_client import header_text

__all__ = ["INTERNATIONAL_NOTE", "EmailCheck", "as_bool", "as_datetime", "as_int", "as_lines", "as_text", "check_email",
           "facilitators", "greeting_name", "normalise_email", "subscriber_topics"]

FIRST_YEAR, LAST_YEAR = 2000, 2199  # dates outside these are typing mistakes (and break calendar files)
# What a person reads when their address has non-English letters before the @ (see `check_email`).
INTERNATIONAL_NOTE = ("We can't yet send email to an address with accented or non-English letters before "
                      "the @, like “{value}”. Please give us another address, or ask the programme team to "
                      "book for you.")


def as_text(value: Any, limit: int = 500) -> str:
    """A clean, single-line string from any field value ('' for nothing usable): NFKC-normalised, every line
    break, control character and bidirectional override a space (see `graph_client.header_text`)."""
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    bounded = str(value)[:limit * 4]  # pragma: no mutate - bounds the work on a value of megabytes; not the limit
    return header_text(unicodedata.normalize("NFKC", bounded))[:limit].rstrip()


def as_lines(value: Any, limit: int = 4000) -> str:
    """Clean text that keeps its lines (pre-reading, say): each line as `as_text` makes it, blank runs at most
    one, any line or paragraph separator a line break; '' for nothing usable."""
    if not isinstance(value, str):
        return ""
    text = re.sub(r"\r\n?|[\u2028\u2029\v\f\x85]", "\n", value[:limit * 4])
    lines = [as_text(line, limit) for line in text.split("\n")]
    kept = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", kept)[:limit].rstrip()


TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "dame", "lady", "lord"})
NAME_JOINERS = "-'’"  # inside a name: Anne-Marie, O'Brien


def greeting_name(value: Any) -> str:
    """What to greet someone by when their name was typed on a public form by whoever booked, who may not be
    the address's owner: a first name (or a title and a surname), at most 40 characters, and only if the whole
    text reads as a name (at most six words of letters, joined by hyphens or apostrophes, an initial's full
    stop at a word's end). '' for anything more (a link, a sentence, digits, markup): then nobody's words but
    ours reach the inbox."""
    words = as_text(value, 200).split()
    if not words or len(words) > 6 or not all(_name_word(word) for word in words):
        return ""
    first = words[0].rstrip(".")
    if first.casefold() in TITLES and len(words) > 1:
        first = f"{first} {words[-1].rstrip('.')}"
    return first if len(first) <= 40 else ""


def _name_word(word: str) -> bool:
    """One word of a name: letters (any script, with their marks), joined by a hyphen or an apostrophe; a full
    stop only at its end (an initial, "Dr.")."""
    parts = re.split(f"[{NAME_JOINERS}]", word.removesuffix("."))
    return all(part and all(unicodedata.category(c)[0] in ("L", "M") for c in part) for part in parts)


def facilitators(value: Any) -> list[str]:
    """The usable addresses in a Facilitators column (commas, semicolons, spaces or lines between them)."""
    if not isinstance(value, str):
        return []
    found = (normalise_email(part) for part in re.split(r"[,;\s]+", value))
    return sorted({address for address in found if address})


def subscriber_topics(fields: dict[str, Any]) -> list[str]:
    """A Subscribers or Updates row's topics, as the ones the list knows (anything else ignored)."""
    value = fields.get("Topics")
    values = value if isinstance(value, list) else [value]  # one topic typed as text; anything else matches none
    return [t for t in THEMES if t in values]


def as_bool(value: Any) -> bool:
    """A yes/no column's value; only a clear yes counts as yes."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return False


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value == value and abs(value) < 1e9 else None  # NaN and absurd values are unusable
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number == number and abs(number) < 1e9 else None
    return None


def as_datetime(value: Any) -> datetime | None:
    """A date-time column's value (UTC when it names no zone); None if it is not one, or not a plausible year."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())  # Python 3.11 reads Graph's "Z" itself
    except ValueError:
        return None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EmailCheck:
    """An email column read: `address` to send to and compare (None if unusable), else `problem` says why."""

    address: str | None
    problem: str | None  # None, "missing", "invalid" or "international"
    shown: str  # what was typed, cut short, for a note


def check_email(value: Any) -> EmailCheck:
    """An address as we send to it and compare it: trimmed, NFKC-normalised, lower-case, the domain in its
    ASCII (IDNA `xn--`) form. A local part with non-ASCII letters (`josé@...`) is refused as "international":
    it needs SMTPUTF8 all the way, which Exchange Online's sendMail does not document.

    Each distinct text is checked once a process (the answer depends on the text alone): a run deciding a
    session of thousands checks only the addresses it has not seen, that is, the ones that changed."""
    return _check_text(as_text(value, 320))  # pragma: no mutate - a bound on work: over 254 is refused anyway


@functools.lru_cache(maxsize=100_000)
def _check_text(text: str) -> EmailCheck:
    shown = text[:60]
    if not text:
        return EmailCheck(None, "missing", "")
    try:
        checked = validate_email(text, check_deliverability=False)
    except (EmailNotValidError, UnicodeError, ValueError):
        return EmailCheck(None, "invalid", shown)
    if checked.ascii_email is None:
        return EmailCheck(None, "international", shown)
    if len(checked.local_part) > 64:  # RFC 5321's limit, which mail servers enforce
        return EmailCheck(None, "invalid", shown)
    return EmailCheck(checked.ascii_email.lower(), None, shown)


def normalise_email(value: Any) -> str | None:
    """The address as compared for duplicates and sent to (see `check_email`); None if unusable."""
    return check_email(value).address
