"""Values of the search's options as people write them, read the same way by the command line
and the Python API: durations (``90``, ``90s``, ``30m``, ``1.5h``), parameter counts (``50000``,
``50,000``, ``50k``, ``1.5M``) and milliseconds. Each raises ``ValueError`` saying what it wants.
"""

from __future__ import annotations

import math

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
COUNT_UNITS = {"k": 1_000, "m": 1_000_000}


def _scaled(text: str, units: dict[str, int]) -> float:
    number, unit = str(text).strip().replace(",", "").replace("_", ""), 1
    if number[-1:].lower() in units:
        number, unit = number[:-1], units[number[-1].lower()]
    return float(number) * unit


def duration(value: str | float) -> float:
    """Seconds of a positive duration: a number of seconds, or ``90s``, ``30m``, ``2h``."""
    try:
        seconds = float(value) if isinstance(value, (int, float)) and not isinstance(
            value, bool) else _scaled(value, DURATION_UNITS)
    except (TypeError, ValueError):
        raise ValueError(f"must be a duration such as 90s, 30m or 2h (or a number of seconds), "
                         f"got {value!r}") from None
    if not 0 < seconds < math.inf:
        raise ValueError(f"must be a positive duration, got {value!r}")
    return seconds


def parameter_count(value: str | int) -> int:
    """A number of parameters: ``50000``, ``50,000``, ``50k``, ``1.5M``."""
    try:
        count = float(value) if isinstance(value, (int, float)) and not isinstance(
            value, bool) else _scaled(value, COUNT_UNITS)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number of parameters such as 50000, 50k or 1.5M, got "
                         f"{value!r}") from None
    if not count >= 1 or count != int(count):
        raise ValueError(f"must be a whole number of parameters of at least 1, got {value!r}")
    return int(count)


def milliseconds(value: str | float) -> float:
    """A positive number of milliseconds (``5``, ``0.8``, ``5ms``)."""
    try:
        ms = float(value) if isinstance(value, (int, float)) and not isinstance(
            value, bool) else float(str(value).strip().removesuffix("ms"))
    except (TypeError, ValueError):
        raise ValueError(f"must be milliseconds such as 5 or 0.8, got {value!r}") from None
    if not 0 < ms < math.inf:
        raise ValueError(f"must be more than 0 ms, got {value!r}")
    return ms
