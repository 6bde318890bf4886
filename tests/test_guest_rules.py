"""Placeholder; filled in by the tests of issue 25."""
