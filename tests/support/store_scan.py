"""Everything a state store physically holds, as one text: what an erasure test searches for an address.

Read below the store's own methods (every SQLite table row, every Table Storage entity with all its properties),
so a payload chunk a method no longer reads is still found; and every email's words, which the outbox keeps
compressed, unpacked."""

from __future__ import annotations

import json

from coprod.mail.outbox import readable
from coprod.store import SqliteStore, StateStore
from coprod.store.azure import AzureTableStore


def raw_text(store: StateStore) -> str:
    parts: list[str] = []
    if isinstance(store, SqliteStore):
        db = store.database.connection
        with store.database.lock:
            names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in names:
                parts += [json.dumps(row, ensure_ascii=False, default=str)
                          for row in db.execute(f'SELECT * FROM "{name}"')]  # noqa: S608 - sqlite_master's names
    elif isinstance(store, AzureTableStore):
        for client in store._tables.values():
            parts += [json.dumps(dict(entity), ensure_ascii=False, default=str) for entity in client.list_entities()]
    else:
        raise TypeError(f"no raw reading for {type(store).__name__}")
    for status in ("queued", "sending", "sent", "failed", "cancelled"):  # and every email's words, unpacked
        parts += [json.dumps(readable(e.payload), ensure_ascii=False) for e in store.outbox.list(status, limit=10**6)]
    return "\n".join(parts)
