"""`python -m coprod check`: the preflight an IT admin runs after deploying. Against the emulator over HTTPS: healthy,
then with permissions withdrawn, a tenant policy off, a Sites.Selected grant too small, a 403 from the faults API,
a wrong credential or id; each cross names the permission, policy or setting to fix. It changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import LISTS, load_settings
from coprod.check import check_tenant
from coprod.cli import main
from coprod.permissions import STEPS, needs
from graph_emulator import ALL_ROLES, EmulatorServer

NAMES = [schema.display_name for schema in LISTS]  # every list the service keeps


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], emulator: EmulatorServer,
           capsys: pytest.CaptureFixture[str]) -> Iterator[EmulatorServer]:
    """A provisioned tenant with an item in every list (so writing can be shown), the settings in the env."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["provision"]) == 0
    sp, site = emulator.backend.sharepoint, emulator.backend.site.id
    for name in NAMES:
        sp.create_item(site, name, {"Title": f"A {name} row"})
    capsys.readouterr()
    yield emulator


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["check"])
    return code, capsys.readouterr().out.splitlines()


def crosses(lines: list[str]) -> dict[str, str]:
    """Each crossed check: its line, then its fix (the next line)."""
    return {line: lines[n + 1] for n, line in enumerate(lines) if line.startswith("✗ ")}


def withdraw(emulator: EmulatorServer, *roles: str) -> None:
    emulator.backend.identity.set_roles([r for r in ALL_ROLES if r not in roles])
    emulator.backend.identity.expire_all()


def test_a_healthy_tenant_passes_every_check(tenant: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(capsys)
    assert code == 0
    assert lines[-1] == "All 29 checks passed."
    assert not crosses(lines) and not [line for line in lines if line.startswith("– ")]
    assert ("✓ Access token: issued; it carries 11 application permissions: GroupMember.ReadWrite.All, "
            "Mail.Read, Mail.ReadBasic.All, Mail.Send, OnlineMeetingArtifact.Read.All, OnlineMeetings.ReadWrite.All, "
            "Sites.Manage.All, Sites.ReadWrite.All, User.DeleteRestore.All, User.Invite.All, User.Read.All") in lines
    assert ("✓ Registrations list, writing: allowed (an update on a condition no item meets was turned down for "
            "that condition; nothing changed)") in lines
    assert ("✓ Teams meetings: the app may act for the organiser (a Teams application access policy covers "
            "them)") in lines


def test_the_check_changes_nothing(tenant: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    backend = tenant.backend
    def versions() -> dict[str, list[tuple[int, str]]]:
        return {name: [(n, item.etag) for n, item in backend.sharepoint.get_list(backend.site.id, name).items.items()]
                for name in NAMES}

    before = versions()
    backend.log.clear()
    assert check(capsys)[0] == 0
    writes = [(e.method, e.operation, e.status) for e in backend.log.snapshot() if e.method not in ("GET", "HEAD")]
    assert len(writes) == len(NAMES) and {(method, status) for method, _, status in writes} == {("PATCH", 412)}
    assert versions() == before
    assert backend.mail.sent(backend.sender) == [] and backend.directory.invitations == []


def test_two_permissions_withdrawn_are_named_with_their_fix(tenant: EmulatorServer,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    withdraw(tenant, "Mail.ReadBasic.All", "Mail.Read", "GroupMember.ReadWrite.All")  # (Mail.Read includes it)
    code, lines = check(capsys)
    assert code == 1
    failed = crosses(lines)
    assert [line.split(":")[0] for line in failed] == ["✗ Sent Items", "✗ Guest group"]
    sent_items = next(fix for line, fix in failed.items() if line.startswith("✗ Sent Items"))
    assert sent_items.startswith("    Fix: The app's identity needs the Mail.ReadBasic.All application "
                                 "permission, on the sending mailbox alone: with Exchange RBAC for Applications, "
                                 "the role 'Application Mail.ReadBasic' scoped to that mailbox")
    group = next(fix for line, fix in failed.items() if line.startswith("✗ Guest group"))
    assert "GroupMember.ReadWrite.All" in group
    assert lines[-1].startswith(f"{len(failed)} of ") and "checks failed" in lines[-1]


def test_a_permission_that_cannot_be_shown_by_a_read_is_read_from_the_token(
        tenant: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    withdraw(tenant, "Mail.Send", "User.Invite.All")
    code, lines = check(capsys)
    assert code == 1
    failed = crosses(lines)
    assert set(failed) == {"✗ Sending: the token carries no Mail.Send, nor a permission that includes it",
                           "✗ Guest invitations: the token carries no User.Invite.All, nor a permission that "
                           "includes it"}
    assert failed["✗ Sending: the token carries no Mail.Send, nor a permission that includes it"].startswith(
        "    Fix: The app's identity needs the Mail.Send application permission")


def test_without_the_teams_policy_the_fix_is_the_policy(tenant: EmulatorServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    tenant.backend.tenant.update({"teams_policy": False})
    code, lines = check(capsys)
    [(line, fix)] = crosses(lines).items()
    assert code == 1 and line.startswith("✗ Teams meetings: refused (403 General, request-id ")
    assert "New-CsApplicationAccessPolicy" in fix and "Grant-CsApplicationAccessPolicy" in fix


def test_a_sites_selected_read_grant_shows_that_writing_is_refused(tenant: EmulatorServer, env: dict[str, str],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    backend = tenant.backend
    backend.sharepoint.grant(backend.site.id, {"roles": ["read"], "grantedToIdentities": [
        {"application": {"id": env["M365_CLIENT_ID"], "displayName": "Co-production sync"}}]})
    withdraw(tenant, "Sites.ReadWrite.All", "Sites.Manage.All")
    backend.identity.set_roles([*backend.identity.roles, "Sites.Selected"])
    code, lines = check(capsys)
    failed = crosses(lines)
    assert code == 1
    assert sorted(line.split(":")[0] for line in failed) == sorted(
        f"✗ {name} list, writing" for name in NAMES)
    assert all("a write grant on the site" in fix for fix in failed.values())
    assert "✓ Sessions list: found, with every column the service uses; items can be read" in lines
    assert any(line.startswith("! Provisioning: the token carries no Sites.Manage.All") for line in lines)


def test_a_403_from_the_faults_api_is_named(tenant: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    tenant.add_fault(status=403, path=r"^/groups/", code="Authorization_RequestDenied")
    code, lines = check(capsys)
    [(line, fix)] = crosses(lines).items()
    assert code == 1 and line.startswith("✗ Guest group: refused (403 Authorization_RequestDenied, request-id ")
    assert "GroupMember.ReadWrite.All" in fix


def test_a_wrong_secret_stops_at_the_token_and_says_what_to_check(
        tenant: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("M365_CLIENT_SECRET", "an-old-secret-value-that-expired")
    code, lines = check(capsys)
    assert code == 1
    [(line, fix)] = crosses(lines).items()
    assert line.startswith("✗ Access token: get an access token: the token authority refused: invalid_client")
    assert "M365_CLIENT_ID" in fix and "AADSTS7000215" in fix
    assert lines[-2] == "– Everything else: not checked: nothing can be read from Microsoft 365 without a token"
    assert "an-old-secret-value" not in "\n".join(lines)


@pytest.mark.parametrize(("variable", "what"), [("M365_SITE_ID", "SharePoint site"),
                                                ("M365_ORGANIZER_ID", "Meeting organiser"),
                                                ("M365_GUEST_GROUP_ID", "Guest group"),
                                                ("M365_SENDER", "Sending mailbox")])
def test_an_id_that_names_nothing_is_named(tenant: EmulatorServer, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], variable: str, what: str) -> None:
    wrong = "nobody@council.example.org" if variable == "M365_SENDER" else "00000000-0000-0000-0000-0000000000aa"
    monkeypatch.setenv(variable, wrong)
    code, lines = check(capsys)
    failed = crosses(lines)
    line = next(line for line in failed if line.startswith(f"✗ {what}:"))
    assert code == 1 and "not found (404 " in line and failed[line].startswith(f"    Fix: {variable} names no ")


def test_a_missing_column_says_to_provision(tenant: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    backend = tenant.backend
    columns = backend.sharepoint.get_list(backend.site.id, "Updates").columns
    del columns[next(key for key, column in columns.items() if column["name"] == "SendAt")]
    code, lines = check(capsys)
    assert code == 1 and crosses(lines) == {
        "✗ Updates list: missing 1 column: SendAt":
            "    Fix: run `python -m coprod provision` (it adds what is missing and keeps what is there)"}


def test_a_mailbox_scoped_by_exchange_rbac_passes_and_sends(tenant: EmulatorServer,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Least privilege for mail: no tenant-wide Mail.* consent; Exchange RBAC for Applications grants Mail.Send
    and Mail.ReadBasic.All on the sending mailbox alone. Such grants never show in a token, so the check reads
    Sent Items, and says sending can't be shown rather than calling it missing."""
    withdraw(tenant, "Mail.Send", "Mail.ReadBasic.All", "Mail.Read")
    tenant.backend.tenant.update({"exchange_app_roles": ["Mail.Send", "Mail.ReadBasic.All", "Mail.Read"]})
    code, lines = check(capsys)
    assert code == 0 and not crosses(lines)
    assert "✓ Sent Items: readable (an interrupted send is checked there before it is ever sent again)" in lines
    assert any(line.startswith("– Sending: not shown: the mailbox is reached through Exchange RBAC") for line in lines)
    sp, site = tenant.backend.sharepoint, tenant.backend.site.id
    sp.create_item(site, "Subscribers", {"Title": "Sam", "Email": "sam.example@example.org"})
    assert main(["sync", "--once"]) == 0
    assert "Emails: 1 sent" in capsys.readouterr().out  # the confirmation request went, as the scoped mailbox


def test_exchange_rbac_reaches_the_sending_mailbox_only(tenant: EmulatorServer, env: dict[str, str]) -> None:
    import ssl

    import httpx

    from tests.conftest import new_token

    withdraw(tenant, "Mail.Send", "Mail.ReadBasic.All", "Mail.Read")
    tenant.backend.tenant.update({"exchange_app_roles": ["Mail.ReadBasic.All"]})
    with httpx.Client(base_url=tenant.url, verify=ssl.create_default_context(cafile=env["M365_CA_BUNDLE"])) as http:
        new_token(http, env)
        sender = env["M365_SENDER"]
        other = tenant.backend.organizer.user_principal_name
        assert http.get(f"/v1.0/users/{sender}/mailFolders/sentItems/messages").status_code == 200
        assert http.get(f"/v1.0/users/{other}/mailFolders/sentItems/messages").status_code == 403


def test_every_step_of_the_permissions_table_has_a_check(tenant: EmulatorServer, env: dict[str, str]) -> None:
    """`check` walks the table: every step the service takes is shown by at least one line, healthy or not."""
    report = check_tenant(load_settings(env))
    assert [f.step for f in report.findings if f.step and f.mark == "✓"] and not report.failed
    assert {f.step for f in report.findings} - {""} == set(STEPS)


def named(text: str) -> set[str]:
    """The application permissions `text` names (a role such as 'Application Mail.Send' names Mail.Send)."""
    known = set(ALL_ROLES) | {role for step in STEPS.values() for role in step.wider}
    return {role for role in known if re.search(rf"(?<![\w.]){re.escape(role)}(?![\w.])", text)}


@pytest.mark.parametrize("permission", sorted({step.permission for step in STEPS.values()}))
def test_check_names_each_permission_withdrawn_and_nothing_else_with_the_tables_fix(
        tenant: EmulatorServer, capsys: pytest.CaptureFixture[str], permission: str) -> None:
    """Withdrawn (with the wider permissions that would stand in for it), each permission of the table is named by
    `check`, alone, and every fix printed is that step's sentence from the table. An optional one (or
    provisioning's, with the lists in place) is marked `!` and does not fail the check."""
    steps = {name for name, step in STEPS.items() if step.permission == permission}
    wider = {role for name in steps for role in STEPS[name].wider}
    withdraw(tenant, permission, *wider)
    code, lines = check(capsys)
    flagged = [n for n, line in enumerate(lines) if line.startswith(("✗ ", "! "))]
    assert flagged, f"nothing names {permission}"
    fixes = [lines[n + 1] for n in flagged]
    # (a wider permission withdrawn with it may be another step's own: Mail.Read stands in for Mail.ReadBasic.All)
    also = {name for name, step in STEPS.items() if step.permission in wider}
    got = named("\n".join(lines[n] for n in flagged) + "\n".join(fixes))
    assert permission in got and got <= {permission} | {STEPS[name].permission for name in also}
    steps |= also
    assert set(fixes) <= {f"    Fix: {needs(name)[:1].upper()}{needs(name)[1:]}" for name in steps}
    optional = all(lines[n].startswith("! ") for n in flagged)
    assert optional == (permission in ("Sites.Manage.All", "User.DeleteRestore.All", "Mail.Read"))
    assert code == (0 if optional else 1)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def docs_rows() -> list[tuple[str, str, str]]:
    """docs/permissions.md's table of every permission: (feature, the permission, its least privilege)."""
    section = DOCS.read_text().split("## 2. ", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| feature")]
    return [(row[0], re.findall(r"`([^`]+)`", row[1])[0], row[2]) for row in rows]


def test_each_steps_fix_says_what_docs_permissions_md_says() -> None:
    """The fix `check` prints for a step names every least-privilege route the guide makes bold for that
    permission (Sites.Selected, Exchange RBAC for Applications and its role, the Teams policy); the guide lists each
    step's permission, marks the optional ones, and lists no permission the table doesn't have."""
    rows = docs_rows()
    assert {permission for _, permission, _ in rows} == {step.permission for step in STEPS.values()}
    for name, step in STEPS.items():
        mine = [(feature, least) for feature, permission, least in rows if permission == step.permission]
        fix = needs(name).casefold()
        for feature, least in mine:
            bold = [b.replace("`", "") for b in re.findall(r"\*\*(.+?)\*\*", least) if not b.startswith("[")]
            assert [b for b in bold if b.casefold() not in fix] == [], (name, feature)
            assert feature.startswith("**optional:**") == step.optional, (name, feature)
    for name in ("send", "sent-items"):
        assert "exchange rbac for applications" in needs(name).casefold()


def test_the_guides_grant_lists_are_the_tables() -> None:
    """Section 1's PowerShell grants each step's permission tenant-wide except those Exchange RBAC scopes to the
    mailbox (named as the ones to add without it) and the Sites.* ones (Sites.Selected instead); the README's
    short list names them all."""
    text = DOCS.read_text()
    granted = re.search(r"foreach \(\$permission in (.+?)\) \{", text, re.S)
    assert granted
    tenant_wide = {step.permission for step in STEPS.values()
                   if not step.exchange and not step.permission.startswith("Sites.")}
    assert set(re.findall(r'"([^"]+)"', granted[1])) == tenant_wide | {"Sites.Selected"}
    without_rbac = re.search(r"does not use Exchange RBAC for\s+Applications, add (.+?) to the list", text)
    assert without_rbac and set(re.findall(r"`([^`]+)`", without_rbac[1])) == {
        step.permission for step in STEPS.values() if step.exchange}
    readme = (DOCS.parent.parent / "README.md").read_text()
    short = readme.split("In short: ", 1)[1].split("\n\n", 1)[0]
    assert {step.permission for step in STEPS.values()} <= set(re.findall(r"`([^`]+)`", short))


def test_a_mailbox_whose_messages_cannot_be_listed_is_a_cross_for_bounces_not_a_crash(
        tenant: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    """Only a 404 for the message that is not there shows the read is allowed; a 404 listing the mailbox is a cross."""
    tenant.add_fault(status=404, method="GET", path=r"/messages$", code="ErrorItemNotFound")
    code, lines = check(capsys)
    assert code == 1
    assert [line for line in crosses(lines) if line.startswith("✗ Bounces")] == [
        next(line for line in lines if line.startswith("✗ Bounces (non-delivery reports): "))]
