"""All Microsoft Graph I/O: tokens (msal), one retry owner, paging, delta, `$batch`, typed operations.

Imports only `config` (for `GraphClient.from_settings`), never the application.
"""

from graph_client._auth import AccessTokenSource, ManagedIdentityCredential, MsalCredential
from graph_client._client import MAX_BATCH, BatchRequest, GraphClient
from graph_client._directory import Directory, odata_string
from graph_client._errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    GraphError,
    GraphResponseError,
    GraphTransportError,
    InvalidResponseError,
    NotFoundError,
    PreconditionFailedError,
    ServiceError,
    ThrottledError,
    TokenError,
)
from graph_client._lists import DeltaResult, FieldUpdate, SharePointLists, says_latest
from graph_client._mail import Attachment, Mail, OutgoingMail, header_text, message_hash, message_id_for
from graph_client._meetings import Attendee, OnlineMeeting, OnlineMeetings, graph_time
from graph_client._models import (
    SYSTEM_FIELDS,
    BatchResponse,
    Column,
    Group,
    Invitation,
    ListInfo,
    ListItem,
    Message,
    Page,
    Site,
    User,
    etag_key,
    next_etag,
    same_etag,
)
from graph_client._observe import CallRecord, observe
from graph_client._retry import RetryPolicy, parse_retry_after
from graph_client._subscriptions import Subscription, Subscriptions

__all__ = [
    "MAX_BATCH",
    "SYSTEM_FIELDS",
    "AccessTokenSource",
    "Attachment",
    "Attendee",
    "AuthenticationError",
    "BadRequestError",
    "BatchRequest",
    "BatchResponse",
    "CallRecord",
    "Column",
    "ConflictError",
    "DeltaResult",
    "Directory",
    "FieldUpdate",
    "ForbiddenError",
    "GoneError",
    "GraphClient",
    "GraphError",
    "GraphResponseError",
    "GraphTransportError",
    "Group",
    "InvalidResponseError",
    "Invitation",
    "ListInfo",
    "ListItem",
    "Mail",
    "ManagedIdentityCredential",
    "Message",
    "MsalCredential",
    "NotFoundError",
    "OnlineMeeting",
    "OnlineMeetings",
    "OutgoingMail",
    "Page",
    "PreconditionFailedError",
    "RetryPolicy",
    "ServiceError",
    "SharePointLists",
    "Site",
    "Subscription",
    "Subscriptions",
    "ThrottledError",
    "TokenError",
    "User",
    "etag_key",
    "graph_time",
    "header_text",
    "message_hash",
    "message_id_for",
    "next_etag",
    "observe",
    "odata_string",
    "parse_retry_after",
    "same_etag",
    "says_latest",
]
