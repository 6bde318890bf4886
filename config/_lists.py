"""The five SharePoint lists of docs/design.md, as Graph column definitions.

Internal column names are a contract (other tools read them). The service
writes only the columns in each schema's `writes`, except that erasure and
retention (coprod/privacy/dataprotection.py) clear a registration's `personal` ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTACT_METHODS",
    "CONTRIBUTIONS",
    "CONTRIBUTION_LENGTH",
    "GUEST_REQUESTS",
    "LANGUAGE_NAMES",
    "LISTS",
    "OPTIONAL_LISTS",
    "REGISTRATIONS",
    "ROLES",
    "SESSIONS",
    "SUBSCRIBERS",
    "THEMES",
    "UPDATES",
    "ListSchema",
]

THEMES = ("Having choice", "Being included", "Being healthy", "Carers", "Other")
AUDIENCES = ("People who use services", "Carers", "Professionals", "Everyone")
ROLES = ("Person who uses services", "Carer", "Professional", "Other")
CONTACT_METHODS = ("Phone", "Teams", "In person")  # how a drop-in appointment happens
LANGUAGE_NAMES = ("English", "Cymraeg")  # a booking's Language: each language by its own name (coprod.i18n.LANGUAGES)


# The most a single line of text holds (Graph's textColumn `maxLength`, which `provision` sets; SharePoint's own
# Title column has the same): a longer value makes the write fail, so the forms refuse it first.
TEXT_LENGTH = 255
# How much of a column the records (coprod/lists) keep where a job quotes or compares less than the whole:
CHOICE_LENGTH = 40  # a choice column's value: longer than every choice the lists offer, so a cut value is none
NAME_LENGTH = 80  # a person's name as a greeting, a guest's invitation and the admins' digest quote it
REASON_LENGTH = 300  # a guest request's Reason, on one line in the admins' digest
SUBJECT_LENGTH = 200  # an update's Title as the subject of its emails
PHONE_LENGTH = 40  # a phone number, spaces and an extension included, as the team's list and the brief quote it
THEME_LENGTH = 100  # a session's Theme, as the report groups sessions by it and "you said, we did" finds the next
THEME_SHOWN = 60  # a session's Theme as the timetable shows it and filters by it
DESCRIPTION_LENGTH = 2000  # a session's Description on its page
CONTRIBUTION_LENGTH = 2000  # what someone tells us on the contribution page (a long email's worth)
ROLE_LENGTH = 60  # a registration's Role, as the report counts it
NEEDS_LENGTH = 500  # a registration's AccessNeeds, as a confirmation and the facilitators' brief quote them
NOTE_SHOWN = 300  # a registration's StatusNote on the person's bookings page
POSTAL_LINE_LENGTH = 120  # each line of a postal address in the team's list of people to write to
POSTAL_LINES = 10  # ... and how many of its lines


def text(name: str, *, multiline: bool = False, display: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"allowMultipleLines": multiline}
    if multiline:
        spec.update({"linesForEditing": 6, "textType": "plain"})
    else:
        spec["maxLength"] = TEXT_LENGTH
    return {"name": name, "displayName": display or name, "text": spec}


def choice(name: str, choices: tuple[str, ...], *, multi: bool = False, display: str | None = None) -> dict[str, Any]:
    return {"name": name, "displayName": display or name,
            "choice": {"allowTextEntry": False, "choices": list(choices),
                       "displayAs": "checkBoxes" if multi else "dropDownMenu"}}


def yes_no(name: str, display: str | None = None) -> dict[str, Any]:
    return {"name": name, "displayName": display or name, "boolean": {}}


def number(name: str, display: str | None = None) -> dict[str, Any]:
    return {"name": name, "displayName": display or name, "number": {"decimalPlaces": "none", "minimum": 0}}


def when(name: str, display: str | None = None) -> dict[str, Any]:
    return {"name": name, "displayName": display or name, "dateTime": {"displayAs": "standard", "format": "dateTime"}}


@dataclass(frozen=True)
class ListSchema:
    display_name: str
    columns: tuple[dict[str, Any], ...]
    writes: frozenset[str]
    personal: frozenset[str] = frozenset()  # cleared on erasure and after the retention period


SESSIONS = ListSchema("Sessions", (
    choice("Theme", THEMES),
    choice("Audience", AUDIENCES, multi=True),
    when("StartTime", "Start time (UTC)"),
    when("EndTime", "End time (UTC)"),
    number("Capacity", "Places (0 = no limit)"),
    choice("Status", ("Draft", "Open", "Cancelled")),
    text("Description", multiline=True),
    text("Facilitators", multiline=True, display="Facilitators (email addresses)"),
    text("JoinUrl", multiline=True, display="Teams join link"),
    text("MeetingId", multiline=True, display="Teams meeting id"),
    text("SyncNote", multiline=True, display="Sync note"),
    # Drop-ins by appointment: one person a slot of SlotMinutes, from StartTime to EndTime
    choice("Kind", ("Group", "DropIn"), display="Kind of session"),
    number("SlotMinutes", "Minutes a drop-in appointment"),
    # Something to read before the session: in confirmations and reminders, and emailed when it is added or changed
    text("PreReading", multiline=True, display="Pre-reading (text and links)"),
    # "You said, we did": after the session, what came of it; ticking ShareOutcomes emails it to those booked
    text("Outcomes", multiline=True, display="Outcomes (you said, we did)"),
    yes_no("ShareOutcomes", "Share the outcomes with the people booked"),
    # The one question the session aims to answer: on the timetable, its page, the confirmation and the reminder
    text("Question", display="The question this session will answer"),
    # Where people go for a session, or a drop-in appointment, in person: in their emails and calendar files
    text("Location", multiline=True, display="Where (for in person)"),
    # The officers' own words in Welsh, for people who chose Welsh (coprod/i18n.py); left blank, the English shows
    text("TitleCy", display="Title in Welsh"),
    text("DescriptionCy", multiline=True, display="Description in Welsh"),
), frozenset({"JoinUrl", "MeetingId", "SyncNote"}))

REGISTRATIONS = ListSchema("Registrations", (
    text("Email"),
    # The lookup's listId is filled in by `provision` once Sessions exists.
    {"name": "Session", "displayName": "Session", "lookup": {"columnName": "Title", "listId": "Sessions"}},
    choice("Role", ROLES),
    text("AccessNeeds", multiline=True, display="Access needs"),
    text("Phone"),
    # Assisted bookings, entered by an officer for someone who prefers the phone or post: no email is sent to them
    choice("ContactPreference", ("Email", "Phone", "Post"), display="How we contact them"),
    # A drop-in appointment: its start, and how the conversation happens
    when("Slot", "Appointment time (UTC)"),
    choice("ContactMethod", CONTACT_METHODS, display="Appointment by"),
    text("PostalAddress", multiline=True, display="Postal address (for Post)"),
    yes_no("Consent", "I agree to my details being kept for this programme"),
    yes_no("JoinMailingList", "Join the mailing list"),
    yes_no("WantsSiteAccess", "I'd like access to the programme's SharePoint site"),
    yes_no("Cancel", "Cancel my place"),
    choice("Status", ("Confirmed", "Waitlisted", "Cancelled", "NeedsAttention", "Erased")),
    text("StatusNote", multiline=True, display="Status note"),
    # After the session, from the Teams meeting's attendance reports (coprod/meetings/attendance.py)
    choice("Attended", ("Yes", "No", "Unknown")),
    # The language their emails, texts and letters are in: the one the booking page was read in, or an officer's
    # choice (coprod/i18n.py; blank is English)
    choice("Language", LANGUAGE_NAMES, display="Language"),
), frozenset({"Status", "StatusNote", "Attended"}),
   frozenset({"Title", "Email", "Phone", "AccessNeeds", "PostalAddress"}))

GUEST_REQUESTS = ListSchema("GuestRequests", (
    text("Email"),
    text("Organisation"),
    text("Reason", multiline=True),
    choice("Decision", ("Pending", "Approved", "Rejected")),
    choice("Status", ("AwaitingDecision", "Invited", "AlreadyMember", "Rejected", "Failed", "Removed")),
    text("UserId"),
    text("StatusNote", multiline=True, display="Status note"),
    # The guest review: the service sets ReviewBy; an admin answers Review (Keep or Remove)
    when("ReviewBy", "Review access by"),
    choice("Review", ("Keep", "Remove"), display="Review decision"),
), frozenset({"Status", "UserId", "StatusNote", "ReviewBy", "Review"}))

SUBSCRIBERS = ListSchema("Subscribers", (
    text("Email"),
    choice("Topics", THEMES, multi=True),
    choice("Status", ("Pending", "Subscribed", "Unsubscribed", "Bouncing")),
    when("ConfirmedAt", "Confirmed at"),
    text("Source"),
), frozenset({"Status", "ConfirmedAt"}))

UPDATES = ListSchema("Updates", (
    text("Body", multiline=True),
    choice("Topics", THEMES, multi=True),
    when("SendAt", "Send at (UTC)"),
    yes_no("Ready", "Ready to send"),
    choice("Status", ("Scheduled", "Sending", "Sent", "Failed")),
    number("SentCount", "Sent to"),
), frozenset({"Status", "SentCount"}))

CONTRIBUTIONS = ListSchema("Contributions", (
    choice("Theme", THEMES),
    text("Text", multiline=True, display="What they told us"),
    text("Name"),
    text("Email"),
    # New until an officer reads it; Published shows its text (never a name or address) on "what we've heard"
    choice("Status", ("New", "Published", "Hidden")),
    {"name": "Session", "displayName": "Session", "lookup": {"columnName": "Title", "listId": "Sessions"}},
    text("Source"),
), frozenset(), frozenset({"Title", "Text", "Name", "Email"}))

LISTS = (SESSIONS, REGISTRATIONS, GUEST_REQUESTS, SUBSCRIBERS, UPDATES, CONTRIBUTIONS)
# lists added after the first release: a site provisioned before them may not have them yet, and a run reads on
# without them (saying `provision` makes them) rather than stopping every job that reads the others
OPTIONAL_LISTS = ("Contributions",)
