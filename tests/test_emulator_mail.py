"""The emulator's mail speaks Graph: sendMail (JSON and MIME), the sender's Sent Items, and the send limits.

Plain httpx, as any tool outside the project would drive it; each test runs
twice (over HTTPS and in-process). What was sent is also read back from the
backend (`emulator.backend.mail.sent(...)`), as an application's tests would.
"""

from __future__ import annotations

import base64
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import httpx
import pytest

from graph_emulator import ALL_ROLES, EmulatorServer
from tests.conftest import grant_roles
from tests.test_emulator_contract import sdk_parse

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


# --- send limits ----------------------------------------------------------------------------------
class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_message_rate_limit_answers_429_with_retry_after_then_accepts(http: httpx.Client, emulator: EmulatorServer,
                                                                          mailbox: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(emulator.backend.mail, "clock", clock)
    limits = http.post("/_emulator/limits", json={"mail": {"per_window": 3, "window_seconds": 2}})
    assert limits.json()["mail"] == {"per_window": 3, "window_seconds": 2, "recipients_per_day": 10_000,
                                     "day_seconds": 86_400.0, "enabled": True}
    for step in (0.0, 0.5, 0.25):  # steps a float holds exactly, so the window's edge is where the test puts it
        clock.now += step
        assert send_json(http, mailbox, json_message()).status_code == 202
    refused = send_json(http, mailbox, json_message("Too soon"))
    assert (*error_of(refused), refused.headers["Retry-After"]) == (
        429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", "2")  # 1.25 s, rounded up
    clock.now += 1.0  # 0.25 s short of the first send leaving the window
    assert send_json(http, mailbox, json_message("Still too soon")).headers["Retry-After"] == "1"
    clock.now += 0.25
    assert send_json(http, mailbox, json_message("In time")).status_code == 202
    assert [m.subject for m in emulator.backend.mail.sent(mailbox)][-1] == "In time"
    assert (len(emulator.backend.mail.sent(mailbox)), emulator.backend.mail.refused(mailbox)) == (4, 2)


def test_the_recipient_limit_counts_to_cc_and_bcc_over_a_sliding_day(http: httpx.Client, emulator: EmulatorServer,
                                                                     mailbox: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(emulator.backend.mail, "clock", clock)
    http.post("/_emulator/limits", json={"mail": {"recipients_per_day": 5, "day_seconds": 100}})
    three = json_message(ccRecipients=[person("b@example.org")], bccRecipients=[person("c@example.org")])
    assert send_json(http, mailbox, three).status_code == 202
    clock.now += 30
    refused = send_json(http, mailbox, three)
    assert (*error_of(refused), refused.headers["Retry-After"]) == (
        429, "ErrorExceededMessageLimit", "Cannot send mail. Daily Message/Recipient limit exceeded.", "70")
    assert send_json(http, mailbox, json_message()).status_code == 202  # 4 of 5: still room for one
    clock.now += 70
    assert send_json(http, mailbox, three).status_code == 202
    assert (len(emulator.backend.mail.sent(mailbox)), emulator.backend.mail.refused(mailbox)) == (3, 1)


def test_a_throttled_sender_is_accepted_again_after_waiting_retry_after_on_the_real_clock(
        http: httpx.Client, emulator: EmulatorServer, mailbox: str) -> None:
    http.post("/_emulator/limits", json={"mail": {"per_window": 3, "window_seconds": 1}})
    for n in range(3):
        assert send_json(http, mailbox, json_message(f"Quick {n}")).status_code == 202
    refused = send_json(http, mailbox, json_message("Refused"))
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
    time.sleep(float(refused.headers["Retry-After"]))
    assert send_json(http, mailbox, json_message("After waiting")).status_code == 202
    assert [m.subject for m in emulator.backend.mail.sent_items(mailbox)] == [
        "Quick 0", "Quick 1", "Quick 2", "After waiting"]
    assert http.get("/_emulator/log").json()["by_status"]["429"] == 1


def test_a_lost_answer_fault_carries_the_send_out_then_answers_504(http: httpx.Client, mailbox: str) -> None:
    """`after`: the gateway timed out but the message went: what a client must check before sending again."""
    http.post("/_emulator/faults", json={"status": 504, "path": "/sendMail", "count": 1, "after": True})
    assert send_mime(http, mailbox, newsletter(mailbox).as_bytes()).status_code == 504
    assert send_mime(http, mailbox, newsletter(mailbox).as_bytes()).status_code == 202
    done = http.get("/_emulator/done").json()
    assert [(m["subject"], m["internetMessageId"]) for m in done["sent"]] == [
        ("Co-production news", "<key-0042@council.example.org>")] * 2  # both went; only the first answer was lost
    assert (done["invitations"], done["meetings"]) == ([], [])
