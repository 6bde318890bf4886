"""The public forms' limits: each action its own, per client first, everyone's only for what is made.

Every form anyone can fill in (booking, "my bookings", subscribing) is limited without a CAPTCHA, which fails
accessibility. Each action has its own counts, so looking up bookings never spends booking's allowance:

- **per client** (the network address `client_of` finds, kept only as a keyed digest): a minute's worth and an
  hour's worth. One client can so use at most its hour's worth of everyone's hour, never all of it;
- **per mailbox** (`mailbox_key`: plus-tags removed, and dots where the provider ignores them), a day's worth, so
  one inbox cannot be flooded through many spellings of its address;
- **everyone's hour**, taken only just before something is made (an item in a list, a record that sends an
  email), so refusals and look-ups that find nothing never spend it.

A count is taken as a request goes ahead and given back if it turns out to make nothing (the address booked
already) or making it fails (Graph refused): a failure spends nobody's allowance. Counts live in the state store,
so every instance shares them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from coprod.store import StateStore

__all__ = ["ActionLimits", "Allowance", "mailbox_key"]

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
CLIENT_SHARE = 10  # one client may use a tenth of everyone's hour
# Providers that deliver `a.b.c@` to `abc@`: the same inbox, so the same mailbox for a limit
DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


@dataclass(frozen=True)
class ActionLimits:
    """One action's limits: from one client a minute, from everyone an hour (only what is made), and for one
    mailbox a day. One client's hour is a tenth of everyone's (at least its minute's worth): no client can
    starve the others."""

    per_client_per_minute: int = 10
    per_hour: int = 300
    per_mailbox_per_day: int = 0  # 0: no mailbox limit for this action

    @property
    def per_client_per_hour(self) -> int:
        return max(self.per_client_per_minute, self.per_hour // CLIENT_SHARE)


def mailbox_key(address: str) -> str:
    """The inbox an address reaches, for counting: `Ann.Example+news@googlemail.com` -> `annexample@gmail.com`.
    A plus-tag is dropped everywhere (the mail goes to the same inbox at every large provider); dots only where
    the provider says it ignores them."""
    local, _, domain = address.casefold().rpartition("@")
    local = local.partition("+")[0] or local
    if domain in DOTS_IGNORED:
        local, domain = local.replace(".", ""), DOTS_IGNORED[domain]
    return f"{local}@{domain}"


@dataclass
class Allowance:
    """The counts one request takes for `action`, to give back if what it was for is not made. Each check says
    whether the request may go on; one that says no has already given back every count the request took."""

    store: StateStore
    action: str
    limits: ActionLimits
    clock: Callable[[], float]
    digest: Callable[[str], str]  # keys carry keyed digests, never an address
    _taken: list[tuple[str, float]] = field(default_factory=list)

    def take(self, name: str, limit: int, expires: float) -> bool:
        """Count one in `name` (until `expires`); past `limit`, False, and nothing of this request stays counted."""
        key = f"{self.action}:{name}"
        self._taken.append((key, expires))
        if self.store.counters.add(key, expires) > limit:
            self.give_back()
            return False
        return True

    def _window(self, name: str, limit: int, seconds: float) -> bool:
        window = math.floor(self.clock() / seconds)
        return self.take(f"{name}:{window}", limit, (window + 1) * seconds)

    def client(self, client: str) -> bool:
        """This client's minute and hour."""
        who = self.digest(client)
        return self._window(f"client-minute:{who}", self.limits.per_client_per_minute, MINUTE) and \
            self._window(f"client-hour:{who}", self.limits.per_client_per_hour, HOUR)

    def mailbox(self, address: str, *, also: tuple[tuple[str, int, float], ...] = ()) -> bool:
        """This mailbox's day, and any further counts about it (`(name, limit, seconds)`, named after the
        mailbox: a double click on one session, say)."""
        who = self.digest(mailbox_key(address))
        day = ((f"mailbox-day:{who}", self.limits.per_mailbox_per_day, DAY),) if self.limits.per_mailbox_per_day \
            else ()
        return all(self._window(name, limit, seconds)
                   for name, limit, seconds in (*((f"{n}:{who}", lim, s) for n, lim, s in also), *day))

    def everyone(self) -> bool:
        """Everyone's hour: taken last, just before something is made."""
        return self._window("everyone-hour", self.limits.per_hour, HOUR)

    def give_back(self) -> None:
        """Nothing was made: every count this request took is given back."""
        for key, expires in reversed(self._taken):
            self.store.counters.add(key, expires, by=-1)
        self._taken.clear()
