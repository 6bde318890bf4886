"""Mutation testing of the modules whose rules matter most; prints each module's score.

    python tools/mutation.py              # run mutmut (about half an hour on 2 cores), then print the scores
    python tools/mutation.py coprod/links.py graph_client/_retry.py   # only these modules (minutes), and their scores
    python tools/mutation.py --report     # print the scores of the last run only
    python tools/mutation.py --survivors  # the last run's surviving mutants, by module
    python tools/mutation.py --coverage   # (CI) fail if a line of a mutated module is run by none of its tests

Which modules and how the tests run are set in pyproject.toml ([tool.mutmut]). A mutant is a small change to
the code (`<` for `<=`, `True` for `False`, a line dropped); the tests should fail for every one that changes
behaviour. Survivors are listed with `python -m mutmut show <name>`. A mutant that cannot change behaviour (an
equivalent mutant) is marked `# pragma: no mutate` at its line, with the reason beside it.

The goal: at least 90% on each module; the run exits 1 below that.

Each mutant is run only against the listed tests that ran its function, so code that none of them runs cannot be
tested at all: its mutants show as "no tests". `--coverage` runs the listed tests once under coverage.py and names
every such line, so a new function, or a new module added to the list, cannot slip past its tests unnoticed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 90.0
KEY = re.compile(r"^\s*(?P<module>[\w.]+?)\.(?:x_|xǁ)\S*__mutmut_\d+: (?P<status>.+)$")
KILLED = {"killed", "timeout"}  # a mutant that hangs the tests is caught by them


def settings() -> dict[str, list[str]]:
    """[tool.mutmut] from pyproject.toml: which modules are mutated and which tests run against them."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        mutmut: dict[str, list[str]] = tomllib.load(file)["tool"]["mutmut"]
    return mutmut


def unrun_lines() -> dict[str, list[int]]:
    """Runs the listed tests once under coverage.py; the lines of each mutated module that none of them ran."""
    config = settings()
    modules, tests = config["only_mutate"], config["pytest_add_cli_args_test_selection"]
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "coverage")
        subprocess.run([sys.executable, "-m", "coverage", "run", f"--data-file={data}", "--include",
                        ",".join(modules), "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                       cwd=ROOT, check=True)  # a failing test fails the check too
        import coverage

        measured = coverage.Coverage(data_file=data)
        measured.load()
        return {module: sorted(measured.analysis2(str(ROOT / module))[3]) for module in modules}


def spans(lines: list[int]) -> str:
    """[3, 4, 5, 9] as '3-5, 9'."""
    runs: list[list[int]] = []
    for line in lines:
        if runs and line == runs[-1][-1] + 1:
            runs[-1].append(line)
        else:
            runs.append([line])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def check_coverage() -> bool:
    missing = {module: lines for module, lines in unrun_lines().items() if lines}
    for module, lines in missing.items():
        print(f"{module}: lines {spans(lines)} are run by none of the tests listed in "
              "[tool.mutmut] pytest_add_cli_args_test_selection: test them there, or list the test file that does")
    if not missing:
        print(f"every line of the {len(settings()['only_mutate'])} mutated modules is run by their listed tests")
    return not missing


def survivors() -> None:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if KEY.match(line):
            print(line.strip())
    print("see one with: python -m mutmut show <name>")


def module_of(path: str) -> str:
    """`coprod/links.py` as mutmut names its mutants' module: `coprod.links`."""
    return path.removesuffix(".py").replace("/", ".")


def run(children: int, verbose: bool, modules: list[str]) -> None:
    """mutmut's own progress line redraws itself many times a second; shown only with --verbose. `modules`: only
    their mutants (each must be one of [tool.mutmut]'s `only_mutate`)."""
    print("running mutmut (a few minutes)...", flush=True)
    names = [f"{module_of(path)}.*" for path in modules]
    subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *names], cwd=ROOT,
                   check=False, stdout=None if verbose else subprocess.DEVNULL)


def scores() -> dict[str, Counter[str]]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in out.splitlines():
        found = KEY.match(line)
        if found:
            by_module[found["module"]][found["status"]] += 1
    return by_module


def report(by_module: dict[str, Counter[str]]) -> bool:
    ok = True
    print(f"{'module':28} {'killed':>7} {'of':>5} {'score':>7}  other")
    for module, counts in sorted(by_module.items()):
        total = sum(counts.values()) - counts["skipped"]
        killed = sum(counts[s] for s in KILLED)
        score = 100.0 * killed / total if total else 100.0
        other = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in KILLED and n)
        print(f"{module:28} {killed:7} {total:5} {score:6.1f}%  {other}")
        ok &= score >= GOAL
    print(f"goal: at least {GOAL:.0f}% on each module: {'met' if ok else 'NOT met'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print the last run's scores without running")
    parser.add_argument("--survivors", action="store_true", help="list the last run's surviving mutants")
    parser.add_argument("--coverage", action="store_true",
                        help="fail if a mutated module has lines that none of its listed tests runs (quick; CI)")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--verbose", action="store_true", help="show mutmut's progress as it runs")
    parser.add_argument("modules", nargs="*", help="only these of the mutated modules (paths), e.g. coprod/links.py")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(settings()["only_mutate"]))
    if unknown:
        parser.error(f"not mutated (see [tool.mutmut] only_mutate in pyproject.toml): {', '.join(unknown)}")
    if args.coverage:
        return 0 if check_coverage() else 1
    if args.survivors:
        survivors()
        return 0
    if not args.report:
        run(args.children, args.verbose, args.modules)
    found = scores()
    if args.modules:
        found = {module: counts for module, counts in found.items() if module in map(module_of, args.modules)}
    return 0 if report(found) else 1


if __name__ == "__main__":
    sys.exit(main())
