"""The shape the code keeps: imports point one way, ledger keys are spelt in one place, modules stay small.

These read the source as text; they fail when a change breaks a rule a reader relies on to find their way.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ("coprod", "graph_client", "config", "functions")
# What every ledger key (and every email's outbox key) starts with; only coprod/handoffs spells them.
KEY_PREFIXES = ("message:", "guest:", "subscriber:", "cancel-request:", "session-changed:", "meeting:",
                "guest-confirmed:", "told:", "invite:", "guest-row:", "subscriber-row:", "campaign:",
                "unsubscribe:", "subscribe-confirmed:", "rejoin-confirmed:", "topics:", "mail-failed:",
                "rejoin-asked:", "mail:", "sent-id:", "bounce-report:", "bounced:", "bouncing:", "notify:")
# Who may import whom: each package, and the packages it must never import.
NEVER = {
    "config": ("graph_client", "coprod", "functions", "graph_emulator", "demo"),
    "graph_client": ("coprod", "functions", "graph_emulator", "demo"),
    "coprod": ("functions", "graph_emulator", "demo"),
    "functions": ("graph_emulator", "demo"),
    "graph_emulator": ("config", "graph_client", "coprod", "functions", "demo"),
}

# The one exception: `python -m coprod demo` is a contract, so the CLI imports the demo when asked (guarded: a
# deployment has no demo folder, and says so).
ALLOWED = {("coprod/cli.py", "demo")}


def sources(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(NEVER))
def test_imports_point_one_way(package: str) -> None:
    """functions -> coprod -> graph_client -> config; the emulator and the demo stand apart."""
    wrong = sorted(f"{path.relative_to(ROOT)} imports {name}" for path in sources(package) for name in imported(path)
                   if name.split(".")[0] in NEVER[package] and (str(path.relative_to(ROOT)), name) not in ALLOWED)
    assert wrong == []


def test_no_ledger_or_outbox_key_is_spelt_outside_the_handoffs_module() -> None:
    spelt = []
    for path in sources(*DEPLOYED):
        if path.is_relative_to(ROOT / "coprod" / "handoffs"):
            continue
        for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if token.type != tokenize.STRING:
                continue
            text = token.string.lstrip("rbfuRBFU").strip("'\"")
            if text.startswith(KEY_PREFIXES):
                spelt.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string}")
    assert spelt == []


def test_no_module_of_the_deployed_packages_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sources(*DEPLOYED)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


# coprod's jobs: each does one part of the work, and none imports another. They share the lists' records, the
# hand-offs, the store and a few helpers; what starts them and puts them together (the CLI, one run, the composition
# root, the local server, and the two commands that exercise the service's own calls against the tenant) may import
# any of them.
JOBS = ("registrations", "guests", "contributions", "meetings", "mailing", "mail", "pages", "privacy", "realtime",
        "operating", "notify")
SHARED = ("lists", "handoffs", "store", "templates", "words", "links", "permissions", "running", "i18n")
ENTRIES = ("__init__", "__main__", "cli", "run", "runtime", "serve", "check", "rehearse")
# Imports allowed from one job into another, each with its reason: none. (The meeting sync writes a session's Sync
# note as the registration sync does, from coprod/lists/session_notes.py and the place rule in coprod/lists/places.py,
# both shared.)
BETWEEN_JOBS: set[tuple[str, str]] = set()
TOP_LEVEL_MODULES = 10


def part_sources(part: str) -> list[Path]:
    """The files of one part of coprod: a module at its top level, or a package."""
    module = ROOT / "coprod" / f"{part}.py"
    return [module] if module.is_file() else sources(f"coprod/{part}")


def parts_imported(path: Path) -> set[str]:
    """The parts of coprod a file imports, at the top or inside a function (`from coprod.lists.records import ...`
    and `from coprod import lists` are both `lists`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "coprod" and node.level == 0:
            names.update(f"coprod.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[1] for name in names if name.startswith("coprod.")}


def test_coprod_keeps_ten_modules_at_most_at_its_top_level() -> None:
    """The rest is grouped by what it is for (a package does not count)."""
    modules = sorted(path.name for path in (ROOT / "coprod").glob("*.py"))
    assert len(modules) <= TOP_LEVEL_MODULES, modules


def test_every_part_of_coprod_is_a_job_a_shared_part_or_an_entry() -> None:
    """A module or package added at coprod's top level is placed on purpose, in one of the three lists above."""
    found = {path.stem for path in (ROOT / "coprod").glob("*.py")} | {
        path.parent.name for path in (ROOT / "coprod").glob("*/__init__.py")}
    assert sorted(found) == sorted({*JOBS, *SHARED, *ENTRIES})


@pytest.mark.parametrize("job", JOBS)
def test_a_job_imports_no_other_job(job: str) -> None:
    """Records and hand-offs are shared, jobs are not: a job reads another's records from coprod/lists and its
    hand-offs from coprod/handoffs, never from the job itself."""
    wrong = sorted(f"{path.relative_to(ROOT)} imports coprod.{part}" for path in part_sources(job)
                   for part in parts_imported(path) if part in JOBS and part != job
                   and (str(path.relative_to(ROOT)), part) not in BETWEEN_JOBS)
    assert wrong == []


@pytest.mark.parametrize("shared", SHARED)
def test_what_the_jobs_share_imports_no_job_and_nothing_that_starts_them(shared: str) -> None:
    wrong = sorted(f"{path.relative_to(ROOT)} imports coprod.{part}" for path in part_sources(shared)
                   for part in parts_imported(path) if part in JOBS or part in ENTRIES)
    assert wrong == []


def test_each_import_allowed_between_jobs_is_still_made() -> None:
    """An exception that the code no longer needs is taken off the list, so it cannot cover a new import."""
    assert sorted(f"{path} -> {part}" for path, part in BETWEEN_JOBS if part not in parts_imported(ROOT / path)) == []


# The emulator is laid out per service, as moto is: graph_emulator/<service>/ holds that service's models and its
# routes, and takes what the services share (errors, the HTTP core, permissions, faults, the tenant) from core/.
EMULATOR = ROOT / "graph_emulator"
EMULATOR_CORE = "core"


def emulator_services() -> list[str]:
    return sorted(path.name for path in EMULATOR.iterdir()
                  if (path / "__init__.py").is_file() and path.name != EMULATOR_CORE)


def emulator_imports(path: Path) -> set[str]:
    """Every module of the emulator a file imports (`from graph_emulator import mail` as `graph_emulator.mail`)."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module or ""
            names.update({base} - {"graph_emulator"} | {f"{base}.{alias.name}" for alias in node.names})
    return {name for name in names if name.split(".")[0] == "graph_emulator"}


def test_the_emulator_is_laid_out_per_service_with_no_module_over_400_lines() -> None:
    assert {"sharepoint", "directory", "mail", "meetings", "subscriptions", "identity"} <= set(emulator_services())
    long = {str(p.relative_to(ROOT)): n for p in sources("graph_emulator")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


@pytest.mark.parametrize("service", emulator_services())
def test_an_emulator_service_imports_the_core_and_no_other_service(service: str) -> None:
    """A service's modules import their own package and graph_emulator.core, and nothing else of the emulator (a
    user of the directory reaches mail and meetings as `core.account.Account`, the whole tenant as `core.backend`)."""
    wrong = sorted(f"{path.relative_to(ROOT)} imports {name}" for path in sources(f"graph_emulator/{service}")
                   for name in emulator_imports(path) if name.split(".")[1:2] not in ([service], [EMULATOR_CORE]))
    assert wrong == []


def test_mutation_testing_names_files_that_exist_and_each_safety_module() -> None:
    """`[tool.mutmut]` in pyproject.toml: a renamed module or test file would drop out of mutation testing
    silently (mutmut skips a pattern that matches nothing). The modules where a rule decides who gets a place,
    an email, an account, a lease or an erasure must stay listed."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    listed = config["only_mutate"] + config["pytest_add_cli_args_test_selection"]
    assert [path for path in listed if not (ROOT / path).is_file()] == []
    assert {"coprod/registrations/rules.py", "coprod/lists/places.py", "coprod/lists/records.py",
            "coprod/lists/fields.py", "coprod/mail/outbox.py", "coprod/links.py", "graph_client/_retry.py",
            "coprod/running/lease.py", "coprod/privacy/erasure.py", "coprod/privacy/dataprotection.py",
            "coprod/guests/rules.py", "coprod/realtime/webhooks.py", "coprod/pages/limits.py",
            "coprod/handoffs/_base.py", "coprod/handoffs/__init__.py", "coprod/mail/bounces.py"
            } <= set(config["only_mutate"])
    assert {"coprod/store/sqlite/__init__.py", "coprod/store/sqlite/database.py", "coprod/store/sqlite/ledger.py",
            "coprod/store/sqlite/outbox.py", "coprod/store/sqlite/counters.py", "coprod/store/sqlite/leases.py",
            "coprod/store/sqlite/checkpoints.py", "coprod/store/sqlite/mirror.py"
            } <= set(config["only_mutate"])  # the SQLite store, part by part


def test_the_readme_names_every_docs_page() -> None:
    """The README is where a newcomer starts: every page in docs/ is reachable from it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [page.name for page in sorted((ROOT / "docs").glob("*.md")) if f"docs/{page.name}" not in readme] == []
