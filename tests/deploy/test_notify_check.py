"""`python -m coprod check`, its GOV.UK Notify step: the key proved by reading the service's templates, and each
template id set found, of the right type, with the placeholders the service fills; a cross names the setting. Against
the stand-in for Notify's API (tests/support/notify_fake.py). It sends nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from config import LISTS, Settings
from coprod.check import Preflight
from coprod.check._notify import check_notify
from coprod.check._report import FAIL, OFF, OK
from coprod.cli import main
from graph_emulator import EmulatorServer
from tests.support.notify_fake import NotifyFake


@pytest.fixture
def notify() -> Iterator[NotifyFake]:
    with NotifyFake() as fake:
        yield fake


def configured(settings: Settings, notify: NotifyFake, **templates: str) -> Settings:
    return settings.model_copy(update={"notify_api_key": SecretStr(notify.api_key), "notify_base_url": notify.url,
                                       **templates})


def findings(settings: Settings) -> list[tuple[str, str, str, str]]:
    report = Preflight()
    check_notify(report, settings)
    return [(f.mark, f.what, f.said, f.fix) for f in report.findings]


def test_without_a_key_the_step_says_texts_and_letters_are_off(settings: Settings, notify: NotifyFake) -> None:
    assert findings(settings) == [(OFF, "GOV.UK Notify", "off (COPROD_NOTIFY_API_KEY is not set): people booked by "
                                  "phone or post are on the team's daily list, as they always were", "")]
    assert notify.state.log == []


def test_both_templates_found_with_their_placeholders(settings: Settings, notify: NotifyFake) -> None:
    sms = notify.add_template("sms", "((message))", name="Co-production text")
    letter = notify.add_template("letter", "((body))", "((subject))", name="Co-production letter")
    notify.add_template("email", "((anything))")
    found = findings(configured(settings, notify, notify_sms_template_id=sms, notify_letter_template_id=letter))
    assert found == [
        (OK, "GOV.UK Notify", "the key works (the service has 3 templates)", ""),
        (OK, "GOV.UK Notify, the text template", "'Co-production text', with ((message))", ""),
        (OK, "GOV.UK Notify, the letter template", "'Co-production letter', with ((subject)) and ((body))", "")]
    assert [s.operation for s in notify.state.log] == ["templates"] and notify.state.sent == []


def test_a_template_of_the_wrong_type_missing_or_with_other_placeholders_is_named(settings: Settings,
                                                                                   notify: NotifyFake) -> None:
    letter = notify.add_template("letter", "Dear ((name)),\n\n((body))", "((subject))", name="Old letter")
    email = notify.add_template("email", "((message))", "Hi", name="An email")
    found = findings(configured(settings, notify, notify_sms_template_id=email, notify_letter_template_id=letter))
    assert found[1] == (FAIL, "GOV.UK Notify, the text template", "'An email' is a email template, not a text template",
                        "set COPROD_NOTIFY_SMS_TEMPLATE_ID to the id of a text template; docs/notify.md says how to "
                        "make it")
    assert found[2][:3] == (FAIL, "GOV.UK Notify, the letter template",
                            "'Old letter': the service does not fill ((name))")
    assert "COPROD_NOTIFY_LETTER_TEMPLATE_ID" in found[2][3]
    bare = notify.add_template("sms", "Hello", name="Bare text")
    gone = "f33517ff-2a88-4f6e-b855-c550268ce08a"
    found = findings(configured(settings, notify, notify_sms_template_id=bare, notify_letter_template_id=gone))
    assert found[1][:3] == (FAIL, "GOV.UK Notify, the text template", "'Bare text': it has no ((message))")
    assert found[2] == (FAIL, "GOV.UK Notify, the letter template", "no template of the service has this id",
                        "copy the letter template's id from its page in Notify into COPROD_NOTIFY_LETTER_TEMPLATE_ID; "
                        "docs/notify.md says how to make it")


def test_a_text_template_alone_leaves_letters_off(settings: Settings, notify: NotifyFake) -> None:
    sms = notify.add_template("sms", "((message))", name="Text")
    found = findings(configured(settings, notify, notify_sms_template_id=sms))
    assert [f[0] for f in found] == [OK, OK, OFF]
    assert found[2][2] == ("off (COPROD_NOTIFY_LETTER_TEMPLATE_ID is not set): people who chose post are on the "
                           "team's daily list")


def test_a_refused_key_names_the_setting_and_shows_no_part_of_it(settings: Settings, notify: NotifyFake) -> None:
    sms = notify.add_template("sms", "((message))")
    wrong = f"coprod_tests-{notify.state.service_id}-00000000-0000-4000-8000-000000000000"
    found = findings(configured(settings, notify, notify_sms_template_id=sms).model_copy(
        update={"notify_api_key": SecretStr(wrong)}))
    [(mark, what, said, fix)] = found
    assert (mark, what, said) == (FAIL, "GOV.UK Notify", "the key was refused (403: AuthError: Invalid token: API key "
                                                         "not found)")
    assert fix.startswith("check COPROD_NOTIFY_API_KEY: a live key") and "00000000-0000" not in said + fix


def test_notify_out_of_reach_names_the_base_url(settings: Settings, notify: NotifyFake) -> None:
    sms = notify.add_template("sms", "((message))")
    unreachable = configured(settings, notify, notify_sms_template_id=sms).model_copy(
        update={"notify_base_url": "http://127.0.0.1:9"})
    [(mark, _, said, fix)] = findings(unreachable)
    assert (mark, said) == (FAIL, "not reached (no answer: no answer)") and "COPROD_NOTIFY_BASE_URL" in fix


def test_the_command_shows_the_step_after_the_tenant_s(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                       emulator: EmulatorServer, notify: NotifyFake,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    sms = notify.add_template("sms", "((message))", name="Text")
    letter = notify.add_template("letter", "((body))", "((subject))", name="Letter")
    for key, value in (env | {"COPROD_NOTIFY_API_KEY": notify.api_key, "COPROD_NOTIFY_BASE_URL": notify.url,
                              "COPROD_NOTIFY_SMS_TEMPLATE_ID": sms,
                              "COPROD_NOTIFY_LETTER_TEMPLATE_ID": letter}).items():
        monkeypatch.setenv(key, value)
    assert main(["provision"]) == 0
    for schema in LISTS:
        emulator.backend.sharepoint.create_item(emulator.backend.site.id, schema.display_name, {"Title": "A row"})
    capsys.readouterr()
    assert main(["check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-4:] == ["✓ GOV.UK Notify: the key works (the service has 2 templates)",
                          "✓ GOV.UK Notify, the text template: 'Text', with ((message))",
                          "✓ GOV.UK Notify, the letter template: 'Letter', with ((subject)) and ((body))",
                          "All 32 checks passed."]
    assert notify.state.api_key not in "\n".join(lines) and notify.state.secret not in "\n".join(lines)
