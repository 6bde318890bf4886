"""How the jobs run safely, shared by all of them: one runner at a time (`lease`), and each item alone (`alone`).

Two rules every job keeps: overlapping runs do not both work (coprod/running/lease.py), and one item that fails
in a way nobody foresaw (a bug, a value no rule expected) does not stop the others (coprod/running/alone.py). The
run's harness (coprod/run) applies the same rule to whole jobs.
"""

from coprod.running.alone import alone, describe

__all__ = ["alone", "describe"]
