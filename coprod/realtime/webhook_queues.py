"""The queue between Graph's notifications and the runs they call for, and its consumer (see coprod.realtime.webhooks).

- `LocalQueue`: in one process (`python -m coprod serve` on SQLite): a notification wakes the consumer thread;
  several that come while it works make one more round, not one each;
- `AzureQueue`: on an Azure Storage queue (Azurite's locally) when the state is on Azure Table Storage: the queue
  the function app's consumer reads in Azure, so `serve` and the function app can share one.

Each hands `coprod.realtime.webhooks.consume` the runs; which notifications are believed is decided before, in
`coprod.realtime.webhooks.receive`. Their log lines keep the logger `coprod.realtime.webhooks`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["POLL_SECONDS", "QUEUE_BATCH", "QUEUE_HIDDEN", "AzureQueue", "LocalQueue"]

log = logging.getLogger("coprod.webhooks")

POLL_SECONDS = 0.5  # how often the storage queue's consumer looks for messages
QUEUE_BATCH = 32  # messages read from the storage queue at once: the most the Queue service hands out
QUEUE_HIDDEN = 120  # seconds they stay out of sight while their run works; back after that if it failed


class LocalQueue:
    """The queue and its consumer in one process (`python -m coprod serve`): a notification wakes the consumer;
    several that come while it works make one more round, not one each."""

    def __init__(self, consume_once: Callable[[], object]) -> None:
        import threading

        self.latest = -math.inf  # when the last notification came (time.time()): none yet
        self._wake = threading.Event()
        self._consume_once = consume_once
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="coprod-notifications", daemon=True)

    def start(self) -> LocalQueue:
        self._thread.start()
        return self

    def put(self, at: float) -> None:
        """A run for a notification that came at `at`; one for later (a repeat's, at a window's end) then."""
        import threading

        if at > time.time():  # pragma: no mutate - `>=` differs only at at == now, where a 0 s timer does the same
            later = threading.Timer(at - time.time(), self.put, args=(at,))
            later.daemon = True
            later.start()
            return
        self.latest = max(self.latest, at)
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            if self._stopped.is_set():
                return
            self._wake.clear()
            try:
                self._consume_once()
            except Exception as error:  # one failed run must not stop the consumer; the timer is the safety net
                log.error("A run after a notification stopped: %s", type(error).__name__)


class AzureQueue:
    """The same, on an Azure Storage queue (Azurite's locally) when the state is on Azure Table Storage: the
    queue the function app's consumer reads in Azure, so `serve` and the function app can share one."""

    NAME = "coprod-notifications"

    def __init__(self, client: Any, consume_once: Callable[[float], object], poll_seconds: float = POLL_SECONDS
                 ) -> None:
        import threading

        self._client = client  # an azure.storage.queue.QueueClient
        self._consume_once = consume_once
        self._poll = poll_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="coprod-notifications", daemon=True)

    @classmethod
    def for_state(cls, state: str, consume_once: Callable[[float], object], client_id: str | None = None
                  ) -> AzureQueue:
        """The queue beside the state's tables: from its connection string, or its account's queue endpoint."""
        from azure.storage.queue import QueueClient

        if state.startswith("https://"):
            from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()
            client = QueueClient(state.replace(".table.", ".queue.").removesuffix("/"), cls.NAME, credential=credential)
        else:
            client = QueueClient.from_connection_string(state, cls.NAME)
        try:
            client.create_queue()
        except Exception as error:  # it exists already (ResourceExistsError): what we want
            if type(error).__name__ != "ResourceExistsError":
                raise
        return cls(client, consume_once)

    def start(self) -> AzureQueue:
        self._thread.start()
        return self

    def put(self, at: float) -> None:
        """A message for a notification that came at `at`; one for later stays out of sight until then."""
        delay = max(0, math.ceil(at - time.time()))
        self._client.send_message(json.dumps({"at": at}), visibility_timeout=delay or None)

    def stop(self) -> None:
        self._stopped.set()

    def _loop(self) -> None:
        while not self._stopped.wait(self._poll):
            try:
                messages = list(self._client.receive_messages(max_messages=QUEUE_BATCH,
                                                              visibility_timeout=QUEUE_HIDDEN))
                if not messages:
                    continue
                latest = 0.0
                for message in messages:  # a burst: one round of runs for all of it
                    with contextlib.suppress(ValueError, AttributeError):
                        latest = max(latest, float(json.loads(message.content).get("at", 0)))
                self._consume_once(latest)
                for message in messages:
                    self._client.delete_message(message)
            except Exception as error:  # the queue or a run failed: the messages come back; the timer is there
                log.error("The notification queue's consumer: %s", type(error).__name__)
