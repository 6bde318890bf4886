"""Mutation testing of the modules whose rules matter most; prints each module's score.

    python tools/mutation.py            # run mutmut (minutes), then print the scores
    python tools/mutation.py --report   # print the scores of the last run only

Which modules and how the tests run are set in pyproject.toml ([tool.mutmut]). A mutant is a small change to
the code (`<` for `<=`, `True` for `False`, a line dropped); the tests should fail for every one that changes
behaviour. Survivors are listed with `python -m mutmut show <name>`. A mutant that cannot change behaviour (an
equivalent mutant) is marked `# pragma: no mutate` at its line, with the reason beside it.

The goal (issue 10): at least 90% on each module.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 90.0
KEY = re.compile(r"^\s*(?P<module>[\w.]+?)\.(?:x_|xǁ)\S*__mutmut_\d+: (?P<status>.+)$")
KILLED = {"killed", "timeout"}  # a mutant that hangs the tests is caught by them


def run(children: int, verbose: bool) -> None:
    """mutmut's own progress line redraws itself many times a second; shown only with --verbose."""
    print("running mutmut (a few minutes)...", flush=True)
    subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(children)], cwd=ROOT, check=False,
                   stdout=None if verbose else subprocess.DEVNULL)


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
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--verbose", action="store_true", help="show mutmut's progress as it runs")
    args = parser.parse_args()
    if not args.report:
        run(args.children, args.verbose)
    return 0 if report(scores()) else 1


if __name__ == "__main__":
    sys.exit(main())
