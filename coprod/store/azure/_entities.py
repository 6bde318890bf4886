"""How the store's records become Table Storage entities: escaped keys, and JSON split over properties.

- Keys are escaped for Table Storage, which refuses `/ \\ # ?` and control characters in keys: each of those
  (and `%`) becomes `%XX`. Escaping is character by character, so a key's prefix is its escaped key's prefix,
  and a prefix is a RowKey range (the outbox's `tally` and `cancel`). A key is 1 KiB at most; ours are far less.
- `*`: JSON, split over properties `<name>0`, `<name>1`, ... of 30,000 UTF-16 units each (a string property holds
  64 KiB of UTF-16, where an emoji is two units), with `<name>_n` the count. An entity holds 1 MiB: a mirror item
  whose fields would not fit keeps its longest values cut to 10,000 characters (every reader cuts them far
  shorter); any other record that would not fit is refused with `ValueError`, which the caller treats as that one
  record failing. On the wire the JSON is ASCII (`\\u` escapes, up to 6 bytes a unit): transactions are sized by
  what is sent (_batch.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["BATCH", "BATCH_BYTES", "after", "escape_key", "fit_fields", "pack", "packed_json", "unescape_key",
           "units", "unpack", "unpacked"]

CHUNK = 30_000  # characters of JSON per property (64 KiB of UTF-16)
MAX_CHUNKS = 15  # about 900 KB: under the entity's 1 MiB with the other properties
SHRINK_TO = 10_000  # a mirror item's longest values, when its fields would not fit whole
BATCH = 100  # operations in one entity group transaction
BATCH_BYTES = 3_500_000  # and under the transaction's 4 MiB
_FORBIDDEN = frozenset("/\\#?%")


def escape_key(key: str) -> str:
    """A key as Table Storage takes it: `/ \\ # ?`, `%` and control characters as `%XX` (prefix-preserving)."""
    return "".join(f"%{ord(ch):02X}" if ch in _FORBIDDEN or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F else ch
                   for ch in key)


def unescape_key(key: str) -> str:
    out, i = [], 0
    while i < len(key):
        if key[i] == "%" and i + 3 <= len(key):
            out.append(chr(int(key[i + 1:i + 3], 16)))
            i += 3
        else:
            out.append(key[i])
            i += 1
    return "".join(out)


def after(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (for a RowKey range)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\uffff"


def packed_json(value: Any) -> str:
    """A record's JSON as it is stored."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def units(text: str) -> int:
    """`text`'s length as Table Storage counts a string: UTF-16 code units (an emoji is two)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _pieces(text: str) -> list[str]:
    """`text` in pieces of at most CHUNK UTF-16 units (a piece one unit short where a pair would cross it)."""
    pieces, start = [], 0
    while start < len(text):
        piece = text[start:start + CHUNK]
        piece = piece[:len(piece) - max(units(piece) - CHUNK, 0)]  # each character dropped is one or two units
        pieces.append(piece)
        start += len(piece)
    return pieces or [""]


def pack(name: str, value: Any, text: str | None = None) -> dict[str, Any]:
    """`value` as properties `<name>0`, `<name>1`, ... (`text`: its `packed_json`, where the caller has it)."""
    text = packed_json(value) if text is None else text
    chunks = _pieces(text)
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"a record of {len(text)} characters is too large for Table Storage")
    return {f"{name}_n": len(chunks)} | {f"{name}{i}": chunk for i, chunk in enumerate(chunks)}


def unpacked(entity: Any, name: str) -> dict[str, Any]:
    """The entity's properties without the chunks of record `name` (to write it again with another record)."""
    return {k: v for k, v in entity.items() if k != f"{name}_n" and not re.fullmatch(rf"{name}\d+", k)}


def unpack(entity: Any, name: str) -> Any:
    return json.loads("".join(str(entity.get(f"{name}{i}", "")) for i in range(int(entity.get(f"{name}_n", 0)))))


def fit_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A mirror item's fields, with the longest values cut if they would not fit one entity whole."""
    if units(packed_json(fields)) <= CHUNK * MAX_CHUNKS - 1_000:
        return fields
    return {k: v[:SHRINK_TO] if isinstance(v, str) else v for k, v in fields.items()}
