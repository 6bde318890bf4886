"""Guest access's rules and words, with no I/O: the council's domain policy, what each outcome is, the
notes people and admins read in the GuestRequests list, the settings and the run's report."""

from __future__ import annotations

from dataclasses import dataclass, field

from coprod.lists.fields import INTERNATIONAL_NOTE
from coprod.words import count, summary

__all__ = ["ADDED", "FINAL", "INVITE_LIMIT", "QUEUED", "REDEEM_DAYS", "WAITING_ADMIN", "WAITING_CONFIRMATION",
           "WAITING_PERMISSION", "GuestNotes", "GuestPolicy", "GuestReport", "Outcome"]

FINAL = ("Invited", "AlreadyMember", "Rejected", "Removed")
ADDED = ("Invited", "AlreadyMember")  # the rows whose person the service put in the guest group


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
    ACCESS_SOON = ("Invitation sent. Please open the email from Microsoft and accept it. Access to the SharePoint "
                   "site follows within a few minutes.")
    WAITING_PERMISSION = ("Approved. Your invitation is waiting for a setting on our side to be fixed; the "
                          "programme team has been told, and it will be sent as soon as it is.")
    GROUP_FAILED = ("The invitation is done but we couldn't add access to the site yet ({reason}). We'll try again "
                    "shortly.")
    UNEXPECTED = "Something went wrong on our side with this request. The programme team will look at it."
    KEPT = "Access kept after review on {day}. Next review by {next}."
    REMINDED = ("Invitation sent. We reminded you on {day} to accept it: please open the email from Microsoft, "
                "or the site's link in our reminder.")
    REMOVED = "Access removed on {day} {why}.{account}"
    AFTER_REVIEW = "after the programme team's review"
    NOT_ACCEPTED = "because the invitation wasn't accepted within {days} days"
    ACCOUNT_DELETED = " The guest account was deleted."
    ACCOUNT_KEPT = " The guest account was kept ({why})."

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
        domain = address.rpartition("@")[2].lower()
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
WAITING_PERMISSION = Outcome("AwaitingDecision", GuestNotes.WAITING_PERMISSION, waiting="waiting_permission")


# The invitations API's own limit, per tenant: this many invitations per this many seconds (Graph answers 429 past it).
INVITE_LIMIT = (150, 5.0)
REDEEM_DAYS = 30  # an invitation not accepted after this gets one reminder; after as long again, removal


@dataclass
class GuestReport:
    requests_read: int = 0
    rows_created: int = 0
    already_in_directory: int = 0  # registrations asking for access who can sign in already: no row needed
    invited: int = 0
    already_members: int = 0
    rejected: int = 0
    awaiting_admin: int = 0
    awaiting_confirmation: int = 0
    deferred: int = 0  # approved, left for the next run by the per-run cap
    failed: int = 0
    confirmations_sent: int = 0
    digest_queued: bool = False
    writes: int = 0
    access_pending: int = 0  # invited; the group does not know them yet (the directory is catching up)
    waiting_permission: int = 0  # approved; waiting for a permission or tenant setting
    blocked: dict[str, str] = field(default_factory=dict)  # step -> what is missing, in plain words
    review_due: int = 0  # guests due for review, with no decision yet (listed in the admins' digest)
    kept: int = 0
    removed: int = 0
    reminded: int = 0

    def line(self) -> str:
        line = self._counts()
        if self.blocked:
            line += " " + " ".join(dict.fromkeys(self.blocked.values()))
        return line

    def _counts(self) -> str:
        return summary("Guest access", (
            (self.rows_created, f"{count(self.rows_created, 'new request')} from registrations"),
            (self.invited, f"{self.invited} invited"),
            (self.already_members, f"{self.already_members} already had an account and got access"),
            (self.already_in_directory,
             f"{count(self.already_in_directory, 'registration')} needed no request (already in the directory)"),
            (self.rejected, f"{self.rejected} refused"),
            (self.awaiting_admin, f"{self.awaiting_admin} waiting for an admin"),
            (self.awaiting_confirmation,
             f"{self.awaiting_confirmation} waiting for the person to confirm their address"),
            (self.deferred, f"{self.deferred} approved and queued for the next run (invitation cap)"),
            (self.access_pending, f"{self.access_pending} invited, site access to follow within minutes"),
            (self.waiting_permission, f"{self.waiting_permission} approved, waiting for a permission or setting"),
            (self.failed, f"{self.failed} failed (see the list's notes)"),
            (self.review_due, f"{count(self.review_due, 'guest')} due for review"),
            (self.kept, f"{self.kept} kept after review"),
            (self.removed, f"{self.removed} removed"),
            (self.reminded, f"{count(self.reminded, 'reminder')} to accept the invitation queued"),
            (self.digest_queued, "the admins' daily digest queued")),
            otherwise="nothing waiting", updated=self.writes)
