"""Values of the search's options as people write them, read the same way by the command line
and the Python API: durations (``90``, ``90s``, ``30m``, ``1.5h``), parameter counts (``50000``,
``50,000``, ``50k``, ``1.5M``) and milliseconds. Each raises ``ValueError`` saying what it wants.
"""

from __future__ import annotations

import math

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
COUNT_UNITS = {"k": 1_000, "m": 1_000_000}


def _number(value: str | float, units: dict[str, int], wanted: str) -> float:
    """A number as given, or written with a unit suffix (and , or _ between digits)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    number, unit = str(value).strip().replace(",", "").replace("_", ""), 1
    if number[-1:].lower() in units:
        number, unit = number[:-1], units[number[-1].lower()]
    try:
        return float(number) * unit
    except ValueError:
        raise ValueError(f"must be {wanted}, got {value!r}") from None


def duration(value: str | float) -> float:
    """Seconds of a positive duration: a number of seconds, or ``90s``, ``30m``, ``2h``."""
    seconds = _number(value, DURATION_UNITS,
                      "a duration such as 90s, 30m or 2h (or a number of seconds)")
    if not 0 < seconds < math.inf:
        raise ValueError(f"must be a positive duration, got {value!r}")
    return seconds


def parameter_count(value: str | int) -> int:
    """A number of parameters: ``50000``, ``50,000``, ``50k``, ``1.5M``."""
    count = _number(value, COUNT_UNITS, "a number of parameters such as 50000, 50k or 1.5M")
    if not count >= 1 or count != int(count):
        raise ValueError(f"must be a whole number of parameters of at least 1, got {value!r}")
    return int(count)


def milliseconds(value: str | float) -> float:
    """A positive number of milliseconds (``5``, ``0.8``, ``5ms``)."""
    ms = _number(str(value).strip().removesuffix("ms") if isinstance(value, str) else value,
                 {}, "milliseconds such as 5 or 0.8")
    if not 0 < ms < math.inf:
        raise ValueError(f"must be more than 0 ms, got {value!r}")
    return ms
