"""The outbox key of every email the service sends, and the keys of the ledger's records of fact."""

from __future__ import annotations


class mail_keys:
    """The outbox key of each email: what makes it go once. Never shown to anyone (Message-IDs hash it)."""

    UPDATE = "mail:update-"  # every update's key starts so; one subscriber's end in -<row>

    @staticmethod
    def for_handoff(key: str) -> str:
        return f"mail:{key}"

    @staticmethod
    def changed(registration: str, session: str, version: int) -> str:
        return f"mail:changed:registration-{registration}:session-{session}:v{version}"

    @staticmethod
    def reminder(registration: str, session: str, version: int) -> str:
        return f"mail:reminder:registration-{registration}:session-{session}:v{version}"

    @staticmethod
    def pre_reading(registration: str, session: str, version: int) -> str:
        """"Something to read before the session": once per person and version of the pre-reading."""
        return f"mail:pre-reading:registration-{registration}:session-{session}:v{version}"

    @staticmethod
    def outcomes(registration: str, session: str) -> str:
        """"You said, we did": once per person and session."""
        return f"mail:outcomes:registration-{registration}:session-{session}"

    @staticmethod
    def feedback(registration: str, session: str) -> str:
        """"How was it?": once per person and session."""
        return f"mail:feedback:registration-{registration}:session-{session}"

    @staticmethod
    def contribution_published(contribution: str) -> str:
        """"Your contribution has been published": once per contribution, however often it is published again."""
        return f"mail:contribution-published:{contribution}"

    @staticmethod
    def brief(session: str, version: int) -> str:
        return f"mail:brief:session-{session}:v{version}"

    @staticmethod
    def brief_session(key: str) -> str | None:
        """The session of a facilitators' brief's key (made again or not); None for any other key."""
        prefix = mail_keys.brief("", 0).removesuffix(":v0")
        if not key.startswith(prefix):
            return None
        session, _, version = key.removeprefix(prefix).partition(":v")
        return session if session and version.split(":", 1)[0].isdigit() else None

    @staticmethod
    def again(key: str, n: int) -> str:
        """A team email made again after an erasure withheld the one before (`Outbox.unused_key`)."""
        return f"{key}:again-{n}"

    @staticmethod
    def guest_confirm(row: str, digest: str) -> str:
        return f"mail:guest-confirm:{row}:{digest}"

    @staticmethod
    def guest_reminder(row: str) -> str:
        """The one reminder to accept a guest invitation."""
        return f"mail:guest-reminder:{row}"

    @staticmethod
    def guest_digest(day: str) -> str:
        return f"mail:guest-digest:{day}"

    @staticmethod
    def list_question(kind: str, subject: str, day: str) -> str:
        """A confirmation or rejoin question to a subscriber: one a day at most."""
        return f"mail:{kind}:{subject}:{day}"

    @staticmethod
    def campaign(update: str) -> str:
        return f"mail:update-{update}-"

    @staticmethod
    def update(update: str, subscriber: str) -> str:
        return f"mail:update-{update}-{subscriber}"

    @staticmethod
    def bookings_link(digest: str, day: str) -> str:
        """The link to someone's bookings: one a day at most per address (its keyed digest)."""
        return f"mail:bookings-link:{digest}:{day}"

    @staticmethod
    def contact_digest(day: str) -> str:
        """The team's daily list of people to phone or write to."""
        return f"mail:contact-digest:{day}"

    @staticmethod
    def contact_digest_day(key: str) -> str | None:
        """The day of a phone-or-post list's key (made again or not); None for any other key."""
        prefix = mail_keys.contact_digest("")
        return key.removeprefix(prefix).split(":", 1)[0] if key.startswith(prefix) else None


class notify_keys:
    """The key of each text or letter sent through GOV.UK Notify: its claim in the ledger, and the `reference` Notify
    keeps with it, by which it is found again when a run stopped before noting Notify's answer. Ids only: Notify asks
    that a reference hold no personal data."""

    PREFIX = "notify:"

    @staticmethod
    def for_contact(key: str) -> str:
        """The text or letter that tells someone what a `ContactDue` (its key) says."""
        return f"{notify_keys.PREFIX}{key}"


class records:
    """Ledger records kept as facts, not hand-offs: the guest review's per row, an erasure's per address digest."""

    @staticmethod
    def guest_review(row: str) -> str:
        """When the row's guest was added, reminded, accepted, last checked (coprod/guests/review.py)."""
        return f"guest-review:{row}"

    @staticmethod
    def pre_reading(session: str) -> str:
        """The version of a session's pre-reading last seen, and its digest (coprod/registrations/prereading.py)."""
        return f"pre-reading-seen:{session}"

    @staticmethod
    def attendance(session: str) -> str:
        """A session's attendance, recorded once (counts only): the run never changes `Attended` after it."""
        return f"attendance:{session}"

    @staticmethod
    def outcomes(session: str) -> str:
        """A session's outcomes were shared (once: coprod/registrations/outcomes.py)."""
        return f"outcomes-shared:{session}"

    @staticmethod
    def feedback_asked(session: str) -> str:
        """Everyone who had a place at a session was asked "How was it?" (once: coprod/registrations/feedback.py)."""
        return f"feedback-asked:{session}"

    @staticmethod
    def erased(digest: str) -> str:
        """When an address (its keyed digest) was erased, and which accounts the service had invited for it."""
        return f"erased:{digest}"
