"""The preflight's GOV.UK Notify step: the key, and the two templates the service fills (docs/notify.md).

With COPROD_NOTIFY_API_KEY set, Notify's list of the service's templates is read (`get_all_templates`: a read, and
proof the key works); each template id set is looked for in it, of the right type (a text template for
COPROD_NOTIFY_SMS_TEMPLATE_ID, a letter template for COPROD_NOTIFY_LETTER_TEMPLATE_ID), holding the placeholders the
service fills and no other (Notify refuses a message that leaves one of a template's placeholders unfilled). It sends
nothing. Without the key, the step says that texts and letters are off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from config import Settings
from coprod.check._report import FAIL, OFF, OK, Preflight
from coprod.notify.client import KeyRefused, Notify, NotifyError, Template

__all__ = ["PLACEHOLDERS", "check_notify"]

WHAT = "GOV.UK Notify"
# setting, Notify's template type, what it sends, the placeholders the service fills
PLACEHOLDERS = (("COPROD_NOTIFY_SMS_TEMPLATE_ID", "notify_sms_template_id", "sms", "text", ("message",)),
                ("COPROD_NOTIFY_LETTER_TEMPLATE_ID", "notify_letter_template_id", "letter", "letter",
                 ("subject", "body")))
ADDRESS = re.compile(r"address_line_[1-7]|postcode")  # a letter's address: Notify's own placeholders
_PLACEHOLDER = re.compile(r"\(\(([^()]+?)\)\)")
_GUIDE = "docs/notify.md says how to make it"


def check_notify(report: Preflight, settings: Settings, open_notify: Callable[[Settings], Any] = Notify) -> None:
    """The key and the templates, on lines of their own: a cross names the setting to fix."""
    if settings.notify_api_key is None:
        report.add(OFF, WHAT, "off (COPROD_NOTIFY_API_KEY is not set): people booked by phone or post are on the "
                              "team's daily list, as they always were")
        return
    try:
        with open_notify(settings) as notify:
            templates: list[Template] = notify.templates()
    except KeyRefused as error:
        report.add(FAIL, WHAT, f"the key was refused ({error.status}: {error.words})",
                   "check COPROD_NOTIFY_API_KEY: a live key of the Notify service (API integration, API keys), not "
                   "revoked, copied whole; and that this machine's clock is right (Notify allows 30 seconds)")
        return
    except NotifyError as error:
        report.add(FAIL, WHAT, f"not reached ({error.status or 'no answer'}: {error.words})",
                   "check COPROD_NOTIFY_BASE_URL (https://api.notifications.service.gov.uk) and the network; then "
                   "try again")
        return
    report.add(OK, WHAT, f"the key works (the service has {len(templates)} templates)")
    by_id = {t.id: t for t in templates}
    for setting, field, kind, noun, ours in PLACEHOLDERS:
        template_id = getattr(settings, field)
        what = f"{WHAT}, the {noun} template"
        if not template_id:
            report.add(OFF, what, f"off ({setting} is not set): people who chose "
                                  f"{'the phone' if kind == 'sms' else 'post'} are on the team's daily list")
            continue
        template = by_id.get(template_id)
        if template is None:
            report.add(FAIL, what, "no template of the service has this id",
                       f"copy the {noun} template's id from its page in Notify into {setting}; {_GUIDE}")
        elif template.type != kind:
            report.add(FAIL, what, f"'{template.name}' is a {template.type} template, not a {noun} template",
                       f"set {setting} to the id of a {noun} template; {_GUIDE}")
        else:
            _placeholders(report, what, setting, template, ours)


def _placeholders(report: Preflight, what: str, setting: str, template: Template, ours: tuple[str, ...]) -> None:
    found = set(_PLACEHOLDER.findall(f"{template.subject} {template.body}"))
    missing = [f"(({name}))" for name in ours if name not in found]
    unknown = sorted(f"(({name}))" for name in found - set(ours) if not ADDRESS.fullmatch(name))
    if missing or unknown:
        said = "; ".join(([f"it has no {' or '.join(missing)}"] if missing else []) +
                         ([f"the service does not fill {', '.join(unknown)}"] if unknown else []))
        report.add(FAIL, what, f"'{template.name}': {said}",
                   f"edit the template in Notify (or set {setting} to another): {_GUIDE}")
        return
    report.add(OK, what, f"'{template.name}', with {' and '.join(f'(({name}))' for name in ours)}")
