"""Email and change notifications: one email to COPROD_ADMIN_EMAIL found again in Sent Items, and a subscription's
validation round trip through the service's own /api/notifications.

- user-sendmail: sent as MIME (the service's every email is), 202 Accepted, "it does not indicate that the request
  processing has completed", and the message is saved in Sent Items. So the email is looked for there, by the
  Message-ID the service set (`message_id_for`), every POLL seconds for up to `mail_wait`: that is how the outbox
  checks an interrupted send before ever sending it again, which needs Exchange to keep the Message-ID it was
  given (undocumented: this shows it);
- subscription-post-subscriptions: Graph first POSTs `?validationToken=...` to the notificationUrl (and to the
  lifecycleNotificationUrl) and makes the subscription only if the token comes back as text/plain within 10
  seconds. The rehearsal asks exactly as `coprod.realtime.webhooks` does (the service's URL, its clientState), for
  SUBSCRIPTION_HOURS, and removes it at once. The service ignores the notifications of a subscription that is not
  one it keeps, so the rehearsal's change nothing. When the public URL cannot be reached from here at all, Graph
  could not reach it either: the line is skipped, not failed (a rehearsal from a laptop before the app is up).
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import httpx

from coprod.realtime.webhooks import client_state, known, notification_url
from coprod.rehearse._report import Scene, StepError, Unheld, brief
from graph_client import BadRequestError, GraphError, Mail, OutgoingMail, Subscriptions

__all__ = ["POLL", "SUBSCRIPTION_HOURS", "email", "subscription", "unreachable"]

POLL = 2.0  # seconds between looks in Sent Items
SUBSCRIPTION_HOURS = 2  # what the rehearsal's subscription is asked for: one left behind expires by then


def email(scene: Scene, mail_wait: float) -> str:
    services = scene.services
    settings = services.settings
    if not settings.admin_email:
        raise Unheld("not tried: COPROD_ADMIN_EMAIL is not set, and the rehearsal emails nobody else",
                     "set COPROD_ADMIN_EMAIL to a mailbox the team reads (the admins' digest goes there too), then "
                     "run it again")
    mail = Mail(services.graph, settings.sender, sender_name=settings.programme_name)
    key = f"rehearsal:{scene.external_id}"
    message = OutgoingMail(key, (settings.admin_email,), f"{scene.title}: a test email from the service", (
        f"This email was sent by `python -m coprod rehearse`, to check that {settings.programme_name}'s service "
        f"can send from {settings.sender} and find what it sent in that mailbox's Sent Items.\n\n"
        "Nobody else was emailed. You can delete it.\n"))
    try:
        mail.send(message)
    except GraphError as error:
        raise StepError("send", error) from error
    sent = services.clock()
    while True:
        try:
            found = mail.find_sent(key)
        except GraphError as error:
            raise StepError("sent-items", error) from error
        waited = services.clock() - sent
        if found is not None:
            return (f"held: sent from M365_SENDER to COPROD_ADMIN_EMAIL, and found in Sent Items by its Message-ID "
                    f"after {waited:.0f} s")
        if waited >= mail_wait:
            raise Unheld(f"sent (Graph took it), but not in the sending mailbox's Sent Items by its Message-ID after "
                         f"{mail_wait:.0f} s",
                         "Exchange may be slow: run the rehearsal again later. If it is never there, check that "
                         "M365_SENDER is a mailbox (a shared mailbox is fine) that keeps what it sends; if the email "
                         "is there under another Message-ID, the service cannot check an interrupted send, and says "
                         "'may have gone' instead of sending it twice")
        services.sleep(POLL)


def unreachable(scene: Scene) -> str | None:
    """None when COPROD_PUBLIC_URL answers at all (any status) from here; else why not, in a few words."""
    settings = scene.services.settings
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle is not None:  # (a TLS proxy in the way: the one Graph's calls trust)
        import certifi

        verify = ssl.create_default_context(cafile=certifi.where())
        verify.load_verify_locations(cafile=str(settings.ca_bundle))
    try:
        with httpx.Client(timeout=10.0, verify=verify, trust_env=False, follow_redirects=False) as http:
            http.get(f"{settings.public_url.rstrip('/')}/api/health")
    except httpx.HTTPError as error:
        return f"{settings.public_url} did not answer from here ({type(error).__name__})"
    return None


def subscription(scene: Scene) -> str:
    services = scene.services
    found = services.lists.find_list("Sessions")
    if found is None:
        raise Unheld("not tried: the Sessions list is not on the site", "run `python -m coprod provision` first")
    url = notification_url(services.settings.public_url)
    expires = datetime.fromtimestamp(services.clock(), UTC) + timedelta(hours=SUBSCRIPTION_HOURS)
    subscriptions = Subscriptions(services.graph)
    try:
        made = subscriptions.create(f"sites/{services.lists.site_id}/lists/{found.id}", url,
                                    client_state(services.signer), expires, lifecycle_url=url)
    except BadRequestError as error:
        raise Unheld(f"Graph did not make it ({brief(error)})",
                     f"the function app must answer Graph's check of {url} (its validationToken, echoed as plain "
                     "text within 10 seconds): check the app is running and that COPROD_PUBLIC_URL is its address "
                     "(`azd up` prints it), then run it again") from error
    scene.made.add("subscriptions", made.id)
    ours = {str(record.get("id")) for record in known(services.store).values() if isinstance(record, dict)}
    if made.id not in ours:  # (the service's own renewal took it meanwhile: it is a working one, and stays)
        subscriptions.delete(made.id)
    scene.made.drop("subscriptions", made.id)
    return f"held: Graph checked that {url} answers its validation request, and made the subscription (now removed)"
