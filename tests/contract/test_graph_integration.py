"""The real msal and Graph client paths against the emulator over loopback HTTPS."""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict

import pytest

from config import Settings
from graph_client import (
    FieldUpdate,
    GraphClient,
    MsalCredential,
    PreconditionFailedError,
    SharePointLists,
    TokenError,
)
from graph_emulator import EmulatorServer


def make_list(lists: SharePointLists, name: str = "Registrations") -> str:
    return lists.create_list(name, [{"name": "Email", "text": {}}, {"name": "Capacity", "number": {}}]).id


class TestAuthentication:
    def test_a_wrong_secret_is_refused_with_entras_code(self, settings: Settings) -> None:
        """The error names invalid_client and AADSTS7000215, and never shows the secret."""
        bad = dataclasses.replace(_credential(settings), client_secret="not-the-secret")
        with pytest.raises(TokenError) as caught:
            bad.get_token()
        assert (caught.value.error, caught.value.aadsts) == ("invalid_client", "AADSTS7000215")
        assert "not-the-secret" not in str(caught.value)

    def test_an_expired_token_is_replaced_once(self, emulator: EmulatorServer, graph: GraphClient,
                                               lists: SharePointLists) -> None:
        make_list(lists)
        emulator.backend.identity.expire_all()
        assert list(lists.iter_items("Registrations")) == []
        assert graph.stats["token_refreshes_on_401"] == 1

    def test_a_certificate_credential_works(self, emulator: EmulatorServer, settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
        pem = _self_signed_pem()
        (tmp_path / "app.pem").write_bytes(pem)
        emulator.backend.identity.add_certificate(pem)
        credential = dataclasses.replace(_credential(settings), client_secret=None,
                                         certificate_path=tmp_path / "app.pem")
        assert credential.get_token().startswith("eyJ")  # a JWT, as Entra's are


class TestLists:
    def test_items_round_trip_with_fields(self, lists: SharePointLists) -> None:
        list_id = make_list(lists)
        created = lists.create_item(list_id, {"Title": "Ann", "Email": "ann@example.org", "Capacity": 3})
        read = lists.get_item(list_id, created.id)
        assert (read.fields["Title"], read.fields["Email"], read.fields["Capacity"]) == ("Ann", "ann@example.org", 3.0)
        assert read.e_tag and read.created_date_time is not None

    def test_batched_updates_write_each_item_and_honour_etags(self, lists: SharePointLists) -> None:
        """A stale eTag gets 412 for that item only; the others are written."""
        list_id = make_list(lists)
        items = [lists.create_item(list_id, {"Title": f"P{i}"}) for i in range(25)]
        stale = items[3].e_tag
        lists.update_fields(list_id, [FieldUpdate(items[3].id, {"Title": "changed by an admin"})])
        answers = lists.update_fields(list_id, [FieldUpdate(i.id, {"Email": f"p{n}@example.org"}, i.e_tag
                                                            if n == 3 else None) for n, i in enumerate(items)])
        assert sum(a.ok for a in answers.values()) == 24
        assert answers[items[3].id].status == 412
        with pytest.raises(PreconditionFailedError):
            lists.client.raise_for_entry("update", answers[items[3].id])
        assert stale != lists.get_item(list_id, items[3].id).e_tag

    def test_delta_reports_changes_and_deletions_once(self, lists: SharePointLists) -> None:
        list_id = make_list(lists)
        items = [lists.create_item(list_id, {"Title": f"P{i}"}) for i in range(5)]
        first = lists.delta(list_id, None)
        assert first.full and sorted(first.changed) == sorted(i.id for i in items)
        lists.update_fields(list_id, [FieldUpdate(items[0].id, {"Title": "renamed"})])
        lists.delete_item(list_id, items[1].id)
        new = lists.create_item(list_id, {"Title": "late"})
        second = lists.delta(list_id, first.delta_link)
        assert not second.full
        assert sorted(second.changed) == sorted([items[0].id, new.id])
        assert second.changed[items[0].id].fields["Title"] == "renamed"
        assert second.deleted == {items[1].id}
        third = lists.delta(list_id, second.delta_link)
        assert (third.changed, third.deleted) == ({}, set())

    def test_a_delta_link_graph_no_longer_honours_restarts_in_full(self, emulator: EmulatorServer,
                                                                    lists: SharePointLists) -> None:
        list_id = make_list(lists)
        lists.create_item(list_id, {"Title": "one"})
        first = lists.delta(list_id, None)
        emulator.backend.sharepoint.expire_delta_links(emulator.backend.site.id)
        again = lists.delta(list_id, first.delta_link)
        assert again.full and list(again.changed) == ["1"]


@pytest.mark.slow
def test_2500_items_read_exactly_once_through_heavy_throttling(emulator: EmulatorServer, lists: SharePointLists,
                                                               graph: GraphClient) -> None:
    """30% of requests get 429 (Retry-After 1 s), 5% get 503: paging and delta still read every item once,
    and no request is retried sooner than its Retry-After."""
    list_id = make_list(lists)
    for n in range(2500):
        emulator.backend.sharepoint.create_item(emulator.backend.site.id, list_id, {"Title": f"Person {n}"})
    lists.page_size = 200
    emulator.backend.log.clear()
    emulator.add_fault(status=429, rate=0.30, retry_after=1, path="/items")
    emulator.add_fault(status=503, rate=0.05 / 0.70, retry_after=1, path="/items")  # 5% of all requests

    paged = [item.id for item in lists.iter_items(list_id)]
    delta = lists.delta(list_id, None)

    assert sorted(paged, key=int) == [str(n) for n in range(1, 2501)] and len(paged) == 2500
    assert sorted(delta.changed, key=int) == [str(n) for n in range(1, 2501)]
    entries = emulator.backend.log.snapshot()
    refused = [e for e in entries if e.status in (429, 503)]
    assert len(refused) >= 5  # the faults really happened
    by_url: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    for entry in entries:
        by_url[entry.path].append(entry)
    for url, tries in by_url.items():
        for earlier, later in itertools.pairwise(tries):
            if earlier.retry_after:
                assert later.at - earlier.at >= earlier.retry_after, f"retried {url} too soon"


def _credential(settings: Settings) -> MsalCredential:
    return MsalCredential(settings.authority_host, settings.tenant_id, settings.client_id,
                          settings.client_secret.get_secret_value() if settings.client_secret else None,
                          ca_bundle=settings.ca_bundle)


def _self_signed_pem() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coprod app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)


def test_the_client_runs_in_process_against_the_emulator_too() -> None:
    """The in-process recipe of docs/emulator.md: no socket, no TLS, the same client code and the same answers."""
    from graph_emulator import Backend
    from graph_emulator.testing import IN_PROCESS_BASE, InProcessToken, InProcessTransport

    backend = Backend()
    with GraphClient(f"{IN_PROCESS_BASE}/v1.0", InProcessToken(backend),
                     transport=InProcessTransport(backend)) as graph:
        lists = SharePointLists(graph, backend.site.id)
        list_id = make_list(lists)
        lists.create_item(list_id, {"Title": "Ann", "Capacity": 2})
        backend.identity.expire_all()  # a stale token is refreshed in-process as over HTTPS
        first, = lists.deltas([(list_id, None, "people")])
        assert [i.fields["Title"] for i in first.changed.values()] == ["Ann"]
        assert graph.stats["token_refreshes_on_401"] == 1
