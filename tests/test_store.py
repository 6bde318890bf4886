"""The SQLite store keeps the store's contract (tests/store_contract.py), concern by concern."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coprod.store import SqliteStore, open_store
from tests.store_contract import (
    CheckpointsContract,
    Clock,
    CountersContract,
    LedgerContract,
    MirrorContract,
    OutboxContract,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    yield db
    db.close()


@pytest.fixture
def second_store(store: SqliteStore, clock: Clock) -> Iterator[SqliteStore]:
    """Another process's handle on the same file."""
    db = SqliteStore(store.path, clock=clock)
    yield db
    db.close()


class TestCheckpoints(CheckpointsContract):
    pass


class TestMirror(MirrorContract):
    pass


class TestLedger(LedgerContract):
    pass


class TestOutbox(OutboxContract):
    pass


class TestCounters(CountersContract):
    pass


def test_the_store_is_chosen_by_its_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'state.sqlite3'}")
    assert isinstance(store, SqliteStore) and Path(store.path).parent.is_dir()
    store.close()
    with pytest.raises(ValueError, match="COPROD_STATE"):
        open_store("postgres://somewhere")
