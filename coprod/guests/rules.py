"""Guest access's rules and words, with no I/O: the council's domain policy, what each outcome is, and the
notes people and admins read in the GuestRequests list."""

from __future__ import annotations

from dataclasses import dataclass

from coprod.lists.fields import INTERNATIONAL_NOTE

__all__ = ["FINAL", "QUEUED", "WAITING_ADMIN", "WAITING_CONFIRMATION", "GuestNotes", "GuestPolicy", "Outcome"]

FINAL = ("Invited", "AlreadyMember", "Rejected")


class GuestNotes:
    """What people (and the admins reading the list) see in StatusNote."""

    BAD_EMAIL = "We couldn't use the email address “{value}”. Please check it for typing mistakes."
    NO_EMAIL = "Please add the email address the person will sign in with."
    BLOCKED = ("Thank you for asking. We can't give access to addresses from {domain}. If you think this is a "
               "mistake, please reply to any of our emails and we'll look into it.")
    REJECTED = "Thank you for asking. The programme team has decided not to give access this time."
    WAITING_ADMIN = "Waiting for the programme team to approve. You'll get an invitation by email once they do."
    CONFIRM_SENT = ("We've emailed a link to confirm this is your address. Access follows as soon as you've "
                    "confirmed.")
    QUEUED = "Approved. Your invitation is in the queue and will be sent within the hour."
    INVITED = ("Invitation sent. Please open the email from Microsoft and accept it to get into the programme's "
               "SharePoint site.")
    ALREADY_MEMBER = "You already have an account with us, so you can sign in straight away. Access has been added."
    INVITE_FAILED = "We couldn't send the invitation ({reason}). The programme team will look at it."
    GROUP_FAILED = ("The invitation is done but we couldn't add access to the site yet ({reason}). We'll try again "
                    "shortly.")
    UNEXPECTED = "Something went wrong on our side with this request. The programme team will look at it."

    @classmethod
    def for_address(cls, problem: str | None, shown: str) -> str:
        """The note for an address we cannot use (`check_email`'s problem)."""
        if problem == "international":
            return INTERNATIONAL_NOTE.format(value=shown)
        return cls.BAD_EMAIL.format(value=shown) if shown else cls.NO_EMAIL


@dataclass(frozen=True)
class GuestPolicy:
    """Domains, as set in COPROD_GUEST_AUTO_APPROVE_DOMAINS and COPROD_GUEST_BLOCKED_DOMAINS (lower case)."""

    auto_approve: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()

    @staticmethod
    def _matches(domain: str, listed: tuple[str, ...]) -> bool:
        return any(domain == d or domain.endswith("." + d) for d in listed)

    def verdict(self, address: str) -> str:
        """"blocked", "auto" (approved once the address is confirmed) or "admin" (an admin decides)."""
        domain = address.rsplit("@", 1)[-1].lower()
        if self._matches(domain, self.blocked):
            return "blocked"
        return "auto" if self._matches(domain, self.auto_approve) else "admin"


@dataclass(frozen=True)
class Outcome:
    status: str
    note: str
    user_id: str | None = None
    waiting: str | None = None  # for AwaitingDecision: the GuestReport count it adds to


WAITING_ADMIN = Outcome("AwaitingDecision", GuestNotes.WAITING_ADMIN, waiting="awaiting_admin")
WAITING_CONFIRMATION = Outcome("AwaitingDecision", GuestNotes.CONFIRM_SENT, waiting="awaiting_confirmation")
QUEUED = Outcome("AwaitingDecision", GuestNotes.QUEUED, waiting="deferred")
