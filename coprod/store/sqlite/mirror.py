"""The SQLite store's mirror: one row an item in the `mirror` table, its columns as JSON, its group in `grp`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from coprod.store._base import MirrorItem
from coprod.store.sqlite.database import Part, text

__all__ = ["SqliteMirror"]

WHOLE = 5000  # eTags asked for: more than this, and the list's are read in one statement


class SqliteMirror(Part):
    @staticmethod
    def _item(row: tuple[Any, ...]) -> MirrorItem:
        return MirrorItem(row[0], row[1], row[2], row[3], json.loads(row[5]), row[4])

    def get(self, list_name: str, item_id: str) -> MirrorItem | None:
        with self._lock:
            row = self._db.execute("""SELECT list, item_id, etag, created, grp, fields FROM mirror WHERE list = ? AND
                                      item_id = ?""", (list_name, item_id)).fetchone()
        return self._item(row) if row else None

    def many(self, list_name: str, item_ids: Iterable[str]) -> dict[str, MirrorItem]:
        return {row[1]: self._item(row) for row in self._by_ids("""list, item_id, etag, created, grp, fields""",
                                                                list_name, item_ids)}

    def etags(self, list_name: str, item_ids: Iterable[str]) -> dict[str, str | None]:
        ids = item_ids if isinstance(item_ids, (set, frozenset, dict)) else set(item_ids)
        if len(ids) <= WHOLE:
            return {row[0]: row[1] for row in self._by_ids("""item_id, etag""", list_name, ids)}
        with self._lock:  # (the echo of a big write: one scan of the list's eTags, not a statement per 500)
            rows = self._db.execute("""SELECT item_id, etag FROM mirror WHERE list = ?""", (list_name,)).fetchall()
        return {item_id: etag for item_id, etag in rows if item_id in ids}

    def groups(self, list_name: str) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("""SELECT DISTINCT grp FROM mirror WHERE list = ? AND grp IS NOT
                                                          NULL""", (list_name,))}

    def _by_ids(self, columns: str, list_name: str, item_ids: Iterable[str]) -> list[tuple[Any, ...]]:
        ids, rows = list(dict.fromkeys(item_ids)), []
        with self._lock:
            for start in range(0, len(ids), 500):  # SQLite allows 999 parameters a statement
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))  # placeholders only: the ids are parameters
                query = f"SELECT {columns} FROM mirror WHERE list = ? AND item_id IN ({marks})"  # noqa: S608
                rows += self._db.execute(query, (list_name, *chunk)).fetchall()
        return rows

    def items(self, list_name: str, group: str | None = None) -> list[MirrorItem]:
        query = """SELECT list, item_id, etag, created, grp, fields FROM mirror WHERE list = ?"""
        args: tuple[Any, ...] = (list_name,)
        if group is not None:
            query += """ AND grp = ?"""
            args += (group,)
        with self._lock:
            return [self._item(row) for row in self._db.execute(query, args)]

    def put(self, items: Iterable[MirrorItem]) -> None:
        rows = ((i.list_name, i.item_id, i.etag, i.created, i.group, text(i.fields))
                for i in items)  # (one row at a time: a run's whole list is not held twice)
        with self._tx() as db:
            db.executemany("""INSERT OR REPLACE INTO mirror VALUES (?, ?, ?, ?, ?, ?)""", rows)

    def delete(self, list_name: str, item_ids: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("""DELETE FROM mirror WHERE list = ? AND item_id = ?""", [(list_name, i) for i in item_ids])

    def ids(self, list_name: str) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("""SELECT item_id FROM mirror WHERE list = ?""", (list_name,))}
