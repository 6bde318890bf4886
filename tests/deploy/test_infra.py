"""The deployment (infra/, azure.yaml) as far as this machine can check it without Azure or a Bicep compiler.

The Bicep is parsed with pycep-parser (a Bicep grammar in Python; Microsoft's compiler is a .NET binary that no
package registry here offers), and then read as data: every setting of the configuration contract reaches the
function app; no key or secret is in an app setting; the identity holds exactly the roles the app uses; the
parameters line up from azd's environment to the module. Then one test for each rule Azure (or the compiler, or
azd) is known to enforce, each naming where that rule is written down. What it cannot show: that Azure accepts
the template (API versions, property names beyond the grammar), and that a deployment works; see docs/deploy.md.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import Settings

pycep = pytest.importorskip("pycep", reason="pycep-parser parses the Bicep (requirements-dev.txt)")

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
# Left out on purpose, with the reason the template gives: the managed identity replaces the app credential, and
# nothing stands between the app and Microsoft that would need another CA.
NOT_IN_AZURE = {"M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "M365_CA_BUNDLE"}
ROLES = {  # built-in role definition ids, and why the identity holds each
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner: the Functions host's leases, the package",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor: the notifications queue (the COPROD_QUEUE "
                                            "connection: its trigger reads, its output binding writes)",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor: the state store",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User: the signing key, the ACS string, the Notify key",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher: telemetry with local auth off",
}


# Where Flex Consumption runs: the `@allowed` list of Microsoft's Flex Consumption azd quickstart for Python
# (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep, last changed 2025-05-07 in 947c194; read
# 2026-12-07), less eastus2euap, an early-access region ordinary subscriptions cannot use. Microsoft's docs name no
# list: they say to ask `az functionapp list-flexconsumption-locations`.
FLEX_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia", "centralus", "eastasia",
    "eastus", "eastus2", "francecentral", "germanywestcentral", "italynorth", "japaneast", "koreacentral",
    "northcentralus", "northeurope", "norwayeast", "southafricanorth", "southcentralus", "southeastasia",
    "southindia", "spaincentral", "swedencentral", "uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope",
    "westus", "westus2", "westus3",
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


def decorators(declaration: dict[str, Any]) -> dict[str, Any]:
    return {d["type"]: d.get("argument") for d in declaration["decorators"]}


def loops(node: Any) -> Iterator[dict[str, Any]]:
    """Every `[for ...]` in a parsed body."""
    if isinstance(node, dict):
        if "loop_type" in node:
            yield node
        for value in node.values():
            yield from loops(value)
    elif isinstance(node, list):
        for value in node:
            yield from loops(value)


def names(node: Any) -> set[str]:
    """The names an expression may refer to: the strings that are a bare name, and the words of each `${...}`.

    pycep writes a name and a string literal alike, so a literal such as 'managedidentity' counts too: harmless, as
    only names of resources, modules and variables matter here."""
    found: set[str] = set()
    if isinstance(node, dict):
        for value in node.values():
            found |= names(value)
    elif isinstance(node, list):
        for value in node:
            found |= names(value)
    elif isinstance(node, str):
        if re.fullmatch(r"[A-Za-z_]\w*", node):
            found.add(node)
        for inside in re.findall(r"\$\{([^}]*)\}", node):
            found |= set(re.findall(r"[A-Za-z_]\w*", inside))
    return found


def known_only_during_deployment(template: dict[str, Any], node: Any, seen: frozenset[str] = frozenset()) -> set[str]:
    """The resources and modules an expression reaches, itself or through variables: values that exist only once
    Azure has made them. (Bicep allows a resource's name and id in a loop's input; this counts any use, to be sure.)"""
    made = set(template["resources"]) | set(template.get("modules", {}))
    runtime_functions = re.findall(r'"type": "(reference|list\w*)"', text(node))
    reached = {f"{name}()" for name in runtime_functions}
    for name in names(node):
        if name in made:
            reached.add(name)
        elif name in template["variables"] and name not in seen:
            reached |= known_only_during_deployment(template, template["variables"][name]["value"], seen | {name})
    return reached


def test_every_setting_of_the_contract_reaches_the_function_app(resources: dict[str, Any]) -> None:
    contract = {str(field.validation_alias) for field in Settings.model_fields.values()}
    settings = app_settings(resources)
    assert contract - NOT_IN_AZURE - set(settings) == set()
    assert NOT_IN_AZURE & set(settings) == set()
    [config] = [r["config"] for r in resources["resources"].values() if r["type"] == "Microsoft.Web/sites/config"]
    assert config["properties"] == "appSettings"  # the whole union, as the site's settings


def test_the_app_runs_on_its_managed_identity_with_no_key_or_secret_in_a_setting(resources: dict[str, Any]) -> None:
    settings = app_settings(resources)
    assert settings["M365_USE_MANAGED_IDENTITY"] == "true"
    assert "identity" in text(settings["M365_CLIENT_ID"]) and "clientId" in text(settings["M365_CLIENT_ID"])
    for secret in ("COPROD_SIGNING_KEY", "COPROD_ACS_CONNECTION_STRING", "COPROD_NOTIFY_API_KEY"):
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
    ignored = funcignore()
    for folder in ("tests/", "graph_emulator/", "demo/", ".venv/", "node_modules/", "mutants/"):
        assert folder in ignored
    for needed in ("coprod/", "graph_client/", "config/", "functions/", "function_app.py", "host.json"):
        assert needed not in ignored


def funcignore() -> list[str]:
    """.funcignore's patterns: one a line, without comments and blank lines."""
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def left_out(path: str, patterns: list[str]) -> bool:
    """Whether a top-level file or folder (a folder ends in '/') matches a pattern, as .gitignore matches names."""
    return any(fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path.rstrip("/"), pattern)
               for pattern in patterns if pattern.endswith("/") == path.endswith("/") or not pattern.endswith("/"))


# --- The rules Azure, the Bicep compiler and azd are known to enforce: one test each, with its source ---------


def test_no_property_loop_runs_over_values_known_only_during_the_deployment(main: dict[str, Any],
                                                                             resources: dict[str, Any]) -> None:
    """BCP178: a `[for ...]` inside a resource's body must be computable when the deployment starts; the old
    `appSettings: [for setting in items(appSettings) ...]` ran over the identity's client id, the App Insights
    connection string and the secret's address, which exist only once Azure has made them, so the compiler stops
    before anything is created. Sources: https://learn.microsoft.com/azure/azure-resource-manager/bicep/diagnostics/bcp178
    and Azure/bicep issue 1917 (https://github.com/Azure/bicep/issues/1917), this very app-settings pattern."""
    for template in (main, resources):
        for declared in list(template["resources"].values()) + list(template.get("modules", {}).values()):
            for loop in loops(declared["config"]):
                over = loop["loop_type"]["detail"]["array_name"]
                assert known_only_during_deployment(template, over) == set(), text(over)
    # and the check itself sees the old shape for what it was
    old = {"function": {"type": "items", "parameters": {"arg_1": "appSettings"}}}
    assert {"identity", "insights", "signingSecret"} <= known_only_during_deployment(resources, old)


def test_app_settings_are_the_sites_appsettings_config_resource(resources: dict[str, Any]) -> None:
    """The settings as a resource of their own, `Microsoft.Web/sites/config` named 'appsettings' whose properties
    are the settings object, as Microsoft's Flex Consumption azd quickstart for Python does through the Azure
    Verified Modules' site module (Azure-Samples/functions-quickstart-python-http-azd, infra/app/api.bicep,
    `appSettingsKeyValuePairs`; avm/res/web/site, config--appsettings). Its properties take an object as it is, so no
    loop is needed (BCP178, above), and it may use the site's own properties (its defaultHostName, below)."""
    [config] = [r for r in resources["resources"].values() if r["type"] == "Microsoft.Web/sites/config"]
    assert config["config"]["name"] == "appsettings"
    assert config["config"]["parent"] == "functionApp"
    assert config["config"]["properties"] == "appSettings"
    assert "appSettings" not in props(resources, "functionApp")["properties"].get("siteConfig", {})
    # the settings name the vault, the queue, the tables and the telemetry: the identity's roles on them come first
    assert {"secretsUser", "queueContributor", "tableContributor", "metricsPublisher"} <= names(
        config["config"].get("dependsOn", []))


def test_no_site_configuration_that_flex_consumption_refuses(resources: dict[str, Any]) -> None:
    """Flex Consumption refuses `siteConfig.ftpsState` (it has no FTP): 'The following site configuration property
    (Site.SiteConfig.FtpsState ...) for Flex Consumption sites is invalid', error 51021, on newer regional stamps.
    The others in that message, and linuxFxVersion (the runtime is functionAppConfig.runtime), likewise. Sources:
    https://github.com/microsoft/azure-pipelines-tasks/issues/21032 (the message, naming FtpsState) and
    https://github.com/Azure/terraform-azurerm-avm-res-web-site/issues/283 (its code, 51021)."""
    refused = {"ftpsstate", "use32bitworkerprocess", "netframeworkversion", "functionsruntimescalemonitoringenabled",
               "linuxfxversion"}
    for name, declared in resources["resources"].items():
        properties = declared["config"].get("properties")
        if declared["type"].startswith("Microsoft.Web/sites") and isinstance(properties, dict):
            assert refused & {key.lower() for key in properties.get("siteConfig", {})} == set(), name
            assert refused & {key.lower() for key in properties} == set(), name


def test_maximum_instance_count_is_at_least_the_documented_floor(resources: dict[str, Any]) -> None:
    """'Currently the lowest maximum instance count value is 40, and the highest supported maximum instance count
    value is 1000' (lower values were a preview in a few regions only). It counts on-demand instances in each
    per-function scale group (function group), not the app's instances together. Source:
    https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out (ms.date 05/12/2024: the
    floor of 40; a revision of 08/03/2026 says 1, and 'in each per-function scale group'; 40 is accepted by both)."""
    parameter = resources["parameters"]["maximumInstanceCount"]
    assert parameter["default"] >= 40
    marks = decorators(parameter)
    assert marks["min_value"] >= 40 and marks["max_value"] <= 1000
    assert "function group" in marks["description"]
    scale = props(resources, "functionApp")["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"


def test_location_is_a_region_that_offers_flex_consumption(main: dict[str, Any]) -> None:
    """A region without Flex Consumption fails at the plan, after the resource group, identity, storage and vault
    are made; an `@allowed` list stops it before anything is (and azd offers only those regions). Source: the list in
    Microsoft's Flex Consumption azd quickstart for Python (FLEX_REGIONS above, with its commit and date), and
    https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to (`az functionapp
    list-flexconsumption-locations` for today's list)."""
    marks = decorators(main["parameters"]["location"])
    allowed = marks["allowed"]
    assert allowed and set(allowed) <= FLEX_REGIONS and "uksouth" in allowed
    assert main["modules"]["resources"]["config"]["params"]["location"] == "location"


def test_the_public_url_is_the_sites_default_host_name(resources: dict[str, Any]) -> None:
    """A new function app's host name is no longer always `<name>.azurewebsites.net`: with secure unique default
    hostnames (generally available for Functions since January 2026) it is `<name>-<hash>.<region>.azurewebsites.net`,
    known only from the site's `properties.defaultHostName`. Sources:
    https://learn.microsoft.com/azure/app-service/reference-dangling-subdomain-prevention and
    https://learn.microsoft.com/azure/templates/microsoft.web/sites (defaultHostName)."""
    url = text(resources["variables"]["pagesUrl"]["value"])
    assert "functionApp.properties.defaultHostName" in url
    assert "azurewebsites.net" not in text(resources["variables"]) + text(resources["outputs"])
    assert resources["outputs"]["publicUrl"]["value"] == "pagesUrl"
    assert app_settings(resources)["COPROD_PUBLIC_URL"] == "pagesUrl"


def test_the_notifications_queue_has_an_identity_based_connection_of_its_own(resources: dict[str, Any]) -> None:
    """An identity-based connection is `<NAME>__queueServiceUri`, `<NAME>__credential` = managedidentity and, for a
    user-assigned identity, `<NAME>__clientId`; the queue trigger and output binding need Storage Queue Data
    Contributor (or Reader with Message Processor, and Message Sender). Every queue binding's `connection` must name
    such a connection, or the host storage's. Sources:
    https://learn.microsoft.com/azure/azure-functions/functions-reference#configure-an-identity-based-connection and
    https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#grant-permission-to-the-identity."""
    settings = app_settings(resources)
    uri = text(settings["COPROD_QUEUE__queueServiceUri"])
    assert "storage" in uri and "primaryEndpoints" in uri and "queue" in uri
    assert settings["COPROD_QUEUE__credential"] == "managedidentity"
    client = text(settings["COPROD_QUEUE__clientId"])
    assert "identity" in client and "clientId" in client
    assert "COPROD_QUEUE" not in settings  # no connection string, no key
    # the role, on the account that holds the queue, for the identity that connects
    role_ids = resources["variables"]["roles"]["value"]
    queue_roles = [a["config"] for a in resources["resources"].values()
                   if a["type"] == "Microsoft.Authorization/roleAssignments"
                   and role_ids.get(a["config"]["properties"]["roleDefinitionId"]["function"]["parameters"]
                                    ["resource_name_1"]["operator"]["operands"]["operand_2"])
                   == "974c5e8b-45b9-4653-ba55-5f855dd0fb88"]
    assert len(queue_roles) == 1
    assert queue_roles[0]["scope"] == "storage" and "identity" in text(queue_roles[0]["properties"]["principalId"])
    # each binding names a connection the app has
    bindings = set()
    for path in (ROOT / "functions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for named in re.findall(r'queue_\w+\([^)]*connection=("\w+"|\w+)', source):  # a string, or a constant's name
            bindings |= {named.strip('"')} if named.startswith('"') else set(
                re.findall(rf'^{named}\s*=\s*"(\w+)"', source, re.MULTILINE))
    assert bindings
    for connection in bindings:
        assert connection == "AzureWebJobsStorage" or f"{connection}__queueServiceUri" in settings, connection
    # and locally, Azurite's queue under the same name
    local = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))["Values"]
    assert local["COPROD_QUEUE"] == "UseDevelopmentStorage=true"


def test_the_package_leaves_out_virtual_environments_and_npm_files() -> None:
    """azd makes the Python service's virtual environment inside the project, named `<folder>_env` (Azure/azure-dev,
    cli/azd/pkg/project/framework_service_python.go, getVenvName), and developers make `venv/` or `.venv/`; npm's
    `node_modules/` and `package*.json` (the browser tests' tools here) are no part of the app. The package is this
    folder less what .funcignore leaves out (https://learn.microsoft.com/azure/azure-functions/functions-run-local,
    'Project file deployment'), so each must be there."""
    patterns = funcignore()
    for pattern in ("*_env/", "venv/", ".venv/", "node_modules/", "package.json", "package-lock.json"):
        assert pattern in patterns, pattern
    for path in (f"{ROOT.name}_env/", "main_env/", "venv/", ".venv/", "node_modules/", "package.json",
                 "package-lock.json"):
        assert left_out(path, patterns), path
    for needed in ("coprod/", "graph_client/", "config/", "functions/", "function_app.py", "host.json",
                   "requirements.txt"):
        assert not left_out(needed, patterns), needed
