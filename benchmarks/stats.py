"""
The percentile every benchmark prints, defined once so their figures compare.
"""

import math


def percentile(values, fraction):
    """
    The nearest-rank percentile of ``values``: the smallest value with at least ``fraction``
    (0–1) of them at or below it. p95 of 20 runs is the 19th fastest, not the slowest (the
    benchmarks' own copies took the next one up, or interpolated); NaN when there are none.
    """
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = math.ceil(round(fraction * len(ordered), 9))  # 0.07 * 100 is 7.000000000000001: still rank 7
    return ordered[min(max(rank, 1), len(ordered)) - 1]
