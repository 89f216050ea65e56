"""Judging a finished result without the coverage tracer.

Under Python 3.11 a trace function slows every frame, measured or not: pyHanko's
pure-Python validation of a ten-signer PDF took 161 s traced against 37 s untraced. An
independent judge's work (pyHanko validating what Trustroom made) measures the judge, not
Trustroom, whose code ran traced before; so it runs with coverage paused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import coverage


@contextmanager
def untraced() -> Iterator[None]:
    """Coverage paused in this thread for the block (a no-op when nothing is measured)."""
    measuring = coverage.Coverage.current()
    if measuring is None:
        yield
        return
    measuring.stop()
    try:
        yield
    finally:
        measuring.start()
