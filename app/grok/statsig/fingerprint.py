"""The fingerprint string L of an `x-statsig-id` (docs/grok-protocol.md: the token), in plain Python.

grok.com's page animates a spinner from a per-build curve table, reads the animated element's
computed style at a seed-dependent moment and hashes the numbers it reads. This module does the
same arithmetic without a browser: pick one curve segment with seed bytes, ease a 4096 ms
animation to a seed-dependent time, interpolate the colour and the rotation, and write every
number the way JavaScript's `Number(x.toFixed(2)).toString(16)` would.

Everything here is pure and deterministic; tests/unit/test_statsig_fingerprint.py checks it
byte for byte against every browser-captured vector of the spec.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Sequence

log = logging.getLogger(__name__)

DURATION_MS = 4096  # the spinner animation's length on the page
SEGMENT_LEN = 11  # start RGB, end RGB, rotation byte, four easing bytes
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TWO_PLACES = Decimal("0.01")
_SIX_DIGITS = Context(prec=6, rounding=ROUND_HALF_UP)

Segment = Sequence[int]
CurveTable = Sequence[Sequence[Segment]]


@dataclass(frozen=True)
class IndexSet:
    """Which seed bytes a build reads: the curve group, the segment and three time factors."""

    group: int
    segment: int
    times: tuple[int, int, int]

    @classmethod
    def of(cls, values: Sequence[int]) -> "IndexSet":
        """From the five numbers G, S, t1, t2, t3 (the order the docs and the CLI print)."""
        if len(values) != 5 or not all(isinstance(v, int) and 0 <= v < 48 for v in values):
            raise ValueError("an index set is five seed positions 0-47: group, segment, time x3")
        return cls(values[0], values[1], (values[2], values[3], values[4]))

    def as_list(self) -> list[int]:
        return [self.group, self.segment, *self.times]

    def __str__(self) -> str:
        return ",".join(str(v) for v in self.as_list())


# ---------------------------------------------------------------------- JavaScript number formatting
def js_round(value: float) -> int:
    """`Math.round`: halves go up (towards +infinity), unlike Python's round()."""
    return math.floor(value + 0.5)


def fixed2(value: float) -> float:
    """`Number(value.toFixed(2))`: the exact binary value rounded to 2 places, ties away from zero."""
    return float(Decimal(value).quantize(_TWO_PLACES, rounding=ROUND_HALF_UP))


def six_digits(value: float) -> float:
    """The number as `getComputedStyle` writes it in a matrix(): 6 significant digits."""
    if value == 0:
        return 0.0
    return float(_SIX_DIGITS.plus(Decimal(value)))


def js_hex(value: float) -> str:
    """`Number.prototype.toString(16)` of a double, as V8 writes it (its DoubleToRadixCString).

    Integers are plain lowercase hex without padding; a fraction gets the shortest run of hex
    digits that still reads back as the same double. -0 prints as "0".
    """
    if value != value or abs(value) >= 2**53:  # NaN, infinities, integers beyond a double's precision
        raise ValueError(f"no hex form for {value!r} here")
    negative = value < 0
    value = -value if negative else value
    integer = math.floor(value)
    fraction = value - integer
    # Half the distance to the next double: digits below it carry no information.
    delta = max(0.5 * (math.nextafter(value, math.inf) - value), math.nextafter(0.0, 1.0))
    digits: list[int] = []
    if fraction >= delta:
        while True:
            fraction *= 16
            delta *= 16
            digit = int(fraction)
            digits.append(digit)
            fraction -= digit
            if (fraction > 0.5 or (fraction == 0.5 and digit & 1)) and fraction + delta > 1:
                # Round the digits written so far up; a carry may reach the integer part.
                while digits and digits[-1] == 15:
                    digits.pop()
                if digits:
                    digits[-1] += 1
                else:
                    integer += 1
                break
            if fraction < delta:
                break
    text = format(int(integer), "x")
    if digits:
        text += "." + "".join(_DIGITS[d] for d in digits)
    return "-" + text if negative else text


# ---------------------------------------------------------------------- the animation
def _bezier_progress(x1: float, y1: float, x2: float, y2: float, progress: float) -> float:
    """The eased value of a CSS cubic-bezier(x1, y1, x2, y2) at time fraction `progress`.

    x1 and x2 lie in [0, 1], so X(t) rises monotonically and the t with X(t) = progress is
    unique: Newton's method from t = progress, bisection if it stalls. The result may leave
    [0, 1] (the y controls reach -1 and 1) and is not clamped.
    """
    cx = 3 * x1
    bx = 3 * (x2 - x1) - cx
    ax = 1 - cx - bx
    cy = 3 * y1
    by = 3 * (y2 - y1) - cy
    ay = 1 - cy - by

    def x_at(t: float) -> float:
        return ((ax * t + bx) * t + cx) * t

    t = progress
    for _ in range(60):
        error = x_at(t) - progress
        if abs(error) < 1e-12:
            break
        slope = (3 * ax * t + 2 * bx) * t + cx
        if abs(slope) < 1e-12:
            t = _bisect(x_at, progress)
            break
        t -= error / slope
    else:
        t = _bisect(x_at, progress)
    t = min(1.0, max(0.0, t))
    return ((ay * t + by) * t + cy) * t


def _bisect(x_at, target: float) -> float:
    low, high = 0.0, 1.0
    for _ in range(200):
        middle = (low + high) / 2
        if x_at(middle) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def animation_time(seed: bytes, index: IndexSet) -> int:
    """The moment (ms) the page samples the animation: product of three seed nibbles, to 10 ms."""
    product = 1
    for position in index.times:
        product *= seed[position] % 16
    return js_round(product / 10) * 10


def select_segment(seed: bytes, table: CurveTable, index: IndexSet) -> Segment:
    return table[seed[index.group] % 4][seed[index.segment] % 16]


def computed_style(segment: Segment, time_ms: int, *, browser_precision: bool = True) -> list[float]:
    """The nine numbers the page reads: the colour's RGB and the rotation matrix (a, b, -b, a, 0, 0)."""
    if len(segment) != SEGMENT_LEN:
        raise ValueError(f"a curve segment has {SEGMENT_LEN} numbers, got {len(segment)}")
    r0, g0, b0, r1, g1, b1, rotation, e0, e1, e2, e3 = segment
    end_angle = 60 + rotation * 300 // 255
    x1, y1 = fixed2(e0 / 255), fixed2(e1 * 2 / 255 - 1)
    x2, y2 = fixed2(e2 / 255), fixed2(e3 * 2 / 255 - 1)
    eased = _bezier_progress(x1, y1, x2, y2, time_ms / DURATION_MS)
    colour = [
        min(255, max(0, js_round(start + (end - start) * eased))) for start, end in ((r0, r1), (g0, g1), (b0, b1))
    ]
    radians = end_angle * eased * math.pi / 180
    cos, sin = math.cos(radians), math.sin(radians)
    if browser_precision:
        cos, sin = six_digits(cos), six_digits(sin)
    if sin and abs(sin) < 1e-6:
        # A browser may print such a value in exponent form, which the page would read as two
        # numbers; no capture shows what happens then.
        log.warning("statsig fingerprint: rotation sine %.3g may be printed in exponent form by a browser", sin)
    return [float(c) for c in colour] + [cos, sin, -sin, cos, 0.0, 0.0]


def fingerprint(seed: bytes, table: CurveTable, index: IndexSet, *, browser_precision: bool = True) -> str:
    """L for one seed: the nine numbers as 2-decimal hex strings, joined, without '.' and '-'."""
    if len(seed) != 48:
        raise ValueError(f"a seed has 48 bytes, got {len(seed)}")
    segment = select_segment(seed, table, index)
    numbers = computed_style(segment, animation_time(seed, index), browser_precision=browser_precision)
    text = "".join(js_hex(fixed2(number)) for number in numbers)
    return text.replace(".", "").replace("-", "")
