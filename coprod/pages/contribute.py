"""`/api/pages/contribute`: tell the programme something between sessions, with no account (issue 30).

Someone who can't come, or would rather not speak in a group, writes what they want to say; it goes into the
Contributions list (Status New) through Graph before the page answers, for an officer to read. Nothing they
write is shown anywhere until an officer sets it Published, and then only its text: never a name or an address.

The form is guarded as the booking form is: a honeypot field people never see, limits per client and for
everyone an hour (counted in the state store, shared by every instance), a length limit, and text kept as
text (a link stays words; markup is escaped wherever it is shown). `?session=ID` says what it is about (and
its theme); `?theme=` chooses a theme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from config import CONTRIBUTION_LENGTH, NAME_LENGTH, THEMES
from coprod.i18n import Translator
from coprod.lists.fields import as_lines, as_text, check_email
from coprod.lists.records import parse_session
from coprod.pages.context import PageGroup, client_of, page_words
from coprod.pages.typos import CHECKED, question, suggestion

if TYPE_CHECKING:
    from graph_client import SharePointLists

__all__ = ["Contributions", "title_of"]

FORM_ORDER = ("theme", "text", "name", "email", "consent")
TITLE_WORDS = 60  # characters of the text an item's Title shows officers in the list


class Contributions(PageGroup):
    """The contribution pages, on the same context as the other pages (`pages`)."""

    async def contribute(self, request: Request) -> Response:
        about = self._session(request.query_params.get("session"))
        theme = as_text(request.query_params.get("theme"), 40)
        blank = {"theme": (about or {}).get("theme") or (theme if theme in THEMES else ""), "text": "",
                 "name": "", "email": "", "consent": False}
        if request.method != "POST":
            return self._form(blank, {}, about)
        form = await request.form()
        values = blank | {"theme": as_text(form.get("theme"), 40),
                          "text": as_lines(form.get("text"), CONTRIBUTION_LENGTH + 1),
                          "name": as_text(form.get("name"), NAME_LENGTH + 1),
                          "email": as_text(form.get("email"), 321), "consent": form.get("consent") == "yes"}
        words = page_words()
        errors = _problems(values, words)
        if errors:
            return self._form(values, errors, about, 400)
        better = suggestion(str(values["email"])) if values["email"] else None
        if better and form.get(CHECKED) != values["email"]:  # asked before anything is saved; kept if sent again
            return self._form(values, {"email": question(better, words)}, about, 400, suggested=better)
        if as_text(form.get("website"), 200):  # the honeypot: people never see it, form-filling robots do
            return self.pages.page("contributed", named=bool(values["email"]))
        allowance = self.context.allowance("contribute", self.context.contribute_limits)
        if not allowance.client(client_of(request)):
            return self.pages.page("busy", 429, what="contributions", who="client")
        if not allowance.everyone():
            return self.pages.page("busy", 429, what="contributions", who="everyone")
        try:
            self._create(values, about)
        except Exception:  # Graph refused or is away: nothing was saved, the person is told so, nothing is spent
            allowance.give_back()
            return self.pages.page("contribute_failed", 503)
        return self.pages.page("contributed", named=bool(values["email"]))

    def _session(self, session_id: str | None) -> dict[str, Any] | None:
        """The session a contribution is about (`?session=`), if it is one people can see: its id, title, theme."""
        item = self.context.sessions().get(as_text(session_id, 20)) if session_id else None
        if item is None:
            return None
        session = parse_session(item.item_id, item.fields)
        if session.status != "Open":
            return None
        return {"id": session.id, "title": session.title, "theme": session.theme if session.theme in THEMES else ""}

    def _form(self, values: dict[str, Any], errors: dict[str, str], about: dict[str, Any] | None,
              status: int = 200, suggested: str | None = None) -> Response:
        ordered = {key: errors[key] for key in FORM_ORDER if key in errors}
        return self.pages.page("contribute", status, values=values, errors=ordered, themes=THEMES, about=about,
                               longest=CONTRIBUTION_LENGTH, error_summary=list(ordered.items()) or None,
                               suggested=suggested)

    def _create(self, values: dict[str, Any], about: dict[str, Any] | None) -> None:
        if self.context.lists is None:
            raise RuntimeError("this deployment's pages have no Graph client")
        lists: SharePointLists = self.context.lists()
        fields: dict[str, Any] = {"Title": title_of(values["text"]), "Theme": values["theme"], "Text": values["text"],
                                  "Status": "New", "Source": "website"}
        if values["name"]:
            fields["Name"] = values["name"]
        if values["email"]:
            fields["Email"] = check_email(values["email"]).address or ""
        if about is not None:
            fields["SessionLookupId"] = about["id"]
        lists.create_item("Contributions", fields, label="Contributions")


def title_of(text: str) -> str:
    """What an officer sees of a contribution in the list's Title: its first words, on one line."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_WORDS else line[:TITLE_WORDS - 1].rstrip() + "…"


def _problems(values: dict[str, Any], words: Translator) -> dict[str, str]:
    """The form's errors, in GOV.UK's words (the page's language): what is missing, too long, or not an email
    address."""
    errors: dict[str, str] = {}
    if values["theme"] not in THEMES:
        errors["theme"] = words.gettext("Choose what it's about")
    if not values["text"]:
        errors["text"] = words.gettext("Enter what you'd like to tell us")
    elif len(values["text"]) > CONTRIBUTION_LENGTH:
        errors["text"] = words.gettext("What you tell us must be %(n)s characters or less") % {
            "n": f"{CONTRIBUTION_LENGTH:,}"}
    if len(values["name"]) > NAME_LENGTH:
        errors["name"] = words.gettext("Your name must be %(n)s characters or less") % {"n": NAME_LENGTH}
    if values["email"] and check_email(values["email"]).address is None:
        errors["email"] = words.gettext(
            "Enter an email address in the correct format, like name@example.com, or leave it empty")
    if not values["consent"]:
        errors["consent"] = words.gettext("Tick the box to say we may keep what you tell us")
    return errors
