"""The deployment (infra/, azure.yaml) as far as this machine can check it without Azure or a Bicep compiler.

The Bicep is parsed with pycep-parser (a Bicep grammar in Python; Microsoft's compiler is a .NET binary that no
package registry here offers), and then read as data: every setting of the configuration contract reaches the
function app; no key or secret is in an app setting; the identity holds exactly the roles the app uses; the
parameters line up from azd's environment to the module. What it cannot show: that Azure accepts the template
(API versions, property names beyond the grammar), and that a deployment works; see docs/deploy.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import Settings

pycep = pytest.importorskip("pycep", reason="pycep-parser parses the Bicep (requirements-dev.txt)")

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
# Left out on purpose, with the reason the template gives: the managed identity replaces the app credential, and
# nothing stands between the app and Microsoft that would need another CA.
NOT_IN_AZURE = {"M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "M365_CA_BUNDLE"}
ROLES = {  # built-in role definition ids, and why the identity holds each
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner: the Functions host's leases, the package",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor: the Functions host",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor: the state store",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User: the signing key, the ACS string",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher: telemetry with local auth off",
}


def parse(name: str) -> dict[str, Any]:
    return pycep.BicepParser().parse(text=(INFRA / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def main() -> dict[str, Any]:
    return parse("main.bicep")


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return parse("resources.bicep")


def app_settings(resources: dict[str, Any]) -> dict[str, Any]:
    """The function app's settings: the variables that `appSettings` unions, in order (later wins)."""
    union = resources["variables"]["appSettings"]["value"]["function"]
    assert union["type"] == "union"
    merged: dict[str, Any] = {}
    for name in union["parameters"].values():
        if name == "serviceSettings":  # the admin's overrides: a parameter, {} by default
            continue
        merged.update(resources["variables"][name]["value"])
    return merged


def props(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return resources["resources"][name]["config"]  # type: ignore[no-any-return]


def text(node: Any) -> str:
    """A parsed expression as one string, to look for names in it."""
    return json.dumps(node)


def test_every_setting_of_the_contract_reaches_the_function_app(resources: dict[str, Any]) -> None:
    contract = {str(field.validation_alias) for field in Settings.model_fields.values()}
    settings = app_settings(resources)
    assert contract - NOT_IN_AZURE - set(settings) == set()
    assert NOT_IN_AZURE & set(settings) == set()
    loop = props(resources, "functionApp")["properties"]["siteConfig"]["appSettings"]
    assert loop["loop_type"]["detail"]["array_name"] == {"function": {"type": "items",
                                                                      "parameters": {"arg_1": "appSettings"}}}


def test_the_app_runs_on_its_managed_identity_with_no_key_or_secret_in_a_setting(resources: dict[str, Any]) -> None:
    settings = app_settings(resources)
    assert settings["M365_USE_MANAGED_IDENTITY"] == "true"
    assert "identity" in text(settings["M365_CLIENT_ID"]) and "clientId" in text(settings["M365_CLIENT_ID"])
    for secret in ("COPROD_SIGNING_KEY", "COPROD_ACS_CONNECTION_STRING"):
        assert "@Microsoft.KeyVault(" in text(settings[secret]), secret
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in settings  # no connection string with an account key
    assert "https://" in text(settings["COPROD_STATE"]) and ".table." in text(settings["COPROD_STATE"])
    everything = (INFRA / "resources.bicep").read_text(encoding="utf-8")
    assert not re.search(r"listKeys|AccountKey|SharedAccessSignature", everything)
    assert props(resources, "storage")["properties"]["allowSharedKeyAccess"] is False
    assert props(resources, "insights")["properties"]["DisableLocalAuth"] is True
    assert "Authorization=AAD" in text(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])
    site = props(resources, "functionApp")
    assert site["identity"]["type"] == "UserAssigned"
    assert "identity" in text(site["properties"]["keyVaultReferenceIdentity"])
    deployment = site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert deployment["type"] == "UserAssignedIdentity"


def test_a_flex_consumption_python_311_app(resources: dict[str, Any]) -> None:
    plan = props(resources, "plan")
    assert (plan["sku"]["tier"], plan["sku"]["name"], plan["properties"]["reserved"]) == ("FlexConsumption", "FC1",
                                                                                        True)
    site = props(resources, "functionApp")
    assert site["kind"] == "functionapp,linux" and site["properties"]["httpsOnly"] is True
    assert site["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert resources["resources"]["functionApp"]["type"] == "Microsoft.Web/sites"


def test_the_identity_holds_exactly_the_roles_the_app_uses(resources: dict[str, Any]) -> None:
    assignments = {name: r for name, r in resources["resources"].items()
                   if r["type"] == "Microsoft.Authorization/roleAssignments"}
    role_ids = resources["variables"]["roles"]["value"]
    named = [a["config"]["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
             ["operator"]["operands"] for a in assignments.values()]
    assert all(n["operand_1"] == "roles" for n in named)
    granted = {role_ids[n["operand_2"]] for n in named}
    assert granted == set(ROLES)
    assert all("identity" in text(a["config"]["properties"]["principalId"]) for a in assignments.values())


def test_parameters_line_up_from_azd_to_the_module(main: dict[str, Any], resources: dict[str, Any]) -> None:
    file = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    required = {name for name, p in main["parameters"].items() if p.get("default") is None}
    assert required <= set(file), "every parameter without a default comes from the azd environment"
    assert set(file) <= set(main["parameters"])
    passed = set(main["modules"]["resources"]["config"]["params"])
    declared = resources["parameters"]
    assert passed <= set(declared)
    assert {name for name, p in declared.items() if p.get("default") is None} <= passed
    body = (INFRA / "resources.bicep").read_text(encoding="utf-8")
    for name in declared:  # each parameter is used beyond its declaration
        assert len(re.findall(rf"\b{name}\b", body)) >= 2, name
    assert main["parameters"]["signingKey"]["decorators"][0]["type"] == "secure"
    assert file["signingKey"] == {"value": "${COPROD_SIGNING_KEY}"}


def test_azd_deploys_the_app_to_the_tagged_function_app(resources: dict[str, Any]) -> None:
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    [(service, spec)] = azure["services"].items()
    assert spec == {"project": ".", "language": "python", "host": "function"}
    assert f"'azd-service-name': '{service}'" in (INFRA / "resources.bicep").read_text(encoding="utf-8")
    assert azure["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}


def test_the_package_leaves_out_what_the_app_never_imports() -> None:
    ignored = (ROOT / ".funcignore").read_text(encoding="utf-8").split()
    for folder in ("tests/", "graph_emulator/", "demo/", ".venv/", "node_modules/", "mutants/"):
        assert folder in ignored
    for needed in ("coprod/", "graph_client/", "config/", "functions/", "function_app.py", "host.json"):
        assert needed not in ignored
