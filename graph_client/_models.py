"""Graph JSON as pydantic models: camelCase on the wire, snake_case in Python.

Hot paths parse raw bytes straight into these (`model_validate_json`), which
is two orders of magnitude faster than msgraph-sdk's generated models.
`fields` stays a plain dict: list columns are the admins' to change, and the
application validates them item by item, so one odd value never fails a page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

__all__ = ["SYSTEM_FIELDS", "BatchEnvelope", "BatchResponse", "Column", "GraphModel", "Invitation", "ListInfo",
           "ListItem", "Message", "Page", "Site", "User", "etag_key", "next_etag", "same_etag"]

# SharePoint's own bookkeeping in a list item's fields: not the list's columns, never read by the service
SYSTEM_FIELDS = frozenset({"id", "ContentType", "Modified", "Created", "AuthorLookupId", "EditorLookupId",
                           "AppAuthorLookupId", "AppEditorLookupId", "Attachments", "Edit", "LinkTitle",
                           "LinkTitleNoMenu", "ItemChildCount", "FolderChildCount", "DocIcon"})

T = TypeVar("T")


class GraphModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class Deleted(GraphModel):
    state: str | None = None


class ListItem(GraphModel):
    """A SharePoint list item; in a delta page, `deleted` marks one that is gone."""

    id: str
    e_tag: str | None = None
    created_date_time: datetime | None = None
    last_modified_date_time: datetime | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    deleted: Deleted | None = None

    @field_validator("fields", mode="after")
    @classmethod
    def _columns_only(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The list's columns (and `@odata` annotations), without SharePoint's bookkeeping (Created, Modified,
        _UIVersionString, ...): the item's own times are `createdDateTime` and `lastModifiedDateTime`. Half an
        item's fields, and so half the memory a page of thousands takes. (`_x0020_...` is a column's encoded name,
        kept.)"""
        return {k: v for k, v in value.items()
                if k not in SYSTEM_FIELDS and not (k.startswith("_") and not k.startswith("_x"))}

    @property
    def is_deleted(self) -> bool:
        return self.deleted is not None

    @property
    def has_fields(self) -> bool:
        """Whether Graph sent the item's `fields` (a delta page need not: then read the item again)."""
        return "fields" in self.model_fields_set

    @property
    def etag(self) -> str | None:
        """The item's eTag, from the item or else from its fields (Graph writes them differently: see etag_key)."""
        value = self.e_tag or self.fields.get("@odata.etag")
        return value if isinstance(value, str) and value else None


def etag_key(value: str | None) -> str | None:
    """An eTag reduced to what identifies the version, so differently written eTags of one version compare equal.

    Graph writes a list item's eTag `"{GUID},3"` (listItem.eTag, as the reference shows) and may write
    `"guid,3"` (its fields' `@odata.etag`); weak (`W/`) and unquoted forms turn up as well.
    """
    if not value:
        return None
    text = value.strip()
    text = text[2:] if text[:2].upper() == "W/" else text
    return text.strip('"').replace("{", "").replace("}", "").casefold() or None


def same_etag(held: str | None, etag: str | None) -> bool:
    """Whether an eTag the caller holds names the version an item is at: the same text (as the mirror keeps
    it, mostly), or the same version written differently (`etag_key`)."""
    return bool(held) and bool(etag) and (held == etag or etag_key(held) == etag_key(etag))


def next_etag(value: str | None) -> str | None:
    """The eTag a list item has after one update of the version `value` names: SharePoint numbers an item's
    versions, `"{GUID},7"` then `"{GUID},8"`. Our writes are conditional on the eTag we read, so after one
    succeeds the item is at the next version, unless someone wrote after us (then its eTag is further on, and
    it reads as their change). None for an eTag not in that form."""
    if not value:
        return None
    head, comma, version = value.strip().rstrip('"').rpartition(",")
    if not comma or not version.isdigit():
        return None
    return f'{head},{int(version) + 1}"' if value.strip().endswith('"') else f"{head},{int(version) + 1}"


class Page(GraphModel, Generic[T]):
    """One page of a collection; at most one of the two links is set."""

    value: list[T] = Field(default_factory=list)
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    delta_link: str | None = Field(default=None, alias="@odata.deltaLink")


class Site(GraphModel):
    id: str
    name: str | None = None
    display_name: str | None = None
    web_url: str | None = None


class Column(GraphModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    id: str | None = None
    name: str
    display_name: str | None = None


class ListInfo(GraphModel):
    id: str
    name: str | None = None
    display_name: str
    web_url: str | None = None
    columns: list[Column] | None = None


class BatchResponse(GraphModel):
    """One answer inside a `$batch` answer."""

    id: str
    status: int
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def modified_meanwhile(self) -> bool:
        """Whether a conditional write met a newer version of the resource: 412 (the If-Match failed), or the
        409 `resourceModified` reported for the same thing on list item PATCHes (read it again, decide again)."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return self.status == 412 or (self.status == 409 and str(code).casefold() == "resourcemodified")


class BatchEnvelope(GraphModel):
    responses: list[BatchResponse]


class User(GraphModel):
    """A directory user (a member of the tenant or a guest)."""

    id: str
    display_name: str | None = None
    mail: str | None = None
    user_principal_name: str | None = None
    user_type: str | None = None
    external_user_state: str | None = None
    other_mails: list[str] = Field(default_factory=list)


class Group(GraphModel):
    id: str
    display_name: str | None = None


class InvitedUser(GraphModel):
    id: str


class Invitation(GraphModel):
    """The answer to POST /invitations: the guest user it made (or found) and the link that redeems it."""

    id: str | None = None
    invited_user_email_address: str | None = None
    invite_redeem_url: str | None = None
    status: str | None = None
    invited_user: InvitedUser


class Message(GraphModel):
    """A message in a mailbox folder (here: the sender's Sent Items), as much as this service reads."""

    id: str
    subject: str | None = None
    internet_message_id: str | None = None
    sent_date_time: datetime | None = None
