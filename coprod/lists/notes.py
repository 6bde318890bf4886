"""What a participant or an admin reads in a registration's StatusNote or a session's SyncNote: short, plain
English, saying what to do. Whoever writes a note (the registration rules, the meeting sync, erasure, retention)
takes its words from here."""

from __future__ import annotations

from coprod.lists.fields import INTERNATIONAL_NOTE

__all__ = ["Notes"]


class Notes:
    """Everything a participant or an admin reads in a StatusNote or SyncNote."""

    CONFIRMED = "Your place is confirmed. We'll email you the joining link."
    # A waiting-list note names no position: one person leaving would otherwise rewrite every note behind them.
    # The position is in the waiting-list email, on the person's bookings page, and in `status`.
    WAITLISTED = "This session is full, so you're on the waiting list. We'll email you if a place comes up."
    CANCELLED_BY_YOU = "You've cancelled your place. Thank you for letting us know."
    SESSION_CANCELLED = "This session has been cancelled. We're sorry. We'll let you know about other sessions."
    SESSION_GONE = "This session is no longer running. We're sorry. We'll let you know about other sessions."
    NO_NAME = "Please add your name, so we know who is coming."
    NO_EMAIL = "Please add your email address, so we can send you the joining link."
    NO_PHONE = "We need a phone number to ring about this booking (How we contact them says Phone)."
    NO_SLOT = "Please choose one of the appointment times offered for this drop-in."
    SLOT_TAKEN = ("Someone booked this appointment time just before you. Please choose another time: your "
                  "booking for this one hasn't been made.")
    NO_PHONE_FOR_SLOT = "We need a phone number to ring you at your appointment time."
    NO_POSTAL = "We need a postal address to write to about this booking (How we contact them says Post)."
    BAD_EMAIL = "We couldn't use the email address “{value}”. Please check it for typing mistakes."
    INTERNATIONAL_EMAIL = INTERNATIONAL_NOTE
    NO_CONSENT = ("We need your agreement to keep your details before we can book your place. "
                  "Please tick the consent box.")
    NO_SESSION = "Please choose the session you'd like to join."
    UNKNOWN_SESSION = "We couldn't find the session you chose. Please choose one from the list of sessions."
    NOT_OPEN = "This session isn't open for booking yet. Your request will be looked at when it opens."
    SESSION_OVER = "This session has already taken place. Please choose another session."
    NO_TIME = ("This session's date and time aren't set yet. Your request will be looked at as soon as they "
               "are.")
    DUPLICATE = "You're already registered for this session, so we haven't booked a second place."
    EMAIL_FAILED = ("We couldn't email you at this address, so you may have missed our message. Please check the "
                    "address, or contact the programme team.")
    UNDELIVERABLE = ("This booking was made on our website, and we couldn't email this address, so the place has "
                     "gone to someone else. If it was yours, please book again with an address that works, or "
                     "contact the programme team.")
    BOUNCED = ("Our email didn't reach this address: it came back undelivered, so we've stopped emailing it. Please "
               "check the address, or contact the programme team; once it's corrected, our emails go to the new one.")
    EMAIL_UNCERTAIN = ("Our email to you was interrupted while it was being sent, so it may not have reached you. "
                       "If you haven't heard from us, please contact the programme team.")
    # GOV.UK Notify refused the number or address a text or letter went to: the team's daily list has the person
    NOT_TEXTED = ("GOV.UK Notify couldn't text this number ({why}), so it's on the team's daily list to ring instead. "
                  "Please check the number (a UK mobile gets texts).")
    NOT_POSTED = ("GOV.UK Notify couldn't post a letter to this address ({why}), so it's on the team's daily list "
                  "instead. Please check the address, with the postcode on a line of its own at the end.")
    BRIEF_FAILED = ("We couldn't send the facilitators' brief for this session. Please check the addresses in "
                    "Facilitators.")
    ERASED = "Personal details erased at the person's request on {day}. The place was freed."
    RETAINED = ("Personal details cleared on {day}: the session ended more than {days} days ago "
                "(the programme's retention period).")
    CHECKING_PLACES = ("We're checking how many places this session has. Your booking is in the queue, and we'll "
                       "be in touch.")
