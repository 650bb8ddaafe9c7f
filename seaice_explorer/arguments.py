"""argparse ``type=`` callables for numbers, so a bad count or rate is refused before any work.

Each raises ``argparse.ArgumentTypeError`` with what is expected and what was given; argparse
prefixes the option name and exits with status 2::

    parser.add_argument("--steps", type=positive_int, default=18)
    # --steps 0  ->  error: argument --steps: expected an integer ≥ 1, got '0'
"""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "non_negative_int", "positive_float", "finite_float", "probability"]


def _integer(text: str, low: int) -> int:
    """An integer ≥ ``low``, else the error argparse shows."""
    expected = f"an integer ≥ {low}"
    try:
        value = int(str(text).strip().replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _finite(text: str, expected: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not math.isfinite(value):  # nan, inf and overflow such as '1e400'
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r} (not a finite number)")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1 (a count: steps, samples, repeats, batch size)."""
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    """An integer ≥ 0 (a seed, a number of warm-up runs or workers)."""
    return _integer(text, 0)


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate, a duration, a sigma)."""
    expected = "a finite number > 0"
    value = _finite(text, expected)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (no nan, no ±inf)."""
    return _finite(text, "a finite number")


def probability(text: str) -> float:
    """A number from 0 to 1 inclusive (a fraction, a threshold, a dropout rate)."""
    expected = "a number from 0 to 1"
    value = _finite(text, expected)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value
