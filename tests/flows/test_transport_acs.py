"""AcsTransport through the real azure-communication-email SDK to the local ACS fake, over loopback HTTPS."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from coprod.mail.acs import AcsTransport, acs_message, operation_id_for
from coprod.mail.outbox import MailError, MailRefused, MailThrottled, MailUncertain, Outbox, SendLimits
from coprod.store import SqliteStore
from graph_client import Attachment, OutgoingMail
from graph_emulator import EmulatorServer
from tests.support.acs_fake import AcsFake, SentAttachment, SentEmail

ROOT = Path(__file__).resolve().parents[2]
UNSUBSCRIBE = {"List-Unsubscribe": "<https://coprod.example/api/pages/unsubscribe/one-click?t=abc>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def acs() -> Iterator[AcsFake]:
    with AcsFake() as fake:
        yield fake


@pytest.fixture
def transport(acs: AcsFake) -> Iterator[AcsTransport]:
    sender = AcsTransport(acs.connection_string(), acs.sender, sender_name="Co-production programme",
                          ca_bundle=acs.ca_bundle, timeout=10)
    yield sender
    sender.close()


def mail(key: str = "confirmed:registration-7:session-3:v1", to: str = "ann.example@example.org") -> OutgoingMail:
    return OutgoingMail(key=key, to=(to,), to_name="Ann Example", subject="Your place is booked",
                        text="Hello Ann, your place is booked.", html="<p>Hello Ann, your place is booked.</p>",
                        attachments=(Attachment("session.ics", "text/calendar; method=REQUEST", CALENDAR),),
                        headers=UNSUBSCRIBE)


def as_logged(error: BaseException) -> str:
    """Every message a logged traceback of `error` would print: its own and its causes' (as traceback walks them)."""
    texts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        texts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n".join(texts)


def test_a_message_arrives_with_both_parts_its_attachment_and_its_headers(
        acs: AcsFake, transport: AcsTransport) -> None:
    transport.send(mail())

    assert acs.state.sent == [SentEmail(
        operation_id=operation_id_for("confirmed:registration-7:session-3:v1"), sender=acs.sender,
        to=(("ann.example@example.org", "Ann Example"),), subject="Your place is booked",
        plain_text="Hello Ann, your place is booked.", html="<p>Hello Ann, your place is booked.</p>",
        attachments=(SentAttachment("session.ics", "text/calendar; method=REQUEST", CALENDAR),),
        headers=UNSUBSCRIBE)]
    assert [(s.operation, s.status) for s in acs.state.log] == [("send", 202)]


def test_sending_leaves_no_sdk_poller_behind(transport: AcsTransport) -> None:
    """"Sent" is ACS's 202: no LROPoller thread goes on asking for the operation (a rate-limited call)."""
    transport.send(mail())

    assert [t.name for t in threading.enumerate() if t.name.startswith("LROPoller")] == []


def test_a_key_maps_to_the_same_operation_id_in_every_release() -> None:
    """Messages left `sending` across a deploy are asked about by this id: it must never change."""
    assert operation_id_for("confirmed:registration-7:session-3:v1") == "95836439-e7dc-5beb-86cf-3693a8ac3daf"


def test_several_recipients_go_without_a_display_name_and_a_text_only_message_has_no_html() -> None:
    message = OutgoingMail(key="brief:session-3", to=("a@example.org", "b@example.org"), to_name="Facilitators",
                           subject="Brief", text="Numbers and needs.")

    assert acs_message(message, "DoNotReply@mail.coprod.example") == {
        "senderAddress": "DoNotReply@mail.coprod.example",
        "recipients": {"to": [{"address": "a@example.org"}, {"address": "b@example.org"}]},
        "content": {"subject": "Brief", "plainText": "Numbers and needs."}}


def test_a_resend_after_a_lost_answer_is_the_same_operation_so_the_message_goes_once(
        acs: AcsFake, transport: AcsTransport) -> None:
    acs.state.add_fault("drop")  # ACS takes the message, then the connection dies before its answer
    with pytest.raises(MailUncertain) as lost:
        transport.send(mail())

    assert lost.value.detail == "no answer from ACS (ServiceResponseError)"  # a cut connection, not an error answer
    assert transport.was_sent(mail().key) is True
    transport.send(mail())  # what a caller that did not ask first would do
    assert [email.operation_id for email in acs.state.sent] == [operation_id_for(mail().key)]
    assert (acs.state.send_requests, acs.state.repeats) == (2, 1)
    assert "ann.example" not in as_logged(lost.value)


def test_was_sent_is_false_for_a_key_acs_never_took(acs: AcsFake, transport: AcsTransport) -> None:
    transport.send(mail(key="taken"))

    assert (transport.was_sent("taken"), transport.was_sent("never-sent")) == (True, False)


def test_a_failed_operation_cannot_be_called_sent_or_unsent(acs: AcsFake, transport: AcsTransport) -> None:
    """Failed (ACS took it and dropped it) is neither: was_sent raises, naming ACS's code."""
    transport.send(mail())
    acs.state.set_status(operation_id_for(mail().key), "Failed", "EmailDropped")

    with pytest.raises(MailError) as failed:
        transport.was_sent(mail().key)
    assert failed.value.detail == "ACS's operation for a message is Failed (EmailDropped)"


def test_a_status_check_that_meets_a_503_raises_rather_than_guessing(acs: AcsFake, transport: AcsTransport) -> None:
    transport.send(mail())
    acs.state.add_fault("unavailable", operation="status")

    with pytest.raises(MailError) as unknown:
        transport.was_sent(mail().key)
    assert unknown.value.detail == "ACS answered HTTP 503 ServiceUnavailable to a status check"


def test_a_429_is_mail_throttled_with_its_retry_after_and_is_not_retried_by_the_sdk(
        acs: AcsFake, transport: AcsTransport) -> None:
    acs.state.add_fault("throttle", retry_after=7)

    with pytest.raises(MailThrottled) as throttled:
        transport.send(mail())
    assert throttled.value.retry_after == 7.0
    assert ([(s.operation, s.status) for s in acs.state.log], acs.state.sent) == ([("send", 429)], [])
    assert "ann.example" not in as_logged(throttled.value)


def test_a_503_is_uncertain_and_is_not_retried_by_the_sdk(acs: AcsFake, transport: AcsTransport) -> None:
    acs.state.add_fault("unavailable")

    with pytest.raises(MailUncertain) as uncertain:
        transport.send(mail())
    assert uncertain.value.detail == "ACS answered HTTP 503 ServiceUnavailable: The service is temporarily unavailable."
    assert [(s.operation, s.status) for s in acs.state.log] == [("send", 503)]


def test_a_400_is_a_final_refusal_with_acs_code_and_without_the_address_acs_quoted(
        acs: AcsFake, transport: AcsTransport) -> None:
    with pytest.raises(MailRefused) as refused:
        transport.send(mail(to="ann.example@localhost"))  # the fake refuses a domain without a dot, quoting it

    assert (refused.value.final, refused.value.detail) == (True, "ACS refused the email: HTTP 400 "
                                                                 "InvalidRecipientAddress: The email address "
                                                                 "'<address>' is not valid.")
    assert "ann.example" not in as_logged(refused.value)
    assert acs.state.sent == []


def test_a_wrong_access_key_is_refused_finally_and_sends_nothing(acs: AcsFake) -> None:
    wrong = AcsTransport(acs.connection_string("d3Jvbmcta2V5LWQzSnZibWN0YTJWNQ=="), acs.sender,
                         ca_bundle=acs.ca_bundle, timeout=10)
    with pytest.raises(MailRefused) as refused:
        wrong.send(mail())
    wrong.close()

    assert (refused.value.final, refused.value.detail) == (
        True, "ACS refused the email: HTTP 401 Denied: Denied by the resource provider.")
    assert "ann.example" not in as_logged(refused.value)
    assert acs.state.sent == []


def test_importing_the_transport_loads_no_azure_sdk() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, coprod.mail.acs; print(sorted(m for m in sys.modules "
                               "if m.split('.')[0] == 'azure'))"],
        cwd=ROOT, capture_output=True, text=True, check=True)

    assert loaded.stdout.strip() == "[]"


def test_the_outbox_through_acs_sends_40_queued_messages_each_once_within_30_a_second(
        acs: AcsFake, transport: AcsTransport, store: SqliteStore) -> None:
    keys = [f"update:subscriber-{n}:issue-1" for n in range(40)]
    outbox = Outbox(store, transport, SendLimits(per_window=30, window_seconds=1.0))
    for n, key in enumerate(keys):
        assert outbox.enqueue(mail(key=key, to=f"person{n}@example.org"), "update")
    assert not outbox.enqueue(mail(key=keys[0], to="person0@example.org"), "update")  # queued twice: once

    report = outbox.drain()

    assert (report.sent, report.failed, report.throttled, report.waiting) == (40, 0, 0, 0)
    assert sorted(email.operation_id for email in acs.state.sent) == sorted(operation_id_for(k) for k in keys)
    assert {email.to for email in acs.state.sent} == {((f"person{n}@example.org", "Ann Example"),) for n in range(40)}
    assert {(email.headers == UNSUBSCRIBE, len(email.attachments)) for email in acs.state.sent} == {(True, 1)}
    accepted = [served.at for served in acs.state.log if served.operation == "send"]
    assert len(accepted) == 40
    assert min(later - earlier for earlier, later in zip(accepted, accepted[30:], strict=False)) >= 1.0 - 0.01


def test_the_setting_sends_the_services_email_through_acs_not_graph(
        emulator: EmulatorServer, env: dict[str, str], tmp_path: Path) -> None:
    """COPROD_MAIL_TRANSPORT=acs: a full run's booking confirmation goes by ACS, and nothing by sendMail."""
    from config import load_settings
    from coprod.lists.provision import provision
    from coprod.run import run_once
    from coprod.runtime import Services

    with AcsFake() as fake:
        both = tmp_path / "cas.pem"  # the emulator's CA and the fake's, as a TLS proxy's bundle would hold both
        both.write_bytes(Path(env["M365_CA_BUNDLE"]).read_bytes() + b"\n" + Path(fake.ca_bundle).read_bytes())
        settings = load_settings(env | {"M365_CA_BUNDLE": str(both), "COPROD_MAIL_TRANSPORT": "acs",
                                        "COPROD_ACS_CONNECTION_STRING": fake.connection_string(),
                                        "COPROD_ACS_SENDER": fake.sender})
        with Services.open(settings) as services:
            provision(services.lists)
            sp, site = emulator.backend.sharepoint, settings.site_id
            session = sp.create_item(site, "Sessions", {"Title": "Being included", "Status": "Open", "Capacity": 0,
                                                        "StartTime": "2030-01-01T10:00:00Z",
                                                        "EndTime": "2030-01-01T11:00:00Z"})
            sp.create_item(site, "Registrations", {"Title": "Ann", "Email": "ann@example.org", "Consent": True,
                                                   "SessionLookupId": str(session.id)})
            run_once(services, drain_seconds=0)
        [sent] = fake.state.sent
        assert (sent.subject, [a for a, _ in sent.to]) == ("Your place is booked: Being included", ["ann@example.org"])
        assert emulator.backend.mail.sent(emulator.backend.sender) == []
