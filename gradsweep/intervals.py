"""95% intervals, each kept inside its metric's range: Wilson for a proportion, Student-t on
the logit scale for shares, on the log scale for positive metrics, plain t otherwise.

Arrays in, numbers out. `analysis.aggregate` picks one method per metric and applies it to
every group; `findings` and `compare` use the same functions for single sets of values.
"""

from __future__ import annotations

import numpy as np

from gradsweep.metrics import SHARES


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (sensible at 0/n and n/n)."""
    from scipy.stats import binomtest

    if n == 0:
        return (np.nan, np.nan)
    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


# Below this distance from 0 or 1 a share is held, so that its logit is finite.
_EDGE = 1e-4


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """95% Student-t interval of the mean of `values` (NaN for fewer than two)."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return (np.nan, np.nan)
    mean, std = float(values.mean()), float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n))
    return (mean - half, mean + half)


LOGIT, LOG, PLAIN = "t on the logit scale", "t on the log scale (geometric mean)", "t"


def interval_method(values: np.ndarray, metric: str) -> str:
    """Which 95% interval suits these values of `metric`: on the logit scale for shares
    whose values all lie in [0, 1] (accuracies, clip_fraction), on the log scale when every
    value is positive (norms, ratios, losses, counts: an interval for the geometric mean),
    else a plain t-interval. Each keeps the interval inside the metric's range."""
    values = _finite(values)
    if metric in SHARES and ((values >= 0) & (values <= 1)).all():
        return LOGIT
    if len(values) and (values > 0).all():
        return LOG
    return PLAIN


def interval(values: np.ndarray, method: str) -> tuple[float, float]:
    """The 95% interval `method` (from `interval_method`) of the centre of `values`; NaN
    for fewer than two finite values."""
    values = _finite(values)
    if len(values) < 2:
        return (np.nan, np.nan)
    if method == LOGIT:
        held = np.clip(values, _EDGE, 1 - _EDGE)
        low, high = t_interval(np.log(held / (1 - held)))
        low, high = 1 / (1 + np.exp(-low)), 1 / (1 + np.exp(-high))
        # The edge that held a share of exactly 0 or 1 is the range's own edge.
        return (0.0 if low <= _EDGE else float(low), 1.0 if high >= 1 - _EDGE else float(high))
    if method == LOG:
        low, high = t_interval(np.log(values))
        return (float(np.exp(low)), float(np.exp(high)))
    return t_interval(values)


def metric_interval(values: np.ndarray, metric: str) -> tuple[float, float]:
    """A 95% interval for the centre of `values`, by the method that suits them alone."""
    return interval(values, interval_method(values, metric))


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    return values[np.isfinite(values)]


def geometric_mean(values: np.ndarray) -> float:
    """exp(mean(log v)) over the finite values; NaN unless every one of them is positive."""
    values = _finite(values)
    if len(values) == 0 or (values <= 0).any():
        return np.nan
    return float(np.exp(np.log(values).mean()))
