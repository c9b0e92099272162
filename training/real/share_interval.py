"""How far a share measured on a few photos can be trusted: a 95 % Wilson interval, and an exact paired test.

The real-photo splits are small (21 development, 79 validation single-fruit photos: one photo moves a share by 0.05
or 0.013), so a figure alone invites reading noise as progress. Reports give each overall share its interval, and
`qc compare-photos` asks whether two models differ on the same photos (the photos each gets right that the other
does not; the exact McNemar test: under no difference, either is equally likely to be the one that is right).
"""

from __future__ import annotations

from scipy.stats import binomtest

LEVEL = 0.95


def wilson(num: int, den: int) -> list[float] | None:
    """The 95 % Wilson score interval of ``num / den`` as ``[low, high]``, rounded as reports round shares; None when
    there is nothing to share. Wilson, not the normal approximation, because shares here sit near 0 and 1 and the
    counts are small, where the normal interval leaves [0, 1] or collapses to a point."""
    if den <= 0:
        return None
    if not 0 <= num <= den:
        raise ValueError(f"a share needs 0 <= {num} <= {den}")
    ci = binomtest(num, den).proportion_ci(confidence_level=LEVEL, method="wilson")
    return [round(float(ci.low), 3), round(float(ci.high), 3)]


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: ``only_a`` photos the first model gets right and
    the second does not, ``only_b`` the reverse (photos both get right or both wrong say nothing about which is
    better). 1.0 when there are none."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"counts of photos cannot be negative ({only_a}, {only_b})")
    n = only_a + only_b
    if n == 0:
        return 1.0
    return round(float(binomtest(only_a, n, 0.5).pvalue), 4)
