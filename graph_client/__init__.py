"""All Microsoft Graph I/O: tokens (msal), one retry owner, paging, delta, `$batch`, typed operations.

Imports only `config` (for `GraphClient.from_settings`), never the application.
"""

from graph_client._auth import AccessTokenSource, MsalCredential
from graph_client._client import MAX_BATCH, BatchRequest, GraphClient
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
from graph_client._lists import DeltaResult, FieldUpdate, SharePointLists
from graph_client._models import BatchResponse, Column, ListInfo, ListItem, Page, Site
from graph_client._retry import RetryPolicy, parse_retry_after

__all__ = [
    "MAX_BATCH",
    "AccessTokenSource",
    "AuthenticationError",
    "BadRequestError",
    "BatchRequest",
    "BatchResponse",
    "Column",
    "ConflictError",
    "DeltaResult",
    "FieldUpdate",
    "ForbiddenError",
    "GoneError",
    "GraphClient",
    "GraphError",
    "GraphResponseError",
    "GraphTransportError",
    "InvalidResponseError",
    "ListInfo",
    "ListItem",
    "MsalCredential",
    "NotFoundError",
    "Page",
    "PreconditionFailedError",
    "RetryPolicy",
    "ServiceError",
    "SharePointLists",
    "Site",
    "ThrottledError",
    "TokenError",
    "parse_retry_after",
]
