"""`/api/pages/feedback?t=...`: "How was it?", from the link in the email sent once a session is over (issue 30).

The link (`FEEDBACK`, good for 7 days) names one registration and its session (`<registration>:<session>`); the
page answers only while that registration is still in the list, for that session, and not erased: otherwise it is
the link-problem page, and nothing is kept. The form asks for a rating from 1 to 5, whether they felt listened to,
and an optional comment (kept as text, up to `COMMENT_LENGTH` characters; markup is escaped wherever it is shown).
A valid POST keeps one `Feedback` per person and session in the ledger (a second answer replaces the first);
an invalid one is answered 400 with what to fix, and keeps nothing. Someone who answered before sees their answer
in the form, and is told a new one replaces it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from coprod import handoffs
from coprod.handoffs import FEEDBACK, LISTENED, RATINGS, Feedback, MeetingRecord
from coprod.i18n import N_, Translator
from coprod.lists.fields import as_lines, as_text
from coprod.lists.records import parse_registration, parse_session
from coprod.pages.context import Opened, PageGroup, page_words

__all__ = ["COMMENT_LENGTH", "FeedbackPages"]

COMMENT_LENGTH = 1000
# each answer (the radios' values, which are kept) and what the page says for it, in the page's language
RATING_WORDS = {1: N_("Very poor"), 2: N_("Poor"), 3: N_("OK"), 4: N_("Good"), 5: N_("Very good")}
LISTENED_WORDS = {"yes": N_("Yes"), "partly": N_("Partly"), "no": N_("No")}
FORM_ORDER = ("rating", "listened", "comment")
NEXT_STEP = N_("If you'd still like to tell us how the session went, contact us.")


class FeedbackPages(PageGroup):
    """The feedback page, on the same context as the other pages (`pages`)."""

    async def feedback(self, request: Request) -> Response:
        opened = await self.pages.opened(request, FEEDBACK, NEXT_STEP)
        if not isinstance(opened, Opened):
            return opened
        registration, _, session_id = opened.subject.partition(":")
        session = self._session(registration, session_id)
        if session is None:  # gone, moved to another session, or erased: nothing of it is shown or kept
            return self.pages.page("link_problem", 400, reason="invalid", next_step=page_words().gettext(NEXT_STEP))
        before = self.context.store.ledger.get(Feedback(session_id, registration, 0, "").key)
        answered = Feedback.read(before) if before is not None else None
        if not opened.pressed:
            values = {"rating": str(answered.rating), "listened": answered.listened,
                      "comment": answered.comment} if answered else {"rating": "", "listened": "", "comment": ""}
            return self._form(opened.token, session, values, {}, answered is not None)
        form = opened.form
        values = {"rating": as_text(form.get("rating"), 2), "listened": as_text(form.get("listened"), 10),
                  "comment": as_lines(form.get("comment"), COMMENT_LENGTH + 1)}
        errors = _problems(values, page_words())
        if errors:
            return self._form(opened.token, session, values, errors, answered is not None, 400)
        handoffs.put(self.context.store.ledger, Feedback(session_id, registration, int(values["rating"]),
                                                         values["listened"], values["comment"],
                                                         at=self.context.clock()))
        return self.pages.page("feedback_sent", session=session)

    def _session(self, registration: str, session_id: str) -> dict[str, Any] | None:
        """The session a link asks about (its title and start), while its registration is still for it and not
        erased; None otherwise."""
        store = self.context.store
        item = store.mirror.get("Registrations", registration) if registration else None
        if item is None or not session_id or item.group != session_id:
            return None
        if parse_registration(item.item_id, item.created, item.fields).listed_status == "Erased":
            return None
        mirrored = store.mirror.get("Sessions", session_id)
        parsed = parse_session(mirrored.item_id, mirrored.fields) if mirrored else None
        record = MeetingRecord.of(store.ledger, session_id)
        return {"title": record.title if record else parsed.title if parsed else page_words().gettext("your session"),
                "start": record.start if record else parsed.start if parsed else None}

    def _form(self, token: str, session: dict[str, Any], values: dict[str, str], errors: dict[str, str],
              answered: bool, status: int = 200) -> Response:
        ordered = {key: errors[key] for key in FORM_ORDER if key in errors}
        words = page_words()
        return self.pages.page("feedback", status, token=token, session=session, values=values, errors=ordered,
                               answered=answered,
                               ratings=[(str(n), f"{n}: {words.gettext(RATING_WORDS[n])}") for n in RATINGS],
                               listened=[(value, words.gettext(LISTENED_WORDS[value])) for value in LISTENED],
                               longest=COMMENT_LENGTH, error_summary=list(ordered.items()) or None)


def _problems(values: dict[str, str], words: Translator) -> dict[str, str]:
    """The form's errors, in GOV.UK's words (the page's language)."""
    errors: dict[str, str] = {}
    if values["rating"] not in {str(n) for n in RATINGS}:
        errors["rating"] = words.gettext("Choose how the session was, from 1 to 5")
    if values["listened"] not in LISTENED:
        errors["listened"] = words.gettext("Choose whether you felt listened to")
    if len(values["comment"]) > COMMENT_LENGTH:
        errors["comment"] = words.gettext("Your comment must be %(n)s characters or less") % {
            "n": f"{COMMENT_LENGTH:,}"}
    return errors
