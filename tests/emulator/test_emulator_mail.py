"""The emulator's mail speaks Graph: sendMail (JSON and MIME), the sender's Sent Items and Inbox, limits and
bounces as Exchange applies them.

Plain httpx, as any tool outside the project would drive it; each test runs
twice (over HTTPS and in-process). What was sent is also read back from the
backend (`emulator.backend.mail.sent(...)`), as an application's tests would.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, cast

import httpx
import pytest

from graph_emulator import ALL_ROLES, EmulatorServer
from tests.conftest import grant_roles
from tests.contract.test_emulator_contract import sdk_parse
from tests.support.fakes import FakeClock

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Having choice\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
KEY_PROPERTY = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name CoprodKey"
# What Graph's answers carry that differs on every run.
VOLATILE = {"@odata.etag", "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "receivedDateTime",
            "sentDateTime", "internetMessageId", "parentFolderId", "conversationId", "conversationIndex", "webLink"}


@pytest.fixture
def mailbox(http: httpx.Client, emulator: EmulatorServer) -> str:
    """The sending mailbox's UPN. These tests read messages whole (MIME, attachments): that takes Mail.Read."""
    grant_roles(http, emulator.env(), [*ALL_ROLES, "Mail.Read"])
    return emulator.backend.sender.user_principal_name


def person(address: str, name: str | None = None) -> dict[str, Any]:
    return {"emailAddress": {"address": address} | ({"name": name} if name else {})}


def json_message(subject: str = "Your place is confirmed", to: str = "alex@example.org",
                 **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "body": {"contentType": "Text", "content": f"{subject}."},
            "toRecipients": [person(to)], **extra}


def send_json(http: httpx.Client, mailbox: str, message: dict[str, Any], **extra: Any) -> httpx.Response:
    return http.post(f"/v1.0/users/{mailbox}/sendMail", json={"message": message, **extra})


def send_mime(http: httpx.Client, mailbox: str, mime: bytes) -> httpx.Response:
    return http.post(f"/v1.0/users/{mailbox}/sendMail", content=base64.b64encode(mime),
                     headers={"Content-Type": "text/plain"})


def sent_items(http: httpx.Client, mailbox: str, **params: str) -> dict[str, Any]:
    answer = http.get(f"/v1.0/users/{mailbox}/mailFolders/sentItems/messages", params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    return answer.status_code, error["code"], error["message"]


def newsletter(sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Co-production Team <{sender}>"
    message["To"] = "Alex Example <alex@example.org>"
    message["Cc"] = "sam@example.org"
    message["Bcc"] = "audit@council.example.org"
    message["Subject"] = "Co-production news"
    message["Date"] = "Tue, 24 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = "<key-0042@council.example.org>"
    message["List-Unsubscribe"] = "<https://coprod.example.org/u/abc>, <mailto:leave@council.example.org>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("News in plain text.\n")
    message.add_alternative("<p>News in <b>HTML</b>.</p>\n", subtype="html")
    message.add_attachment(ICS, maintype="text", subtype="calendar", filename="session.ics")
    return message


# --- JSON sends ---------------------------------------------------------------------------
def test_a_json_send_with_html_and_an_ics_file_reads_back_from_sent_items(http: httpx.Client, emulator: EmulatorServer,
                                                                          mailbox: str) -> None:
    message = {"subject": "Session on Tuesday",
               "body": {"contentType": "HTML", "content": "<p>See you <b>soon</b></p>"},
               "toRecipients": [person("alex@example.org", "Alex Example")],
               "ccRecipients": [person("sam@example.org")], "bccRecipients": [person("audit@council.example.org")],
               "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "session.ics",
                                "contentType": "text/calendar", "contentBytes": base64.b64encode(ICS).decode()}]}
    answer = send_json(http, mailbox, message)
    assert (answer.status_code, answer.content) == (202, b"")

    [shown] = sent_items(http, mailbox, **{"$expand": "attachments"})["value"]
    sender = person(mailbox, "Co-production Team")
    attachment = {k: v for k, v in shown.pop("attachments")[0].items() if k not in ("id", "lastModifiedDateTime")}
    assert {k: v for k, v in shown.items() if k not in VOLATILE} == {
        "categories": [], "hasAttachments": True, "subject": "Session on Tuesday", "bodyPreview": "See you soon",
        "importance": "normal", "isDeliveryReceiptRequested": False, "isReadReceiptRequested": False, "isRead": True,
        "isDraft": False, "inferenceClassification": "focused",
        "body": {"contentType": "html", "content": "<p>See you <b>soon</b></p>"}, "sender": sender, "from": sender,
        "toRecipients": [person("alex@example.org", "Alex Example")],
        "ccRecipients": [person("sam@example.org", "sam@example.org")],
        "bccRecipients": [person("audit@council.example.org", "audit@council.example.org")],
        "replyTo": [], "flag": {"flagStatus": "notFlagged"}}
    assert attachment == {"@odata.type": "#microsoft.graph.fileAttachment", "@odata.mediaContentType": "text/calendar",
                          "name": "session.ics", "contentType": "text/calendar", "size": len(ICS), "isInline": False,
                          "contentId": None, "contentLocation": None, "contentBytes": base64.b64encode(ICS).decode()}

    base = f"/v1.0/users/{mailbox}/messages/{shown['id']}"
    [listed] = http.get(f"{base}/attachments").json()["value"]
    assert base64.b64decode(listed["contentBytes"]) == ICS
    assert http.get(f"{base}/attachments/{listed['id']}/$value").content == ICS

    [sent] = emulator.backend.mail.sent(mailbox)
    assert (sent.to, sent.cc, sent.bcc, sent.subject, sent.html_body, sent.text_body) == (
        ("alex@example.org",), ("sam@example.org",), ("audit@council.example.org",), "Session on Tuesday",
        "<p>See you <b>soon</b></p>", None)
    assert [(a.name, a.content_type, a.content) for a in sent.attachments] == [("session.ics", "text/calendar", ICS)]
    mime = BytesParser(policy=policy.default).parsebytes(http.get(f"{base}/$value").content)
    assert (mime["Message-ID"], mime["Subject"], mime.get_body(("html",)).get_content().strip()) == (  # type: ignore[union-attr]
        shown["internetMessageId"], "Session on Tuesday", "<p>See you <b>soon</b></p>")


def test_a_custom_header_not_starting_with_x_is_refused_with_graphs_400(http: httpx.Client, emulator: EmulatorServer,
                                                                         mailbox: str) -> None:
    headers = [{"name": "x-coprod-key", "value": "k1"}, {"name": "List-Unsubscribe", "value": "<https://u.example>"}]
    answer = send_json(http, mailbox, json_message(internetMessageHeaders=headers))
    assert error_of(answer) == (400, "InvalidInternetMessageHeader",
                                "The internet message header name 'List-Unsubscribe' should start with 'x-' or 'X-'.")
    assert emulator.backend.mail.sent(mailbox) == []


def test_x_headers_are_kept_and_shown_only_when_selected_and_at_most_five_are_taken(http: httpx.Client,
                                                                                   mailbox: str) -> None:
    headers = [{"name": f"X-Coprod-{n}", "value": str(n)} for n in range(6)]
    too_many = send_json(http, mailbox, json_message(internetMessageHeaders=headers))
    assert error_of(too_many) == (400, "InvalidInternetMessageHeaderCollection",
                                  "Maximum number of headers in one message should be less than or equal to 5.")
    assert send_json(http, mailbox, json_message(internetMessageHeaders=headers[:2])).status_code == 202
    [plain] = sent_items(http, mailbox)["value"]
    [selected] = sent_items(http, mailbox, **{"$select": "subject,internetMessageHeaders"})["value"]
    assert "internetMessageHeaders" not in plain
    assert selected == {"@odata.etag": plain["@odata.etag"], "id": plain["id"], "subject": "Your place is confirmed",
                        "internetMessageHeaders": [{"name": "X-Coprod-0", "value": "0"},
                                                   {"name": "X-Coprod-1", "value": "1"}]}


def test_a_message_with_no_recipients_is_error_invalid_recipients(http: httpx.Client, emulator: EmulatorServer,
                                                                   mailbox: str) -> None:
    expected = (400, "ErrorInvalidRecipients",
                "At least one recipient is not valid., A message can't be sent because it contains no recipients.")
    assert error_of(send_json(http, mailbox, {"subject": "Nobody", "body": {"content": "x"}})) == expected
    nobody = newsletter(mailbox)
    for header in ("To", "Cc", "Bcc"):
        del nobody[header]
    assert error_of(send_mime(http, mailbox, nobody.as_bytes())) == expected
    assert emulator.backend.mail.sent(mailbox) == []


def test_save_to_sent_items_false_sends_but_leaves_sent_items_empty(http: httpx.Client, emulator: EmulatorServer,
                                                                     mailbox: str) -> None:
    assert send_json(http, mailbox, json_message("Not kept"), saveToSentItems=False).status_code == 202
    # Graph's own sample sends the flag as a string.
    assert send_json(http, mailbox, json_message("Not kept either"), saveToSentItems="false").status_code == 202
    assert sent_items(http, mailbox)["value"] == []
    assert [(m.subject, m.saved_to_sent_items) for m in emulator.backend.mail.sent(mailbox)] == [
        ("Not kept", False), ("Not kept either", False)]
    assert emulator.backend.mail.sent_items(mailbox) == []


def test_an_unknown_mailbox_is_error_invalid_user(http: httpx.Client) -> None:
    expected = (404, "ErrorInvalidUser", "The requested user 'nobody@council.example.org' is invalid.")
    assert error_of(send_json(http, "nobody@council.example.org", json_message())) == expected
    assert error_of(http.get("/v1.0/users/nobody@council.example.org/mailFolders/sentitems/messages")) == expected


# --- MIME sends -------------------------------------------------------------------------------
def test_a_mime_send_keeps_message_id_and_list_unsubscribe_headers(http: httpx.Client, emulator: EmulatorServer,
                                                                   mailbox: str) -> None:
    mime = newsletter(mailbox).as_bytes()
    answer = send_mime(http, mailbox, mime)
    assert (answer.status_code, answer.content) == (202, b"")

    found = sent_items(http, mailbox, **{"$filter": "internetMessageId eq '<key-0042@council.example.org>'"})["value"]
    assert [(m["subject"], m["internetMessageId"], m["hasAttachments"]) for m in found] == [
        ("Co-production news", "<key-0042@council.example.org>", True)]
    message = found[0]
    assert (message["toRecipients"], message["ccRecipients"], message["bccRecipients"]) == (
        [person("alex@example.org", "Alex Example")], [person("sam@example.org", "sam@example.org")],
        [person("audit@council.example.org", "audit@council.example.org")])

    value = http.get(f"/v1.0/users/{mailbox}/messages/{message['id']}/$value")
    assert (value.headers["content-type"].split(";")[0], value.content) == ("text/plain", mime)

    [selected] = sent_items(http, mailbox, **{"$select": "internetMessageHeaders"})["value"]
    headers = {h["name"]: h["value"] for h in selected["internetMessageHeaders"]}
    assert (headers["List-Unsubscribe"], headers["List-Unsubscribe-Post"], headers["Message-ID"]) == (
        "<https://coprod.example.org/u/abc>, <mailto:leave@council.example.org>", "List-Unsubscribe=One-Click",
        "<key-0042@council.example.org>")

    [sent] = emulator.backend.mail.sent(mailbox)
    assert (sent.header("list-unsubscribe-post"), sent.text_body, sent.html_body, sent.raw) == (
        "List-Unsubscribe=One-Click", "News in plain text.\n", "<p>News in <b>HTML</b>.</p>\n", mime)
    assert [(a.name, a.content_type, a.content) for a in sent.attachments] == [("session.ics", "text/calendar", ICS)]


def test_a_mime_send_without_message_id_gets_one_from_exchange(http: httpx.Client, mailbox: str) -> None:
    message = newsletter(mailbox)
    del message["Message-ID"]
    assert send_mime(http, mailbox, message.as_bytes()).status_code == 202
    [shown] = sent_items(http, mailbox)["value"]
    mime = BytesParser(policy=policy.default).parsebytes(
        http.get(f"/v1.0/users/{mailbox}/messages/{shown['id']}/$value").content)
    assert shown["internetMessageId"].endswith(".prod.outlook.com>")
    assert mime["Message-ID"] == shown["internetMessageId"]


@pytest.mark.parametrize("body", [b"not base64 at all!", b""])
def test_mime_that_is_not_base64_is_refused(http: httpx.Client, emulator: EmulatorServer, mailbox: str,
                                           body: bytes) -> None:
    answer = http.post(f"/v1.0/users/{mailbox}/sendMail", content=body, headers={"Content-Type": "text/plain"})
    assert error_of(answer) == (400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
    assert emulator.backend.mail.sent(mailbox) == []


# --- reading Sent Items ----------------------------------------------------------------------------
def test_sent_items_answers_under_every_spelling_of_the_folder(http: httpx.Client, mailbox: str) -> None:
    send_json(http, mailbox, json_message())
    [message] = sent_items(http, mailbox)["value"]
    ids = {}
    for folder in ("mailFolders('SentItems')", "mailFolders('sentitems')", "mailFolders/SENTITEMS",
                   f"mailFolders/{message['parentFolderId']}"):
        answer = http.get(f"/v1.0/users/{mailbox}/{folder}/messages")
        ids[folder] = [m["id"] for m in answer.json()["value"]]
    assert set(map(tuple, ids.values())) == {(message["id"],)}
    assert http.get(f"/v1.0/users/{mailbox}/mailFolders/inbox/messages").json()["value"] == []
    assert error_of(http.get(f"/v1.0/users/{mailbox}/mailFolders/nonsense/messages")) == (
        400, "ErrorInvalidIdMalformed", "Id is malformed.")


def test_sent_items_are_newest_first_and_page_with_next_links(http: httpx.Client, mailbox: str) -> None:
    for n in range(5):
        send_json(http, mailbox, json_message(f"Message {n}"))
    seen: list[str] = []
    url: str | None = f"/v1.0/users/{mailbox}/mailFolders/sentItems/messages?$top=2&$select=subject"
    pages = 0
    while url:
        page = http.get(url).json()
        seen += [m["subject"] for m in page["value"]]
        url = page.get("@odata.nextLink")
        pages += 1
    assert (seen, pages) == ([f"Message {n}" for n in (4, 3, 2, 1, 0)], 3)
    oldest_first = sent_items(http, mailbox, **{"$orderby": "sentDateTime", "$select": "subject"})["value"]
    assert [m["subject"] for m in oldest_first] == [f"Message {n}" for n in range(5)]
    newest_first = sent_items(http, mailbox, **{"$orderby": "sentDateTime desc", "$select": "subject"})["value"]
    assert [m["subject"] for m in newest_first] == [f"Message {n}" for n in (4, 3, 2, 1, 0)]


def test_filters_find_by_internet_message_id_subject_and_extended_property(http: httpx.Client, mailbox: str) -> None:
    for key in ("k1", "k2", "k3"):
        send_json(http, mailbox, json_message(f"About {key}", internetMessageId=f"<{key}@council.example.org>",
                                              singleValueExtendedProperties=[{"id": KEY_PROPERTY, "value": key}]))

    def subjects(filter_: str, **more: str) -> list[str]:
        return [m["subject"] for m in sent_items(http, mailbox, **{"$filter": filter_}, **more)["value"]]

    assert subjects("internetMessageId eq '<k2@council.example.org>'") == ["About k2"]
    assert subjects("subject eq 'About k3'") == ["About k3"]
    assert subjects(f"singleValueExtendedProperties/any(ep: ep/id eq '{KEY_PROPERTY}' and ep/value eq 'k1')") == [
        "About k1"]
    assert subjects(f"singleValueExtendedProperties/Any(ep:ep/id eq '{KEY_PROPERTY}' and ep/value eq 'nope')") == []
    expand = f"singleValueExtendedProperties($filter=id eq '{KEY_PROPERTY}')"
    [expanded] = sent_items(http, mailbox, **{"$filter": "subject eq 'About k2'", "$select": "subject",
                                              "$expand": expand})["value"]
    assert expanded["singleValueExtendedProperties"] == [{"id": KEY_PROPERTY, "value": "k2"}]
    assert "singleValueExtendedProperties" not in sent_items(http, mailbox, **{"$select": "subject"})["value"][0]


def test_unsupported_queries_get_graphs_400s(http: httpx.Client, mailbox: str) -> None:
    send_json(http, mailbox, json_message())
    url = f"/v1.0/users/{mailbox}/mailFolders/sentItems/messages"
    assert error_of(http.get(url, params={"$filter": "toRecipients/any(r: r/emailAddress/address eq 'a@b.c')"})) == (
        400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
    assert error_of(http.get(url, params={"$filter": "endswith(subject, 'x')"}))[1] == "ErrorInvalidUrlQueryFilter"
    assert error_of(http.get(url, params={"$filter": "subject eq 'x'", "$orderby": "sentDateTime desc"})) == (
        400, "InefficientFilter", "The restriction or sort order is too complex for this operation.")
    assert error_of(http.get(url, params={"$select": "subject,colour"}))[:2] == (400, "RequestBroker--ParseUri")


def test_one_message_by_id_with_select_and_the_text_body_on_request(http: httpx.Client, emulator: EmulatorServer,
                                                                    mailbox: str) -> None:
    send_json(http, mailbox, json_message(body={"contentType": "HTML", "content": "<p>Line one</p><p>Line two</p>"}))
    [listed] = sent_items(http, mailbox)["value"]
    by_id = f"/v1.0/users/{emulator.backend.sender.id}/messages/{listed['id']}"
    whole = http.get(by_id).json()
    context = f"/v1.0/$metadata#users('{emulator.backend.sender.id}')/messages/$entity"
    assert whole.pop("@odata.context").endswith(context)
    assert whole == listed
    assert http.get(by_id, params={"$select": "subject,isDraft"}).json() | {"@odata.context": ""} == {
        "@odata.context": "", "@odata.etag": listed["@odata.etag"], "id": listed["id"],
        "subject": "Your place is confirmed", "isDraft": False}
    as_text = http.get(by_id, headers={"Prefer": 'outlook.body-content-type="text"'}).json()["body"]
    assert as_text == {"contentType": "text", "content": "Line one\r\nLine two"}
    assert error_of(http.get(f"/v1.0/users/{mailbox}/messages/AAMkAnotthere")) == (
        404, "ErrorItemNotFound", "The specified object was not found in the store.")


def test_the_message_collection_parses_with_the_sdk_models(http: httpx.Client, mailbox: str) -> None:
    from msgraph.generated.models.file_attachment import FileAttachment
    from msgraph.generated.models.message_collection_response import MessageCollectionResponse

    send_json(http, mailbox, {"subject": "Parsed", "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
                              "toRecipients": [person("alex@example.org", "Alex")], "internetMessageId": "<p1@c.org>",
                              "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "s.ics",
                                               "contentType": "text/calendar",
                                               "contentBytes": base64.b64encode(ICS).decode()}]})
    send_mime(http, mailbox, newsletter(mailbox).as_bytes())
    body = http.get(f"/v1.0/users/{mailbox}/mailFolders('SentItems')/messages", params={"$expand": "attachments"})
    parsed = sdk_parse(MessageCollectionResponse, body.content)
    assert [(m.subject, m.internet_message_id, m.is_draft, m.has_attachments) for m in parsed.value] == [
        ("Co-production news", "<key-0042@council.example.org>", False, True), ("Parsed", "<p1@c.org>", False, True)]
    parsed_json_send = parsed.value[1]
    assert (parsed_json_send.to_recipients[0].email_address.address, parsed_json_send.body.content,
            parsed_json_send.from_.email_address.address) == ("alex@example.org", "<p>Hi</p>", mailbox)
    assert parsed_json_send.sent_date_time is not None and parsed_json_send.sent_date_time.tzinfo is not None
    [attachment] = parsed_json_send.attachments
    assert isinstance(attachment, FileAttachment)
    assert (attachment.name, attachment.content_type, attachment.content_bytes) == ("s.ics", "text/calendar", ICS)


# --- Exchange's limits: applied after the 202 -----------------------------------------------------
def late_and_on_time(emulator: EmulatorServer, mailbox: str) -> list[tuple[str, str, float]]:
    return [(d.recipient, d.outcome, d.at - d.submitted) for d in emulator.backend.mail.deliveries(mailbox)]


def test_a_message_under_the_rate_is_not_late_however_the_clock_moves_while_it_is_taken(
        http: httpx.Client, emulator: EmulatorServer, mailbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Late means held back past the rate, measured from when Exchange took the message (bench/messages.py counts
    them, goal 0), not from the message's own time, read a moment before."""
    ticking = FakeClock(tick=1e-6)  # a microsecond on each time it is read, as a real clock moves between two reads
    monkeypatch.setattr(emulator.backend.mail, "clock", ticking)
    http.post("/_emulator/limits", json={"mail": {"per_window": 3, "window_seconds": 2}})
    for n in range(4):
        assert send_json(http, mailbox, json_message(f"Quick {n}", to=f"p{n}@example.org")).status_code == 202
    emulator.backend.mail.clock.now += 5  # type: ignore[attr-defined]  # all delivered by then
    assert [d.late for d in emulator.backend.mail.deliveries(mailbox)] == [False] * 3 + [True]


def test_past_the_message_rate_sendmail_still_answers_202_and_the_rest_is_delivered_late(
        http: httpx.Client, emulator: EmulatorServer, mailbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 a minute is applied after the 202: what goes over waits in the outbox and is delivered in the minutes
    after, with no 429 and no NDR (Exchange Online's sending limits)."""
    clock = FakeClock()
    monkeypatch.setattr(emulator.backend.mail, "clock", clock)
    limits = http.post("/_emulator/limits", json={"mail": {"per_window": 3, "window_seconds": 2}})
    assert limits.json()["mail"] == {"per_window": 3, "window_seconds": 2, "recipients_per_day": 10_000,
                                     "day_seconds": 86_400.0, "requests_per_window": 10_000,
                                     "request_window_seconds": 600.0, "concurrent": 4, "request_ms": 0.0,
                                     "enabled": True}
    for n in range(5):
        clock.now += 0.25
        assert send_json(http, mailbox, json_message(f"Quick {n}", to=f"p{n}@example.org")).status_code == 202
    assert emulator.backend.mail.waiting(mailbox) == 2
    assert [(r, o) for r, o, _ in late_and_on_time(emulator, mailbox)] == [
        (f"p{n}@example.org", "delivered") for n in range(3)]
    clock.now += 1.0  # 2 s after the first went: the window has room for one
    assert late_and_on_time(emulator, mailbox)[3:] == [("p3@example.org", "delivered", 1.25)]
    clock.now += 0.25  # and 2 s after the second, for the last
    assert late_and_on_time(emulator, mailbox)[4:] == [("p4@example.org", "delivered", 1.25)]
    assert emulator.backend.mail.waiting(mailbox) == 0
    assert [m.subject for m in emulator.backend.mail.sent_items(mailbox)] == [f"Quick {n}" for n in range(5)]
    assert (emulator.backend.mail.inbox(mailbox), emulator.backend.mail.refused(mailbox)) == ([], 0)
    assert "429" not in http.get("/_emulator/log").json()["by_status"]


def test_past_the_recipient_rate_limit_nothing_is_sent_and_an_ndr_with_5_1_90_arrives(
        http: httpx.Client, emulator: EmulatorServer, mailbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """To, Cc and Bcc count against 10,000 recipients over a sliding day; past it the message goes to nobody and
    the sender gets an NDR saying so (5.1.90, Exchange Online's NDR reference)."""
    clock = FakeClock()
    monkeypatch.setattr(emulator.backend.mail, "clock", clock)
    http.post("/_emulator/limits", json={"mail": {"recipients_per_day": 5, "day_seconds": 100}})
    three = json_message("Three people", ccRecipients=[person("b@example.org")],
                         bccRecipients=[person("c@example.org")])
    assert send_json(http, mailbox, three).status_code == 202
    clock.now += 30
    assert send_json(http, mailbox, three | {"subject": "Too many today"}).status_code == 202
    assert send_json(http, mailbox, json_message("One more fits")).status_code == 202  # 4 of 5
    outcomes = [(d.recipient, d.outcome, d.status) for d in emulator.backend.mail.deliveries(mailbox)]
    assert outcomes == [("alex@example.org", "delivered", "2.0.0"), ("b@example.org", "delivered", "2.0.0"),
                        ("c@example.org", "delivered", "2.0.0"), ("alex@example.org", "not sent", "5.1.90"),
                        ("b@example.org", "not sent", "5.1.90"), ("c@example.org", "not sent", "5.1.90"),
                        ("alex@example.org", "delivered", "2.0.0")]
    [report] = emulator.backend.mail.inbox(mailbox)
    assert (report.subject, report.to) == ("Undeliverable: Too many today",
                                           ("alex@example.org", "b@example.org", "c@example.org"))
    assert "you've reached your daily limit for message recipients" in (report.text_body or "")
    clock.now += 70  # the first message's three have left the day
    assert send_json(http, mailbox, three | {"subject": "A new day"}).status_code == 202
    assert len(emulator.backend.mail.inbox(mailbox)) == 1


def test_graphs_own_request_limits_still_answer_429_with_retry_after(http: httpx.Client, emulator: EmulatorServer,
                                                                     mailbox: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 requests in 10 minutes and 4 at once per mailbox per app (Graph's Outlook service limits): 429s."""
    clock = FakeClock()
    monkeypatch.setattr(emulator.backend.mail, "clock", clock)
    http.post("/_emulator/limits", json={"mail": {"requests_per_window": 3, "request_window_seconds": 10}})
    for _ in range(3):
        assert http.get(f"/v1.0/users/{mailbox}/mailFolders/sentItems/messages").status_code == 200
        clock.now += 1
    refused = send_json(http, mailbox, json_message())
    assert (*error_of(refused), refused.headers["Retry-After"]) == (
        429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", "7")
    assert emulator.backend.mail.sent(mailbox) == []  # a 429 is Graph's: nothing was taken
    clock.now += 7
    assert send_json(http, mailbox, json_message()).status_code == 202

    http.post("/_emulator/limits", json={"mail": {"concurrent": 2, "request_ms": 1500}})
    for _ in range(2):
        assert send_json(http, mailbox, json_message()).status_code == 202
    busy = send_json(http, mailbox, json_message("Third at once"))
    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "2")
    clock.now += 1.5
    assert send_json(http, mailbox, json_message("After the others")).status_code == 202
    assert emulator.backend.mail.refused(mailbox) == 2


def test_a_429_is_answered_again_after_retry_after_on_the_real_clock(http: httpx.Client, emulator: EmulatorServer,
                                                                     mailbox: str) -> None:
    http.post("/_emulator/limits", json={"mail": {"requests_per_window": 3, "request_window_seconds": 1}})
    for n in range(3):
        assert send_json(http, mailbox, json_message(f"Quick {n}")).status_code == 202
    refused = send_json(http, mailbox, json_message("Refused"))
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
    time.sleep(float(refused.headers["Retry-After"]))
    assert send_json(http, mailbox, json_message("After waiting")).status_code == 202
    assert [m.subject for m in emulator.backend.mail.sent_items(mailbox)] == [
        "Quick 0", "Quick 1", "Quick 2", "After waiting"]
    assert http.get("/_emulator/log").json()["by_status"]["429"] == 1


def test_limits_that_make_no_sense_are_refused(http: httpx.Client) -> None:
    assert http.post("/_emulator/limits", json={"mail": {"per_window": 0}}).status_code == 400
    assert http.post("/_emulator/limits", json={"mail": {"per_minute": 30}}).json() == {
        "error": "bad limits: unknown mail limit 'per_minute': use per_window, window_seconds, recipients_per_day, "
                 "day_seconds, requests_per_window, request_window_seconds, concurrent, request_ms"}


# --- bounces: a non-delivery report in the sender's Inbox ----------------------------------------------
def inbox(http: httpx.Client, mailbox: str, **params: str) -> list[dict[str, Any]]:
    answer = http.get(f"/v1.0/users/{mailbox}/mailFolders/inbox/messages", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["value"])


def test_an_address_made_to_bounce_sends_back_an_ndr_in_exchanges_shape(http: httpx.Client, emulator: EmulatorServer,
                                                                        mailbox: str) -> None:
    """Graph's message-move example shows an NDR: "Undeliverable: ..." from "Microsoft Outlook" at the system
    mailbox, its toRecipients the addresses that failed; its MIME names the original's Message-ID (In-Reply-To,
    and the original itself, attached) and says 5.1.1 in its delivery-status part."""
    assert http.post("/_emulator/mail/bounce", json={"address": "Gone@Example.org"}).json() == {
        "bouncing": {"gone@example.org": "5.1.1"}}
    mime = newsletter(mailbox)
    mime.replace_header("To", "Gone Person <gone@example.org>, Alex Example <alex@example.org>")
    del mime["Cc"], mime["Bcc"]
    assert send_mime(http, mailbox, mime.as_bytes()).status_code == 202

    [shown] = inbox(http, mailbox)
    system = person("MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@council.example.org", "Microsoft Outlook")
    assert (shown["subject"], shown["from"], shown["sender"], shown["toRecipients"], shown["isRead"]) == (
        "Undeliverable: Co-production news", system, system, [person("gone@example.org", "gone@example.org")], False)
    assert shown["bodyPreview"].startswith("Delivery has failed to these recipients or groups:")
    assert shown["parentFolderId"] != sent_items(http, mailbox)["value"][0]["parentFolderId"]
    report = BytesParser(policy=policy.default).parsebytes(
        http.get(f"/v1.0/users/{mailbox}/messages/{shown['id']}/$value").content)
    assert (report["In-Reply-To"], report["References"], report["Auto-Submitted"], report.get_content_type(),
            report.get_param("report-type")) == ("<key-0042@council.example.org>", "<key-0042@council.example.org>",
                                                 "auto-replied", "multipart/report", "delivery-status")
    assert "X-MS-Exchange-Message-Is-Ndr" in report
    [status] = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"]
    per_message, gone = cast(list[EmailMessage], status.get_payload())
    assert per_message["Reporting-MTA"].startswith("dns;")
    assert (gone["Final-Recipient"], gone["Action"], gone["Status"]) == ("rfc822;gone@example.org", "failed", "5.1.1")
    [original] = [cast(list[EmailMessage], p.get_payload())[0] for p in report.walk()
                  if p.get_content_type() == "message/rfc822"]
    assert (original["Message-ID"], original["Subject"]) == ("<key-0042@council.example.org>", "Co-production news")
    assert [(d.recipient, d.outcome, d.status) for d in emulator.backend.mail.deliveries(mailbox)] == [
        ("gone@example.org", "bounced", "5.1.1"), ("alex@example.org", "delivered", "2.0.0")]

    assert http.request("DELETE", "/_emulator/mail/bounce", params={"address": "gone@example.org"}).json() == {
        "bouncing": {}}
    send_json(http, mailbox, json_message(to="gone@example.org"))
    assert len(inbox(http, mailbox)) == 1  # it takes mail again


def test_reading_an_ndrs_content_takes_mail_read_its_listing_does_not(http: httpx.Client, emulator: EmulatorServer,
                                                                       mailbox: str) -> None:
    """Mail.ReadBasic.All lists the Inbox; the report's MIME (what says which message and why) is content:
    message-get's Mail.Read (permissions reference: ReadBasic excludes body, attachments and the like)."""
    http.post("/_emulator/mail/bounce", json={"address": "gone@example.org", "status": "5.1.10"})
    send_json(http, mailbox, json_message(to="gone@example.org"))
    grant_roles(http, emulator.env(), [role for role in ALL_ROLES if role != "Mail.Read"])  # ReadBasic, not Read
    [shown] = inbox(http, mailbox, **{"$select": "subject,from"})
    assert shown["subject"] == "Undeliverable: Your place is confirmed"
    assert http.get(f"/v1.0/users/{mailbox}/messages/{shown['id']}/$value").status_code == 403
    http.put("/_emulator/tenant", json={"exchange_app_roles": ["Mail.Read"]})  # RBAC for Applications, this mailbox
    assert b"Status: 5.1.10" in http.get(f"/v1.0/users/{mailbox}/messages/{shown['id']}/$value").content


def test_a_bounce_of_a_message_held_back_by_the_rate_comes_when_it_is_delivered(
        http: httpx.Client, emulator: EmulatorServer, mailbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(emulator.backend.mail, "clock", clock)
    http.post("/_emulator/limits", json={"mail": {"per_window": 1, "window_seconds": 60}})
    http.post("/_emulator/mail/bounce", json={"address": "gone@example.org"})
    send_json(http, mailbox, json_message("First"))
    send_json(http, mailbox, json_message("Second", to="gone@example.org"))
    assert inbox(http, mailbox) == []
    clock.now += 60
    [report] = inbox(http, mailbox, **{"$select": "subject,receivedDateTime"})
    assert (report["subject"], report["receivedDateTime"]) == (
        "Undeliverable: Second", datetime.fromtimestamp(clock.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_the_inbox_filters_and_sorts_by_received_time_as_exchange_does(http: httpx.Client, emulator: EmulatorServer,
                                                                       mailbox: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(emulator.backend.mail, "clock", clock)
    for n in range(3):
        http.post("/_emulator/mail/inbox", json={"raw": f"From: someone@example.net\r\nTo: {mailbox}\r\n"
                                                        f"Subject: Note {n}\r\nMessage-ID: <n{n}@example.net>\r\n\r\n"
                                                        "Hello.\r\n"})
        clock.now += 60
    since = datetime.fromtimestamp(clock.now - 120, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = inbox(http, mailbox, **{"$filter": f"receivedDateTime ge {since}", "$orderby": "receivedDateTime",
                                    "$select": "subject"})
    assert [m["subject"] for m in found] == ["Note 1", "Note 2"]
    assert [m["subject"] for m in inbox(http, mailbox, **{"$filter": f"receivedDateTime lt {since}"})] == ["Note 0"]
    http.post("/_emulator/mail/inbox", json={"raw": f"From: Other <other@example.net>\r\nTo: {mailbox}\r\n"
                                                    "Subject: Note 3\r\n\r\nHello.\r\n"})
    from_one = inbox(http, mailbox, **{"$filter": f"receivedDateTime ge {since} and from/emailAddress/address eq "
                                                  "'SOMEONE@example.net'", "$orderby": "receivedDateTime"})
    assert [m["subject"] for m in from_one] == ["Note 1", "Note 2"]
    assert error_of(http.get(f"/v1.0/users/{mailbox}/mailFolders/inbox/messages", params={
        "$filter": "receivedDateTime ge yesterday"}))[1] == "ErrorInvalidUrlQueryFilter"
    everything = http.get(f"/v1.0/users/{mailbox}/messages", params={"$select": "subject"}).json()["value"]
    assert sorted(m["subject"] for m in everything) == ["Note 0", "Note 1", "Note 2", "Note 3"]


def test_an_ndr_parses_with_the_sdk_models(http: httpx.Client, mailbox: str) -> None:
    from msgraph.generated.models.message_collection_response import MessageCollectionResponse

    http.post("/_emulator/mail/bounce", json={"address": "gone@example.org"})
    send_json(http, mailbox, json_message(to="gone@example.org"))
    body = http.get(f"/v1.0/users/{mailbox}/mailFolders('Inbox')/messages")
    [parsed] = sdk_parse(MessageCollectionResponse, body.content).value
    assert (parsed.subject, parsed.from_.email_address.name, parsed.to_recipients[0].email_address.address) == (
        "Undeliverable: Your place is confirmed", "Microsoft Outlook", "gone@example.org")


def test_mail_control_calls_say_what_is_wrong(http: httpx.Client) -> None:
    assert http.post("/_emulator/mail/bounce", json={"address": "a@example.org", "status": "2.0.0"}).status_code == 400
    assert http.post("/_emulator/mail/bounce", json={}).status_code == 400
    assert http.post("/_emulator/mail/inbox", json={"raw": "x", "mailbox": "nobody@example.org"}).status_code == 404
    assert http.get("/_emulator/mail/nothing").status_code == 404
    assert http.post("/_emulator/mail/bounce", content=b"not json").status_code == 400


def test_a_lost_answer_fault_carries_the_send_out_then_answers_504(http: httpx.Client, mailbox: str) -> None:
    """`after`: the gateway timed out but the message went: what a client must check before sending again."""
    http.post("/_emulator/faults", json={"status": 504, "path": "/sendMail", "count": 1, "after": True})
    assert send_mime(http, mailbox, newsletter(mailbox).as_bytes()).status_code == 504
    assert send_mime(http, mailbox, newsletter(mailbox).as_bytes()).status_code == 202
    done = http.get("/_emulator/done").json()
    assert [(m["subject"], m["internetMessageId"]) for m in done["sent"]] == [
        ("Co-production news", "<key-0042@council.example.org>")] * 2  # both went; only the first answer was lost
    assert (done["invitations"], done["meetings"]) == ([], [])
