"""Taking part between sessions (issue 30): how someone said a session went, and a contribution made public."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from coprod.store import LedgerEntry

RATINGS = (1, 2, 3, 4, 5)
LISTENED = ("yes", "partly", "no")  # "did you feel listened to?"


@dataclass(frozen=True)
class Feedback:
    """One person's answer to "How was it?" about one session: a rating from 1 to 5, whether they felt listened to,
    and an optional comment. One per person and session: a second answer replaces the first (`handoffs.put`).
    Written by the feedback page; read by the report (counts only) and by export and erase. Retention clears the
    comment once the booking's personal columns are cleared."""

    KIND: ClassVar[str] = "feedback"
    session: str
    registration: str
    rating: int
    listened: str
    comment: str = ""
    at: float = 0.0

    @property
    def key(self) -> str:
        return f"feedback:session-{self.session}:registration-{self.registration}"

    def payload(self) -> dict[str, Any]:
        return {"session": self.session, "registration": self.registration, "rating": self.rating,
                "listened": self.listened, "comment": self.comment, "at": self.at}

    @classmethod
    def read(cls, entry: LedgerEntry) -> Feedback:
        p = entry.payload
        try:
            rating = int(p.get("rating") or 0)
        except (TypeError, ValueError):
            rating = 0
        return cls(str(p.get("session") or ""), str(p.get("registration") or ""), rating,
                   str(p.get("listened") or ""), str(p.get("comment") or ""), float(p.get("at") or 0.0))
