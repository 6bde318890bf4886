"""A part of the store with some of its methods replaced: how a test counts or interrupts what a run asks of it."""

from __future__ import annotations

from typing import Any

__all__ = ["Hooked"]


class Hooked:
    """`part` with `methods` in place of its own (`Hooked(store.mirror, put=counting_put)`); the rest are its own."""

    def __init__(self, part: Any, **methods: Any) -> None:
        self._part = part
        vars(self).update(methods)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._part, name)
