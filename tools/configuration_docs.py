"""Write docs/configuration.md from `config.Settings`: every setting's environment variable, default and meaning.

    python tools/configuration_docs.py          # write docs/configuration.md
    python tools/configuration_docs.py --check  # exit 1, saying so, when docs/configuration.md is out of date

A setting's meaning is its field's docstring in config/_groups.py; its default, and the values it takes, are read
from the field itself. So a setting is described in one place: change it there, then run this.
tests/deploy/test_configuration_docs.py fails when the committed page is not what this writes.

The settings are shown by group, in the order config/_groups.py declares them; a group's docstring is its heading.
A setting declared outside a group still appears, under "Other settings", so a new one is never left out.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python tools/configuration_docs.py` from anywhere
    sys.path.insert(0, str(ROOT))

from pydantic import AliasChoices, BaseModel, SecretStr  # noqa: E402
from pydantic.fields import FieldInfo  # noqa: E402
from pydantic_core import PydanticUndefined  # noqa: E402

from config import Settings  # noqa: E402
from config._groups import GROUPS as CONFIG_GROUPS  # noqa: E402

PAGE = ROOT / "docs" / "configuration.md"
COMMAND = "python tools/configuration_docs.py"

def _groups() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(title, what the group is for, its variables in their order), from the groups in config/_groups.py: a
    group's docstring is its title (first line) and what it is for (the rest)."""
    found = []
    for group in CONFIG_GROUPS:
        title, _, about = inspect.cleandoc(group.__doc__ or "").partition("\n")
        variables = tuple(str(field.validation_alias) for name, field in group.model_fields.items()
                          if name in vars(group).get("__annotations__", {}))
        found.append((title.rstrip("."), " ".join(about.split()), variables))
    return tuple(found)


GROUPS = _groups()
UNITS = ("seconds", "minutes", "hours", "days")  # a number's unit, when the field's name ends with one
OTHER = ("Other settings", "Settings not yet placed in a group above.")

# Facts about a setting that its docstring does not carry (yet): each is added after the docstring. Keep them few;
# better, move one into its docstring in config/_groups.py and delete it here. The test checks each names a setting.
NOTES: dict[str, str] = {
    "M365_CLIENT_SECRET": "Neither is needed with `M365_USE_MANAGED_IDENTITY=true`.",
    "COPROD_STATE": "The connection string is `UseDevelopmentStorage=true` (Azurite), or one with `AccountName=` or "
                    "`TableEndpoint=` and an `AccountKey` or `SharedAccessSignature`. A third form, "
                    "`https://<account>.table.core.windows.net`, reaches Table Storage with the managed identity.",
    "COPROD_PUBLIC_URL": "It must be https; plain http only for localhost.",
    "COPROD_PRIVACY_CONTROLLER": "Blank: the programme's name (`COPROD_PROGRAMME_NAME`). The privacy notice is "
                                 "`/api/pages/privacy`, linked from every page's footer and every email's.",
    "COPROD_PRIVACY_CONTACT": "It is the controller's contact the notice names. Blank: the programme team's number "
                              "(`COPROD_CONTACT_PHONE`) if set, and \"reply to any of our emails\".",
    "COPROD_CONTACT_PHONE": "Blank: the pages offer no number, and say \"contact the programme team\" (reply to any "
                            "of our emails).",
    "COPROD_RETENTION_DAYS": "They are cleared once a day: docs/data-protection.md.",
}

INTRO = f"""\
# Configuration: every setting

<!-- Written by `{COMMAND}` from `config.Settings` (config/_groups.py). Do not edit it by hand: change
a setting's docstring there and run the command again; tests/deploy/test_configuration_docs.py fails until you do. -->

All settings are environment variables (in Azure: app settings, secrets as Key Vault references). Secrets come
from the environment, never from files in the repository. The demo and the tests need none of them: they set
their own, pointing at the project's Graph emulator.

- **Locally**, for the Functions host: `local.settings.example.json` lists them; copy it to
  `local.settings.json` (ignored by git). For the command line (`python -m coprod ...`), export them in the
  shell. The emulator prints every setting that points the service at it (`python -m graph_emulator`;
  [docs/emulator.md](emulator.md)).
- **In Azure**, the deployment (`infra/`, [docs/deploy.md](deploy.md)) lists every setting, blank where the
  default holds; the optional ones go in its `serviceSettings` parameter.

How they are read:

- A blank value means "not set" (the default holds).
- Settings that hold a list are comma-separated (`a.org, b.org`), as a person would type them.
- Missing or malformed settings stop start-up with one line each, all of them at once, in the order
  `config/_groups.py` declares them, e.g. `M365_SITE_ID: is required but not set`. A setting that names a
  file that isn't there (`M365_CA_BUNDLE`, `M365_CLIENT_CERTIFICATE_PATH`) or a `COPROD_STATE` no store
  accepts is one of those lines too, and so is a value that is still the text of a Key Vault reference
  (`@Microsoft.KeyVault(...)`: App Service passes it until the app's identity may read the vault; wait for the
  role, then restart the app; see [docs/deploy.md](deploy.md)). The command line exits 2 on a bad setting.
  `GET /api/health` answers the same as JSON.
- `python -m coprod check` then checks the settings against the tenant
  ([docs/permissions.md](permissions.md)).
"""

# Variables the service reads where they are used, not through `Settings`: (the variable, what it does).
OUTSIDE: tuple[tuple[str, str], ...] = (
    ("`APPLICATIONINSIGHTS_CONNECTION_STRING`",
     "turns telemetry on (the deployment sets it); without it nothing of OpenTelemetry is imported "
     "([docs/operations.md](operations.md#telemetry))"),
    ("`APPLICATIONINSIGHTS_AUTHENTICATION_STRING`",
     "set by the deployment, so the managed identity publishes telemetry with Application Insights' local "
     "authentication off"),
    ("`OTEL_TRACES_SAMPLER`",
     "a sampler of your choice; without it every span is kept, not the distro's default 5 traces a second"),
    ("`COPROD_QUEUE`",
     "the connection of the change notifications' queue (`coprod-notifications`), apart from the host's "
     "`AzureWebJobsStorage`: in Azure the account's queue service through the managed identity "
     "(`COPROD_QUEUE__queueServiceUri`, `__credential` and `__clientId`); locally a connection string, e.g. "
     "`UseDevelopmentStorage=true`"),
    ("`AzureWebJobsStorage`, `FUNCTIONS_WORKER_RUNTIME`, `AzureWebJobsFeatureFlags`",
     "the Functions host's own (`local.settings.example.json` has them; the deployment sets them)"),
)


@dataclass(frozen=True)
class Setting:
    """One environment variable of `Settings`, as the page shows it."""

    variable: str
    default: str
    takes: str
    meaning: str


def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The docstring under each field of a model (and its bases), as pydantic's `use_attribute_docstrings` reads
    them: the string literal right after the field's annotated assignment."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls.__module__.startswith("pydantic"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        body = next(node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)).body
        for node, after in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                found[node.target.id] = inspect.cleandoc(after.value.value)
    return found


def variable_of(name: str, field: FieldInfo, path: tuple[str, ...]) -> str:
    """The environment variable a field is read from: its alias, else the name pydantic-settings derives."""
    for alias in (field.validation_alias, field.alias):
        if isinstance(alias, str):
            return alias
        if isinstance(alias, AliasChoices):
            first = next((choice for choice in alias.choices if isinstance(choice, str)), None)
            if first:
                return first
    config: Any = Settings.model_config
    prefix = str(config.get("env_prefix") or "")
    delimiter = str(config.get("env_nested_delimiter") or "__")
    return (prefix + delimiter.join((*path, name))).upper()


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def walk(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[Setting]:
    """Every setting of a model, in its order; a field that is itself a model (a group of settings) is opened."""
    docstrings = attribute_docstrings(model)
    for name, field in model.model_fields.items():
        if is_model(field.annotation):
            yield from walk(field.annotation, (*path, name))  # type: ignore[arg-type]
            continue
        variable = variable_of(name, field, path)
        meaning = " ".join((field.description or docstrings.get(name, "")).split())
        if variable in NOTES:
            meaning = f"{meaning} {NOTES[variable]}".strip()
        yield Setting(variable, default_of(field), takes(field, name), meaning)


def number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def default_of(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list | frozenset | set):
        return ", ".join(f"`{item}`" for item in value) or "none"
    if isinstance(value, str):
        return f"`{value}`" if value else "blank"
    return f"`{number(value)}`"


def kinds(annotation: Any) -> list[Any]:
    """The types an annotation allows, `None` left out."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


def takes(field: FieldInfo, name: str) -> str:
    """What a value may be, in words: its type (a number's unit from the field's name, `lease_seconds`), its
    choices, and its bounds."""
    unit = next((f" of {unit}" for unit in UNITS if name.endswith(f"_{unit}")), "")
    words = []
    for kind in kinds(field.annotation):
        origin = typing.get_origin(kind)
        if origin is typing.Literal:
            words.append(" or ".join(f"`{choice}`" for choice in typing.get_args(kind)))
        elif kind is bool:
            words.append("`true` or `false`")
        elif kind is SecretStr:
            words.append("a secret (in Azure, a Key Vault reference)")
        elif kind is int:
            words.append(f"a whole number{unit}")
        elif kind is float:
            words.append(f"a number{unit}")
        elif kind is Path:
            words.append("a file's path")
        elif origin in (tuple, list, set, frozenset):
            words.append("comma-separated values")
        elif kind is str:
            words.append("text")
        else:
            words.append(f"`{getattr(kind, '__name__', kind)}`")
    bounds = []
    for item in field.metadata:
        for attribute, said in (("ge", "at least"), ("gt", "more than"), ("le", "at most"), ("lt", "less than")):
            if getattr(item, attribute, None) is not None:
                bounds.append(f"{said} {number(getattr(item, attribute))}")
        shortest, longest = getattr(item, "min_length", None), getattr(item, "max_length", None)
        if shortest and longest:
            bounds.append(f"{shortest} to {longest} characters")
        elif longest:
            bounds.append(f"up to {longest} characters")
        elif shortest and shortest > 1:
            bounds.append(f"at least {shortest} characters")
        if getattr(item, "pattern", None):
            bounds.append(f"matching `{item.pattern}`")
    return ", ".join([" or ".join(words), *bounds])


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(settings: list[Setting]) -> str:
    rows = ["| variable | default | takes | meaning |", "|---|---|---|---|"]
    rows += [f"| `{s.variable}` | {cell(s.default)} | {cell(s.takes)} | {cell(s.meaning)} |" for s in settings]
    return "\n".join(rows) + "\n"


def render() -> str:
    """The whole page, from `Settings` as it is now."""
    every = {setting.variable: setting for setting in walk(Settings)}
    placed = {variable for _, _, variables in GROUPS for variable in variables}
    groups = [(title, about, [every[v] for v in variables if v in every]) for title, about, variables in GROUPS]
    groups.append((*OTHER, [setting for variable, setting in every.items() if variable not in placed]))
    groups = [group for group in groups if group[2]]
    contents = "\n".join(f"- {title} ({len(settings)})" for title, _, settings in groups)
    parts = [INTRO, f"## The {len(every)} settings, by what they are for\n\n{contents}\n"]
    parts += [f"## {title}\n\n{about}\n\n{table(settings)}" for title, about, settings in groups]
    outside = "\n".join(f"| {variable} | {cell(what)} |" for variable, what in OUTSIDE)
    parts.append("## Read outside `Settings`\n\nThese are read where they are used, not by `config.Settings`:\n\n"
                 f"| variable | what it does |\n|---|---|\n{outside}\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/configuration.md from config.Settings.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when docs/configuration.md is not what would be written")
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != page:
            print(f"docs/configuration.md is out of date with config/_groups.py: run `{COMMAND}`",
                  file=sys.stderr)
            return 1
        print("docs/configuration.md is up to date")
        return 0
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote docs/configuration.md: {len(list(walk(Settings)))} settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
