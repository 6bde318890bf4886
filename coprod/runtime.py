"""The composition root: the one place that turns settings into the parts of the service.

The CLI, the timer function and the pages all get what they use from here: a run gets `Services` (the Graph
client, the lists, the directory, meetings, the store, the outbox, the signer); the pages get a `WebContext`
(only the store and the signer: no Graph client, so a page never waits for a token).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from config import Settings, StoreSettings
from coprod.links import Signer
from coprod.mail.outbox import GraphTransport, MailTransport, Outbox, SendLimits
from coprod.pages.context import WebContext
from coprod.store import StateStore, open_store
from graph_client import Directory, GraphClient, Mail, OnlineMeetings, SharePointLists

__all__ = ["Services", "signer_for", "store_for", "web_context"]


def signer_for(settings: Settings, clock: Callable[[], float] = time.time) -> Signer:
    return Signer(settings.signing_key.get_secret_value(), clock=clock)


def store_for(settings: Settings | StoreSettings, clock: Callable[[], float] = time.time) -> StateStore:
    """The configured store; an Azure account URL is reached with the managed identity when one is used."""
    return open_store(settings.state, clock=clock, prefix=settings.state_prefix,
                      client_id=settings.client_id if settings.use_managed_identity else None)


def web_context(settings: Settings, store: StateStore | None = None, signer: Signer | None = None,
                lists: Callable[[], SharePointLists] | None = None,
                clock: Callable[[], float] = time.time) -> WebContext:
    """What the pages need, from the settings (or the store and signer a run already has). The Graph client for
    bookings is made on the first booking, not before: the other pages never wait for a token."""
    made: list[SharePointLists] = []

    def lists_on_demand() -> SharePointLists:
        if not made:
            made.append(SharePointLists(GraphClient.from_settings(settings), settings.site_id))
        return made[0]

    return WebContext(signer or signer_for(settings), store or store_for(settings), settings, lists or lists_on_demand,
                      clock)


@dataclass
class Services:
    settings: Settings
    graph: GraphClient
    lists: SharePointLists
    store: StateStore
    directory: Directory
    meetings: OnlineMeetings
    outbox: Outbox
    signer: Signer
    clock: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], None] = field(default=time.sleep)

    @classmethod
    def open(cls, settings: Settings, *, clock: Callable[[], float] = time.time,
             sleep: Callable[[float], None] = time.sleep, limits: SendLimits | None = None) -> Services:
        graph = GraphClient.from_settings(settings)
        store = store_for(settings, clock)
        mail = Mail(graph, settings.sender, sender_name=settings.programme_name)
        limits = limits or SendLimits(per_window=settings.send_per_minute, per_day=settings.send_per_day)
        outbox = Outbox(store, _transport(settings, mail), limits, clock=clock, sleep=sleep,
                        recheck_after=settings.recheck_seconds)
        return cls(settings, graph, SharePointLists(graph, settings.site_id), store, Directory(graph),
                   OnlineMeetings(graph, settings.organizer_id), outbox,
                   signer_for(settings, clock), clock, sleep)

    def web_context(self) -> WebContext:
        return web_context(self.settings, self.store, self.signer, lambda: self.lists, self.clock)

    def close(self) -> None:
        self.graph.close()
        self.store.close()
        close = getattr(self.outbox.transport, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _transport(settings: Settings, mail: Mail) -> MailTransport:
    """Graph's sendMail, or Azure Communication Services Email (COPROD_MAIL_TRANSPORT=acs)."""
    if settings.mail_transport == "acs":
        from coprod.mail.acs import AcsTransport

        assert settings.acs_connection_string is not None and settings.acs_sender is not None  # settings check it
        return AcsTransport(settings.acs_connection_string.get_secret_value(), settings.acs_sender,
                            sender_name=settings.programme_name,
                            ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
                            timeout=settings.graph_timeout_seconds)
    return GraphTransport(mail)
