"""The public surfaces other code builds on: a name added or dropped here is a decision, not an accident."""

from __future__ import annotations

import graph_client
import graph_emulator
import graph_emulator.testing


def test_graph_client_exports() -> None:
    assert sorted(graph_client.__all__) == sorted([
        "MAX_BATCH", "SYSTEM_FIELDS", "AccessTokenSource", "Attachment", "Attendee", "AuthenticationError",
        "BadRequestError", "BatchRequest",
        "BatchResponse", "CallRecord", "Column", "ConflictError", "DeltaResult", "Directory", "FieldUpdate",
        "ForbiddenError",
        "GoneError", "GraphClient", "GraphError", "GraphResponseError", "GraphTransportError", "Group",
        "InvalidResponseError", "Invitation", "ListInfo", "ListItem", "Mail", "ManagedIdentityCredential", "Message",
        "MsalCredential",
        "NotFoundError", "OnlineMeeting", "OnlineMeetings", "OutgoingMail", "Page", "PreconditionFailedError",
        "RetryPolicy", "ServiceError", "SharePointLists", "Site", "Subscription", "Subscriptions", "ThrottledError",
        "TokenError", "User", "etag_key", "graph_time", "header_text", "message_id_for", "next_etag", "observe",
        "odata_string",
        "parse_retry_after", "same_etag", "says_latest", "message_hash"])
    assert all(hasattr(graph_client, name) for name in graph_client.__all__)


def test_every_graph_error_is_a_graph_error() -> None:
    """Callers can catch GraphError and know they caught every failure of a Graph operation."""
    errors = [getattr(graph_client, n) for n in graph_client.__all__ if n.endswith("Error")]
    assert all(issubclass(e, graph_client.GraphError) for e in errors)


def test_emulator_exports() -> None:
    assert sorted(graph_emulator.__all__) == ["ALL_ROLES", "Backend", "EmulatorServer", "FaultRule", "TenantPolicy",
                                             "create_app"]
    assert sorted(graph_emulator.testing.__all__) == ["AsgiTransport", "BackgroundServer", "IN_PROCESS_BASE",
                                                    "InProcessToken", "InProcessTransport"]
