"""Backoff: exponential growth, cap, jitter bounds, reset, and bad settings."""

from __future__ import annotations

import random

import pytest

from edge.capture.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, rng=random.Random(7))
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    for ceiling in ceilings:
        delay = backoff.next_delay()
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.attempts == len(ceilings)


def test_jitter_spreads_a_fleet_of_daemons() -> None:
    delays = {round(Backoff(initial=1.0, maximum=8.0, rng=random.Random(seed)).next_delay(), 6) for seed in range(20)}
    assert len(delays) == 20  # twenty daemons that lost the service together do not retry in lock-step


def test_reset_starts_over_after_a_success() -> None:
    backoff = Backoff(initial=0.1, maximum=10.0, rng=random.Random(1))
    for _ in range(6):
        backoff.next_delay()
    assert backoff.ceiling() == pytest.approx(6.4)
    backoff.reset()
    assert backoff.ceiling() == pytest.approx(0.1)
    assert backoff.next_delay() <= 0.1


def test_a_long_outage_does_not_overflow() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, rng=random.Random(3))
    backoff.attempts = 10_000
    assert 15.0 <= backoff.next_delay() <= 30.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0.0}, "initial"),
        ({"initial": 5.0, "maximum": 1.0}, "initial"),
        ({"factor": 0.5}, "factor"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)
