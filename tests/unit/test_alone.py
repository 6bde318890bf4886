"""One item alone (coprod/running/alone.py): the one guard of "one bad item does not stop the run"."""

from __future__ import annotations

import logging

import pytest

from coprod.running import alone, describe


def test_an_unexpected_error_is_handed_to_failed_and_goes_no_further(caplog: pytest.LogCaptureFixture) -> None:
    failed: list[Exception] = []
    done = []
    for n in range(3):
        with alone("A registration", failed.append):
            if n == 1:
                raise ValueError("ann@example.org is not a number")  # a message that quotes personal data
            done.append(n)
    assert done == [0, 2]
    assert [type(error) for error in failed] == [ValueError]
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("A registration was set aside (ValueError at test_alone.py:")
    assert "ann@example.org" not in caplog.text


def test_without_failed_the_error_is_still_stopped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with alone("An update"):
        raise KeyError("x")
    assert "An update was set aside (KeyError at test_alone.py:" in caplog.text


def test_an_interrupt_is_not_caught() -> None:
    """Ctrl+C and a process being stopped are not an item's problem: they stop the run."""
    with pytest.raises(KeyboardInterrupt), alone("An item"):
        raise KeyboardInterrupt


def test_nothing_is_logged_or_called_when_the_work_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    failed: list[Exception] = []
    with alone("An item", failed.append):
        pass
    assert failed == [] and caplog.records == []


def test_an_error_is_described_by_its_type_and_the_line_that_raised_it() -> None:
    try:
        {}["ann@example.org"]
    except KeyError as error:
        said = describe(error)
    assert said.startswith("KeyError at test_alone.py:") and "ann" not in said
    assert describe(RuntimeError("secret")) == "RuntimeError"  # never raised: no line to name
