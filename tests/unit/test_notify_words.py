"""A text or a letter through GOV.UK Notify is written in the booking's language (issue 31): in Welsh for a Welsh
booking, its day and time as Welsh writes them (24-hour clock), and still no longer than a text may be; in English,
word for word as before. In a pseudo-language, every word of each text and letter comes from the catalogue."""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coprod import i18n
from coprod.handoffs import ContactDue, MeetingRecord
from coprod.links import Signer
from coprod.lists.records import Registration, parse_registration
from coprod.notify.words import TEXT_LIMIT, Letter, Text, Words
from coprod.store import SqliteStore
from coprod.store._base import MirrorItem
from tests.conftest import SIGNING_KEY, offline_settings

NOW = 1_790_000_000.0
START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # a Tuesday, in GMT: 2pm in the UK
LINK = "https://teams.example/l/meetup-join/1"
PHONE = "01632 960 001"
KINDS = ("confirmed", "promoted", "waitlisted", "cancelled", "changed", "pre_reading", "feedback")


def clock() -> float:
    return NOW


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    yield store
    store.close()


def session(store: SqliteStore, item_id: str, title: str, *, meeting: bool = True, **fields: Any) -> str:
    """A session on the 1st of December at 2pm (and its Teams meeting, made)."""
    store.mirror.put([MirrorItem("Sessions", item_id, None, "2026-01-01T00:00:00Z", {
        "Title": title, "Status": "Open", "StartTime": "2026-12-01T14:00:00Z", "EndTime": "2026-12-01T16:00:00Z",
        **fields})])
    if meeting:
        record = MeetingRecord(item_id, f"meeting-{item_id}", LINK, title, START, START + timedelta(hours=2), 1, (),
                               "everyone")
        store.ledger.put(record.key, MeetingRecord.KIND, "done", record.payload())
    return item_id


def booking(store: SqliteStore, item_id: str, session_id: str, language: str = "", **fields: Any) -> Registration:
    """Someone booked by an officer, who hears by post (or, with `Phone`, by text)."""
    values = {"SessionLookupId": session_id, "Status": "Confirmed", "Title": "Pat Post", "ContactPreference": "Post",
              "PostalAddress": "1 High Street\nTC1 1AA", "Language": language, **fields}
    created = f"2026-01-01T00:00:{item_id[-2:]}Z"
    store.mirror.put([MirrorItem("Registrations", item_id, None, created, values, group=session_id)])
    return parse_registration(item_id, created, values)


def words(store: SqliteStore, **settings: Any) -> Words:
    return Words(store, offline_settings(**settings), Signer(SIGNING_KEY, clock=clock), clock)


def compose(words: Words, reg: Registration, kind: str, channel: str) -> Any:
    return words.compose(ContactDue(reg.id, kind, reg.session_id or ""), reg, channel)


def test_a_welsh_booking_is_texted_and_written_to_in_welsh(store: SqliteStore) -> None:
    forum = session(store, "1", "Carers' forum")
    told = words(store, contact_phone=PHONE)
    text = compose(told, booking(store, "101", forum, "cy", ContactPreference="Phone", Phone="07700 900123"),
                   "confirmed", "sms")
    assert isinstance(text, Text)
    assert text.message == ("Mae eich lle wedi'i archebu: Carers' forum, Dydd Mawrth 1 Rhagfyr 2026, 14:00 (amser y "
                            f"DU). Ymunwch ar Microsoft Teams: {LINK} Methu dod? Ffoniwch ni ar {PHONE}.")
    letter = compose(words(store), booking(store, "102", forum, "cy"), "confirmed", "letter")
    assert isinstance(letter, Letter)
    assert letter.address == ("Pat Post", "1 High Street", "TC1 1AA")
    assert letter.subject == "Mae eich lle wedi'i archebu: Carers' forum"
    assert letter.body.startswith("Annwyl Pat Post,\n\nMae eich lle wedi'i archebu ar gyfer Carers' forum, Dydd "
                                  "Mawrth 1 Rhagfyr 2026, 14:00 (amser y DU).\n\n")
    assert f"Mae'r sesiwn ar Microsoft Teams. I ymuno, defnyddiwch y ddolen hon ar gyfrifiadur, llechen neu ffôn:\n" \
           f"{LINK}" in letter.body
    assert "cysylltwch â ni" in letter.body and letter.body.endswith("Co-production programme")
    waiting = compose(told, booking(store, "103", forum, "cy", Status="Waitlisted"), "waitlisted", "letter")
    assert isinstance(waiting, Letter) and waiting.subject == "Rydych chi ar y rhestr aros: Carers' forum"
    assert "Chi yw rhif 1." in waiting.body and f"ffoniwch ni ar {PHONE}." in waiting.body
    drop_in = session(store, "2", "Drop-in", Kind="DropIn", SlotMinutes=20)
    rung = compose(told, booking(store, "201", drop_in, "cy", ContactPreference="Phone", Phone="07700 900123",
                                 ContactMethod="Phone", Slot="2026-12-01T14:20:00Z"), "confirmed", "sms")
    assert isinstance(rung, Text) and "Rhagfyr 2026, 14:20 (amser y DU). Byddwn ni'n eich ffonio am 14:20." \
        in rung.message
    for kind in KINDS:  # no English, and no English clock, in any of them
        for channel in ("sms", "letter"):
            said = compose(told, booking(store, "104", forum, "cy"), kind, channel)
            shown = said.message if isinstance(said, Text) else f"{said.subject}\n{said.body}"
            assert "Rhagfyr" in shown or kind == "feedback"
            assert not re.search(r"\b(the|your|you|is|on|at)\b|\dpm\b|UK time", shown, re.IGNORECASE), shown


def test_an_english_booking_reads_as_it_always_has(store: SqliteStore) -> None:
    forum = session(store, "1", "Carers' forum", PreReading="Please read the plan.")
    text = compose(words(store, contact_phone=PHONE), booking(store, "101", forum, ContactPreference="Phone",
                                                             Phone="07700 900123"), "confirmed", "sms")
    assert text == Text("Your place is booked: Carers' forum, Tuesday 1 December 2026, 2pm (UK time). Join on "
                        f"Microsoft Teams: {LINK} Can't come? Ring us on {PHONE}.")
    letter = compose(words(store, contact_phone=PHONE, contact_hours="Monday to Friday, 9am to 5pm"),
                     booking(store, "102", forum, Title=""), "confirmed", "letter")
    assert letter == Letter(("1 High Street", "TC1 1AA"), "Your place is booked: Carers' forum", (
        "Hello,\n\nYour place is booked at Carers' forum, on Tuesday 1 December 2026, 2pm (UK time).\n\nIt's on "
        f"Microsoft Teams. To join, use this link on a computer, tablet or phone:\n{LINK}\n\nBefore the session, "
        "please read this:\nPlease read the plan.\n\nIf you have any questions, or can no longer come, please ring "
        f"us on {PHONE} (Monday to Friday, 9am to 5pm).\n\nCo-production programme"))
    called_off = session(store, "2", "Carers' forum", Status="Cancelled")
    gone = compose(words(store), booking(store, "201", called_off), "cancelled", "letter")
    assert gone == Letter(("Pat Post", "1 High Street", "TC1 1AA"), "Cancelled: Carers' forum", (
        "Dear Pat Post,\n\nWe're sorry: Carers' forum, on Tuesday 1 December 2026, 2pm (UK time), has been "
        "cancelled. We'll let you know about other sessions.\n\nIf you have any questions, or can no longer come, "
        "please get in touch with us.\n\nCo-production programme"))


def test_a_welsh_text_fits_a_text_or_goes_back_to_the_team_with_its_reason(store: SqliteStore) -> None:
    told = words(store, contact_phone=PHONE)
    title = "Cynllun gofalwyr y sir: beth sy'n bwysig i chi a'ch teulu dros y deng mlynedd nesaf"
    forum = session(store, "1", title, Location="Llyfrgell y Dref, Ystafell 2, Stryd Fawr, Trefgastell")
    for kind in KINDS:
        said = compose(told, booking(store, "101", forum, "cy", ContactPreference="Phone", Phone="07700 900123"),
                       kind, "sms")
        assert isinstance(said, Text) and len(said.message) <= TEXT_LIMIT
        assert said.message.isascii()  # no character outside a text's own alphabet: each text costs the same
    long = session(store, "2", "Darllen", PreReading="Darllenwch y cynllun, os gwelwch yn dda. " * 15)
    reason = compose(told, booking(store, "201", long, "cy", ContactPreference="Phone", Phone="07700 900123"),
                     "pre_reading", "sms")
    assert isinstance(reason, str) and reason.startswith("it is too long for a text (")  # the team's list: English
    letter = compose(told, booking(store, "202", long, "cy"), "pre_reading", "letter")
    assert isinstance(letter, Letter) and letter.subject == "Rhywbeth i'w ddarllen cyn Darllen"


class Pseudo(gettext.NullTranslations):
    """Every string from the catalogue, wrapped: ⟦Your place is booked⟧."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}⟧"


@pytest.fixture
def pseudo() -> Iterator[str]:
    i18n.install("qps", Pseudo())
    yield "qps"
    i18n.uninstall("qps")


@pytest.mark.parametrize("phone", ["", PHONE])
def test_every_word_of_every_text_and_letter_comes_from_the_catalogue(store: SqliteStore, pseudo: str,
                                                                      phone: str) -> None:
    data = ["Carers' forum", "Town Hall", "Pat Post", "Co-production programme", "Monday to Friday, 9am to 5pm",
            "Please read the plan.", "Tuesday 1 December 2026, 2pm", "Tuesday 1 December 2026, 2:20pm", "2:20pm"]
    told = words(store, contact_phone=phone, contact_hours="Monday to Friday, 9am to 5pm")
    forum = session(store, "1", "Carers' forum", PreReading="Please read the plan.")
    placed = session(store, "2", "Carers' forum", Location="Town Hall")
    drop_in = session(store, "3", "Carers' forum", Kind="DropIn", SlotMinutes=20, Location="Town Hall")
    slot = {"Slot": "2026-12-01T14:20:00Z"}
    bookings = [booking(store, "101", forum), booking(store, "102", forum, Title=""),
                booking(store, "201", placed), booking(store, "301", drop_in, ContactMethod="Phone", **slot),
                booking(store, "302", drop_in, ContactMethod="In person", **slot)]
    cancelled = session(store, "4", "Carers' forum", Status="Cancelled")
    bookings.append(booking(store, "401", cancelled))
    for reg in bookings:
        for kind in KINDS:
            for channel in ("sms", "letter"):
                said = compose(told, replace(reg, language=pseudo), kind, channel)
                shown = said.message if isinstance(said, Text) else f"{said.subject}\n{said.body}"
                while re.search(r"⟦[^⟦⟧]*⟧", shown):
                    shown = re.sub(r"⟦[^⟦⟧]*⟧", " ", shown)
                for value in sorted(data, key=len, reverse=True):
                    shown = shown.replace(value, " ")
                shown = re.sub(r"\S+://\S+", " ", shown)
                assert not re.search(r"[^\W\d_]{2,}", shown), (reg.id, kind, channel, shown)


def test_a_welsh_booking_is_told_the_welsh_title_where_the_officers_gave_one(store: SqliteStore) -> None:
    forum = session(store, "1", "Carers' forum", TitleCy="Fforwm gofalwyr")
    told = words(store)
    welsh = compose(told, booking(store, "101", forum, "cy", ContactPreference="Phone", Phone="07700 900123"),
                    "confirmed", "sms")
    english = compose(told, booking(store, "102", forum, ContactPreference="Phone", Phone="07700 900123"),
                      "confirmed", "sms")
    assert isinstance(welsh, Text) and isinstance(english, Text)
    assert "Fforwm gofalwyr" in welsh.message and "Carers' forum" not in welsh.message
    assert "Carers' forum" in english.message and "Fforwm" not in english.message
    letter = compose(told, booking(store, "103", forum, "cy"), "confirmed", "letter")
    assert isinstance(letter, Letter) and letter.subject == "Mae eich lle wedi'i archebu: Fforwm gofalwyr"


def test_a_welsh_text_keeps_to_the_characters_notify_charges_at_the_normal_rate(store: SqliteStore) -> None:
    """GOV.UK Notify's pricing page: a text with an accented character other than Ä É Ö Ü à ä é è ì ò ö ù ü costs
    more (it goes as Unicode: 70 characters a text, not 160). So the Welsh words of a text leave out â, ô, ŵ; a
    letter keeps them (its price does not depend on them)."""
    forum = session(store, "1", "Carers' forum")
    told = words(store, contact_phone=PHONE)
    free = set("ÄÉÖÜàäéèìòöùü")
    for kind in KINDS:
        said = compose(told, booking(store, "104", forum, "cy", ContactPreference="Phone", Phone="07700 900123"),
                       kind, "sms")
        assert isinstance(said, Text)
        assert {ch for ch in said.message if ord(ch) > 127} <= free, (kind, said.message)
