"""The GOV.UK Notify settings (issue 31): optional, each checked at start-up with a line naming its variable, the key
never shown; and which way each person is told (a text, a letter, or the team's list)."""

from __future__ import annotations

import pytest

from config import SettingsError, load_settings
from tests.unit.test_settings import BASE

SERVICE = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
KEY = f"my_test_key-{SERVICE}-{SECRET}"  # the shape Notify's REST API documentation gives
SMS = "f33517ff-2a88-4f6e-b855-c550268ce08a"
LETTER = "ceb50d92-100d-4b8b-b559-14fa3b091cda"


def test_without_them_nothing_changes() -> None:
    settings = load_settings(BASE)
    assert settings.notify_api_key is None and settings.notify_base_url == "https://api.notifications.service.gov.uk"
    assert [settings.notify_template(how) for how in ("Email", "Phone", "Post")] == [None, None, None]


def test_a_key_and_a_template_say_who_notify_tells() -> None:
    settings = load_settings(BASE | {"COPROD_NOTIFY_API_KEY": f" {KEY}\n", "COPROD_NOTIFY_SMS_TEMPLATE_ID": SMS})
    assert [settings.notify_template(how) for how in ("Email", "Phone", "Post")] == [None, SMS, None]
    assert settings.notify_api_key is not None and settings.notify_api_key.get_secret_value() == KEY  # (trimmed)
    both = load_settings(BASE | {"COPROD_NOTIFY_API_KEY": KEY, "COPROD_NOTIFY_SMS_TEMPLATE_ID": SMS,
                                 "COPROD_NOTIFY_LETTER_TEMPLATE_ID": LETTER.upper()})
    assert both.notify_template("Post") == LETTER.upper()
    assert KEY not in repr(both) + str(both) and SECRET not in repr(both) + str(both)


@pytest.mark.parametrize("key", ["not-a-key", f"{SERVICE}-{SECRET}", f"name-{SERVICE}-{SECRET[:-1]}",
                                 f"name-{SERVICE}-{SECRET}x", f"name-{SERVICE}{SECRET}"])
def test_a_key_of_the_wrong_shape_is_named_and_never_shown(key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_NOTIFY_API_KEY": key, "COPROD_NOTIFY_SMS_TEMPLATE_ID": SMS})
    assert caught.value.variable == "COPROD_NOTIFY_API_KEY"
    assert caught.value.problem.startswith("is not a GOV.UK Notify API key")
    shown = str(caught.value) + repr(caught.value.public_problems)
    assert key not in shown and SECRET[:8] not in shown


def test_a_key_needs_a_template_and_a_template_a_key() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_NOTIFY_API_KEY": KEY})
    assert caught.value.variable == "COPROD_NOTIFY_SMS_TEMPLATE_ID" and "COPROD_NOTIFY_LETTER_TEMPLATE_ID" in str(
        caught.value) and KEY not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_NOTIFY_LETTER_TEMPLATE_ID": LETTER})
    assert caught.value.variable == "COPROD_NOTIFY_API_KEY"
    assert load_settings(BASE | {"COPROD_NOTIFY_EMAIL_TEMPLATE_ID": SMS}).notify_template("Phone") is None  # unused


def test_a_template_id_and_the_url_are_checked() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_NOTIFY_API_KEY": KEY, "COPROD_NOTIFY_SMS_TEMPLATE_ID": "the text one"})
    assert caught.value.problems[0] == ("COPROD_NOTIFY_SMS_TEMPLATE_ID", "is not a Notify template id: copy it from "
                                                                         "the template's page in Notify")
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | {"COPROD_NOTIFY_API_KEY": KEY, "COPROD_NOTIFY_SMS_TEMPLATE_ID": SMS,
                              "COPROD_NOTIFY_BASE_URL": "http://notify.example.org"})
    assert caught.value.problems == (("COPROD_NOTIFY_BASE_URL",
                                      "must start with https:// (plain http is only for localhost)"),)
    local = load_settings(BASE | {"COPROD_NOTIFY_API_KEY": KEY, "COPROD_NOTIFY_SMS_TEMPLATE_ID": SMS,
                                  "COPROD_NOTIFY_BASE_URL": "http://127.0.0.1:8080/"})
    assert local.notify_base_url == "http://127.0.0.1:8080"
