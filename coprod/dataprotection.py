"""Data protection: everything the service holds about one person, in one answer (a subject access request).

`python -m coprod export ADDRESS` prints it as JSON:
- `lists`: every item of the five lists that carries the address, read afresh through Graph (the mirror names
  which; Graph gives the current values), with its list, id and columns;
- `state`: what the state store holds about them: the hand-offs whose key or payload names the address or its
  keyed digest (the form links carry the digest, not the address), and the emails to them in the outbox (kind,
  status, subject, when: not their bodies, which are the emails themselves, in the mailbox's Sent Items);
- `directory`: the Entra accounts with that address (a guest account the service invited, say).

It changes nothing. Erasure and retention (the rest of issue 17) come next.
"""

from __future__ import annotations

import json
from typing import Any

from coprod.lists.fields import normalise_email
from coprod.runtime import Services

__all__ = ["export"]

LISTS = ("Sessions", "Registrations", "GuestRequests", "Subscribers", "Updates")
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "cancelled")


def export(services: Services, typed: str) -> dict[str, Any]:
    """Everything held about the person at `typed` (any case, spaces around: it is normalised)."""
    address = normalise_email(typed)
    if address is None:
        raise ValueError("that isn't an email address the service could hold")
    digest = services.signer.digest(address)
    store = services.store
    found_lists = []
    for name in LISTS:
        ids = [item.item_id for item in store.mirror_items(name)
               if normalise_email(item.fields.get("Email")) == address]
        for item_id, item in services.lists.read_items(name, ids, label=name).items():
            if item is not None:
                found_lists.append({"list": name, "id": item_id, "created": str(item.created_date_time or ""),
                                    "fields": {k: v for k, v in item.fields.items() if not k.startswith("@")}})
    handoffs = [{"key": entry.key, "kind": entry.kind, "status": entry.status, "payload": entry.payload}
                for entry in store.ledger_list()
                if _names(entry.key, address, digest) or _names(json.dumps(entry.payload), address, digest)]
    emails = [{"kind": entry.kind, "status": entry.status, "subject": entry.payload.get("subject"),
               "sent_at": entry.sent_at}
              for status in OUTBOX_STATUSES for entry in store.outbox_list(status, limit=100_000)
              if address in [normalise_email(to) for to in entry.payload.get("to") or ()]]
    accounts = [{"id": user.id, "displayName": user.display_name, "mail": user.mail,
                 "userPrincipalName": user.user_principal_name, "userType": user.user_type,
                 "externalUserState": user.external_user_state}
                for user in services.directory.find_by_address(address)]
    return {"address": address, "lists": found_lists, "state": {"handoffs": handoffs, "emails": emails},
            "directory": accounts}


def _names(text: str, address: str, digest: str) -> bool:
    lowered = text.lower()
    return address in lowered or digest.lower() in lowered
