"""The soak's memory-growth measure (stdnet bench latency --soak-minutes)."""

import pytest

from stdnet_ros.bench.latency_bench import rss_growth


def trace(minutes: int, rss_of_t) -> list[tuple[float, float]]:
    return [(float(t), rss_of_t(t)) for t in range(1, 60 * minutes)]


def test_first_minute_is_ignored_and_swings_do_not_move_the_base():
    # big start-up growth in minute 1, then flat with +-1 % per-frame swings
    out = rss_growth(trace(10, lambda t: 500.0 + t if t < 60 else 1000.0 + (10.0 if t % 2 else -10.0)))
    assert out["rss_base_mib"] == pytest.approx(1000.0, abs=10.0)
    assert out["rss_growth_after_first_minute"] == pytest.approx(0.01, abs=1e-3)
    assert abs(out["rss_trend"]) < 0.011


def test_a_leak_is_seen_in_peak_and_trend():
    out = rss_growth(trace(10, lambda t: 1000.0 + 0.2 * max(0, t - 60)))  # 12 MiB a minute
    assert out["rss_growth_after_first_minute"] > 0.08
    assert out["rss_trend"] > 0.08


def test_too_short_a_soak_has_no_measure():
    assert rss_growth(trace(1, lambda t: 1000.0))["rss_growth_after_first_minute"] is None
