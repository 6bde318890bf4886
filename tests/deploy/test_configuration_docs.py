"""docs/configuration.md is written from `config.Settings` (tools/configuration_docs.py) and never drifts from it.

When a test here fails after a change to a setting, run `python tools/configuration_docs.py` and commit the page.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from config import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("configuration_docs", ROOT / "tools" / "configuration_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def leaf_fields(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    """Every field of the settings that holds a value (a field that is a group of settings is opened)."""
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from leaf_fields(field.annotation)
        else:
            yield name, field


DOCS = generator()
VARIABLES = [setting.variable for setting in DOCS.walk(Settings)]


def test_the_committed_page_is_what_the_settings_say() -> None:
    """The page is up to date: a setting added, removed, or with a new default or docstring fails here until the
    page is written again."""
    assert PAGE.read_text(encoding="utf-8") == DOCS.render(), (
        "docs/configuration.md is out of date: run `python tools/configuration_docs.py` and commit it")


def test_every_setting_is_on_the_page_once_with_its_default_and_meaning() -> None:
    rows = [line for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    named = [row.split("`")[1] for row in rows]
    aliases = [str(field.validation_alias) for _, field in leaf_fields(Settings) if field.validation_alias]
    assert len(VARIABLES) == len(list(leaf_fields(Settings))) and set(aliases) <= set(VARIABLES)
    assert [v for v in VARIABLES if named.count(v) != 1] == []
    for (name, field), variable in zip(leaf_fields(Settings), VARIABLES, strict=True):
        row = rows[named.index(variable)]
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 4, row
        if field.is_required():
            assert cells[1] == "required", name
        elif field.default not in (None, "", ()):
            assert str(field.default).lower() in cells[1].lower() or cells[1] == f"`{field.default:g}`", name
        assert len(cells[3]) > 20, f"{name} has no docstring in config/_settings.py"


def test_each_group_and_note_names_a_setting_that_exists() -> None:
    """A setting renamed or removed is renamed or removed in the generator too, not left behind."""
    grouped = [variable for _, _, variables in DOCS.GROUPS for variable in variables]
    assert [v for v in grouped if v not in VARIABLES] == []
    assert [v for v in DOCS.NOTES if v not in VARIABLES] == []
    assert len(grouped) == len(set(grouped))


def test_a_setting_no_group_names_still_appears_under_other_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    left_out = DOCS.GROUPS[0][2]
    monkeypatch.setattr(DOCS, "GROUPS", DOCS.GROUPS[1:])
    other = DOCS.render().split("## Other settings\n", 1)[1].split("\n## ", 1)[0]
    assert [variable for variable in left_out if f"| `{variable}` |" not in other] == []


class _Mail(BaseModel):
    per_minute: int = Field(default=30, ge=1, validation_alias="COPROD_SEND_PER_MINUTE")
    """Messages a minute."""


class _Grouped(BaseModel):
    mail: _Mail = _Mail()
    name: str = "x"
    """A name."""


def test_settings_grouped_in_sub_models_are_read_the_same_way() -> None:
    """Settings may be grouped by concern (a sub-model per group); each is still one row, with its variable,
    default, bounds and docstring."""
    assert list(DOCS.walk(_Grouped)) == [
        DOCS.Setting("COPROD_SEND_PER_MINUTE", "`30`", "a whole number, at least 1", "Messages a minute."),
        DOCS.Setting("NAME", "`x`", "text", "A name.")]


def test_check_exits_1_when_the_page_differs_and_0_when_it_matches(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "configuration.md"
    monkeypatch.setattr(DOCS, "PAGE", page)
    assert DOCS.main(["--check"]) == 1  # missing
    assert DOCS.main([]) == 0
    assert page.read_text(encoding="utf-8") == DOCS.render()
    assert DOCS.main(["--check"]) == 0
    page.write_text(page.read_text(encoding="utf-8").replace("required", "optional", 1), encoding="utf-8")
    assert DOCS.main(["--check"]) == 1


def test_the_readme_and_the_design_point_here_instead_of_a_table_of_their_own() -> None:
    """The copies drifted before (the design listed 22 of the settings): now they point to this page."""
    for path in (ROOT / "README.md", ROOT / "docs" / "design.md"):
        text = path.read_text(encoding="utf-8")
        assert "configuration.md" in text, path.name
        assert [line for line in text.splitlines() if line.startswith(("| `M365_", "| `COPROD_"))] == [], path.name
