"""Wiring: the Graph client, list operations and state store that a run needs, from settings."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from config import Settings
from coprod.state import StateStore, open_store
from graph_client import GraphClient, SharePointLists

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    graph: GraphClient
    lists: SharePointLists
    store: StateStore

    @classmethod
    def open(cls, settings: Settings) -> Services:
        graph = GraphClient.from_settings(settings)
        return cls(settings, graph, SharePointLists(graph, settings.site_id), open_store(settings.state))

    def close(self) -> None:
        self.graph.close()
        self.store.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
