"""The one percentile the benchmarks print (benchmarks/stats.py): the figures in the docs come from it."""

import math

from benchmarks.stats import percentile


def test_p95_of_twenty_runs_is_the_nineteenth_not_the_slowest():
    runs = list(range(20, 0, -1))  # any order
    assert percentile(runs, 0.95) == 19
    assert percentile(runs, 1.0) == 20


def test_nearest_rank_on_a_hundred_values():
    values = list(range(1, 101))
    assert [percentile(values, f) for f in (0.5, 0.95, 0.99, 0.07)] == [50, 95, 99, 7]  # 0.07 * 100 = 7.000000000000001


def test_small_and_empty_samples():
    assert percentile([3.5], 0.95) == 3.5
    assert percentile([1, 2, 3, 4], 0.5) == 2
    assert percentile([4, 1], 0.0) == 1
    assert math.isnan(percentile([], 0.95))
