"""Customer lifetime value: BG/NBD (Fader, Hardie & Lee 2005) for how many purchases a person
will make, Gamma-Gamma (Fader & Hardie 2013) for what a purchase is worth.

The time unit is the UTC day and a purchase is a day with orders (the `lifetimes` convention:
two orders on one day are one purchase, worth their sum). A person is summarised by
(frequency, recency, T, monetary_value) at a cutoff; see `clv_summary`.

Only a few parameters are fitted, and the likelihood depends on a person only through their
summary, so Spark counts the persons per distinct summary and the driver maximises the weighted
likelihood over those counts. What is collected is bounded by the history, not the population:
  * BG/NBD: distinct (frequency, recency, T) triples. At day granularity and a history of D days,
    frequency <= recency <= T <= D, so there are at most ~D^3/6 of them and in practice far fewer
    (most persons buy a few times). The same triples carry the hypergeometric function of the
    conditional expectation, which Spark SQL lacks; it is computed on the driver and
    broadcast-joined back.
  * Gamma-Gamma: monetary values are continuous, so (frequency, monetary_value) is binned on a
    log scale of MONETARY_BIN_WIDTH (0.5%) relative width: at most (distinct frequencies) x
    (log range of values / 0.005) groups, e.g. ~3,700 bins from 0.01 to 1,000,000.
Every collect stops at `max_groups` rows and raises ClvFitError beyond that, rather than
pulling an unexpectedly large table onto the driver.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StructField, StructType
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from journeylake.core.clock import utc_date
from journeylake.core.columns import require_columns
from journeylake.core.errors import UserError

ORDER_COLUMNS = ("person_id", "ts", "amount")
SUMMARY_COLUMNS = (
    "person_id", "frequency", "recency", "T", "monetary_value", "orders", "total_value",
)
PREDICTION_COLUMNS = ("expected_purchases", "probability_alive", "expected_order_value", "clv")
HOLDOUT_COLUMNS = ("actual_purchases", "actual_value", "baseline_purchases", "baseline_value")

# Relative width of the monetary bins of the Gamma-Gamma fit: ln(1.005).
MONETARY_BIN_WIDTH = math.log1p(0.005)
# The most rows any function here collects to the driver (distinct summaries or bins).
MAX_GROUPS = 500_000
# Fewer persons than this cannot identify four (three) parameters in any useful way.
MIN_PERSONS = 20

_MICROS_PER_DAY = 86_400 * 1_000_000
# The conditional expectation of BG/NBD divides by a - 1; its limit at a = 1 is finite, so a is
# moved off 1 by this much (relative) there instead of dividing by zero.
_A_NEAR_ONE = 1e-6


class ClvFitError(UserError, ValueError):
    """The data cannot support the model: too few persons, no repeat buyers, too many distinct
    summaries to collect, or an optimisation that did not converge."""


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD: purchase rate lambda ~ Gamma(shape r, rate alpha) per day, dropout probability
    after each repeat purchase p ~ Beta(a, b). log_likelihood (total, without the penalty) and
    persons describe the fit; nan and 0 for parameters that were not fitted."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = math.nan
    persons: int = 0

    @property
    def mean_purchase_rate(self) -> float:
        """E[lambda] = r / alpha: purchases per day of a person while alive."""
        return self.r / self.alpha

    @property
    def mean_dropout(self) -> float:
        """E[p] = a / (a + b): the chance of leaving after a repeat purchase."""
        return self.a / (self.a + self.b)


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma: a purchase's value ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate v)
    per person. log_likelihood and persons (the repeat buyers fitted on) as for BgNbdParams."""

    p: float
    q: float
    v: float
    log_likelihood: float = math.nan
    persons: int = 0

    @property
    def mean_order_value(self) -> float:
        """The population's mean purchase value p v / (q - 1); infinite when q <= 1."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else math.inf


@dataclass(frozen=True)
class ForecastErrors:
    """One predictor's errors per person over the holdout, and its totals."""

    purchases_mae: float
    purchases_rmse: float
    value_mae: float
    value_rmse: float
    predicted_purchases: float
    predicted_value: float


@dataclass(frozen=True)
class HoldoutReport:
    """The model and the naive baseline against what the persons did in the holdout."""

    persons: int
    horizon_days: float
    actual_purchases: float
    actual_value: float
    model: ForecastErrors
    baseline: ForecastErrors
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams

    def as_metrics(self) -> dict[str, float]:
        """Flat names for a metrics logger (MLflow): model_purchases_mae, baseline_value_rmse..."""
        metrics = {"persons": float(self.persons), "horizon_days": self.horizon_days,
                   "actual_purchases": self.actual_purchases, "actual_value": self.actual_value}
        for name, errors in (("model", self.model), ("baseline", self.baseline)):
            metrics.update({f"{name}_{key}": float(value)
                            for key, value in errors.__dict__.items()})
        return metrics


# --- Summary --------------------------------------------------------------------------------


def clv_summary(orders: DataFrame, cutoff: datetime) -> DataFrame:
    """SUMMARY_COLUMNS, one row per person with an order before `cutoff`.

    orders: person_id, ts (timestamp), amount (in one currency); other columns are ignored, and
    so are orders at or after the cutoff and orders without a person, ts or amount. A naive
    cutoff is read in the session time zone (journeylake pins it to UTC).

    A purchase is a UTC day with orders, worth the sum of that day's amounts.
      frequency: repeat purchases, the purchase days after the first (long).
      recency: days from the first purchase day to the last (double, whole days).
      T: days from the start (UTC midnight) of the first purchase day to the cutoff (double;
        whole days when the cutoff is a midnight).
      monetary_value: mean value of the repeat purchase days, 0 when frequency is 0 (double).
        The first day is left out, as Gamma-Gamma models repeat purchases.
      orders: all the person's orders before the cutoff (long).
      total_value: the sum of all their amounts before the cutoff, first day included (double).
    """
    require_columns(orders, ORDER_COLUMNS, "clv_summary")
    days = (
        orders.where(F.col("person_id").isNotNull() & F.col("ts").isNotNull()
                     & F.col("amount").isNotNull() & (F.col("ts") < F.lit(cutoff)))
        .groupBy("person_id", utc_date("ts").alias("_day"))
        .agg(F.sum(F.col("amount").cast("double")).alias("_value"),
             F.count(F.lit(1)).alias("_orders"))
    )
    persons = days.groupBy("person_id").agg(
        F.min("_day").alias("_first"),
        F.max("_day").alias("_last"),
        F.count(F.lit(1)).alias("_days"),
        F.sum("_orders").alias("orders"),
        F.sum("_value").alias("total_value"),
        F.min_by("_value", "_day").alias("_first_value"),  # one row per day: no ties
    )
    frequency = F.col("_days") - 1
    cutoff_days = F.unix_micros(F.lit(cutoff)) / F.lit(_MICROS_PER_DAY)
    return persons.select(
        "person_id",
        frequency.cast("long").alias("frequency"),
        F.date_diff("_last", "_first").cast("double").alias("recency"),
        (cutoff_days - F.unix_date("_first")).cast("double").alias("T"),
        F.when(frequency > 0, (F.col("total_value") - F.col("_first_value")) / frequency)
        .otherwise(F.lit(0.0)).cast("double").alias("monetary_value"),
        F.col("orders").cast("long").alias("orders"),
        F.col("total_value").cast("double").alias("total_value"),
    )


# --- Likelihoods and expectations, on the driver ---------------------------------------------


def _arrays(*values: Sequence[float] | np.ndarray | float) -> list[np.ndarray]:
    return [np.asarray(value, dtype=float) for value in values]


def bgnbd_log_likelihood(params: BgNbdParams, frequency: Sequence[float] | np.ndarray,
                         recency: Sequence[float] | np.ndarray,
                         T: Sequence[float] | np.ndarray) -> np.ndarray:  # noqa: N803
    """Each person's BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6), as an array.

    L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x)),
    summed in log space (logaddexp) so that large x or T do not underflow.
    """
    x, t_x, t = np.broadcast_arrays(*_arrays(frequency, recency, T))
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    survived = betaln(a, b + x) - (r + x) * np.log(alpha + t)
    repeat = x > 0
    # The second term exists only for repeat buyers; elsewhere b + x - 1 may be negative.
    dropped = np.full(x.shape, -np.inf)
    dropped[repeat] = (betaln(a + 1, b + x[repeat] - 1)
                       - (r + x[repeat]) * np.log(alpha + t_x[repeat]))
    return np.asarray(common + np.logaddexp(survived, dropped))


def _log_odds_dead(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray,
                   t: np.ndarray) -> np.ndarray:
    """log(a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) for repeat buyers, -inf for the others:
    the log of P(dead)/P(alive) given the summary."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    odds = np.full(x.shape, -np.inf)
    repeat = x > 0
    odds[repeat] = (np.log(a) - np.log(b + x[repeat] - 1) + (r + x[repeat])
                    * (np.log(alpha + t[repeat]) - np.log(alpha + t_x[repeat])))
    return odds


def bgnbd_probability_alive(params: BgNbdParams, frequency: Sequence[float] | np.ndarray,
                            recency: Sequence[float] | np.ndarray,
                            T: Sequence[float] | np.ndarray) -> np.ndarray:  # noqa: N803
    """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
    (Fader, Hardie & Lee 2008 note, eq. 2): 1 for persons without repeat purchases, who in
    BG/NBD cannot have left yet."""
    x, t_x, t = np.broadcast_arrays(*_arrays(frequency, recency, T))
    return np.asarray(np.exp(-np.logaddexp(0.0, _log_odds_dead(params, x, t_x, t))))


def bgnbd_expected_purchases(params: BgNbdParams, frequency: Sequence[float] | np.ndarray,
                             recency: Sequence[float] | np.ndarray,
                             T: Sequence[float] | np.ndarray,  # noqa: N803
                             horizon_days: float) -> np.ndarray:
    """E[purchases in (T, T + horizon] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10):

    (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] P(alive)
    with z = t/(alpha+T+t). Euler's transformation 2F1(A, B; C; z) =
    (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the bracket into
    1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): the same value, but the first two
    arguments no longer grow with x, so the series neither overflows nor cancels for heavy
    buyers.
    """
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    x, t_x, t = np.broadcast_arrays(*_arrays(frequency, recency, T))
    r, alpha, b = params.r, params.alpha, params.b
    a = params.a * (1 + _A_NEAR_ONE) if abs(params.a - 1) < _A_NEAR_ONE else params.a
    z = horizon_days / (alpha + t + horizon_days)
    bracket = 1 - (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    unconditional = (a + b + x - 1) / (a - 1) * bracket
    alive = np.exp(-np.logaddexp(0.0, _log_odds_dead(params, x, t_x, t)))
    return np.asarray(unconditional * alive)


def gamma_gamma_log_likelihood(params: GammaGammaParams,
                               frequency: Sequence[float] | np.ndarray,
                               monetary_value: Sequence[float] | np.ndarray) -> np.ndarray:
    """Each repeat buyer's Gamma-Gamma log-likelihood of their mean purchase value m over x
    purchases (Fader & Hardie 2013, eq. 3), as an array:

    f(m | x) = G(px+q) / (G(px) G(q)) v^q m^(px-1) x^(px) / (v + x m)^(px+q).
    """
    x, m = np.broadcast_arrays(*_arrays(frequency, monetary_value))
    return _gamma_gamma_ll(params.p, params.q, params.v, x, np.log(m), m)


def _gamma_gamma_ll(p: float, q: float, v: float, x: np.ndarray, log_m: np.ndarray,
                    m: np.ndarray) -> np.ndarray:
    px = p * x
    return np.asarray(gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
                      + (px - 1) * log_m + px * np.log(x) - (px + q) * np.log(v + x * m))


# --- Fitting ---------------------------------------------------------------------------------


def _collect_bounded(groups: DataFrame, max_groups: int, what: str) -> list[tuple]:
    # Bounded by construction: never more than max_groups + 1 rows reach the driver.
    rows = [tuple(row) for row in groups.limit(max_groups + 1).collect()]
    if len(rows) > max_groups:
        raise ClvFitError(f"{what}: more than max_groups={max_groups} distinct groups to "
                          f"collect; raise max_groups if the driver can hold them")
    return rows


def _columns(rows: list[tuple], count: int) -> list[np.ndarray]:
    """The collected rows as `count` float arrays, one per column."""
    if not rows:
        return [np.zeros(0) for _ in range(count)]
    return [np.array(column, dtype=float) for column in zip(*rows, strict=True)]


def _triples(summary: DataFrame) -> DataFrame:
    return summary.select(F.col("frequency").cast("long").alias("frequency"),
                          F.col("recency").cast("double").alias("recency"),
                          F.col("T").cast("double").alias("T"))


def _check_triples(x: np.ndarray, t_x: np.ndarray, t: np.ndarray, what: str) -> None:
    bad = ~(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(t) & (x >= 0) & (t_x >= 0)
            & (t_x <= t) & ((x > 0) | (t_x == 0)))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{what}: summaries need 0 <= recency <= T and recency = 0 when "
                         f"frequency = 0, without nulls; found frequency={x[i]}, "
                         f"recency={t_x[i]}, T={t[i]}")


def _minimize(objective: Callable[[np.ndarray], float], start: np.ndarray,
              what: str) -> np.ndarray:
    """The minimum of objective over log-parameters. L-BFGS-B first (fast); Nelder-Mead from
    its end point, which needs no gradient, when it reports a failure (often just the line
    search giving up near the optimum of a flat likelihood)."""
    def safe(theta: np.ndarray) -> float:
        value = objective(theta)
        return value if math.isfinite(value) else math.inf

    # Bounds on log-parameters keep the search out of gammaln's overflow: e^-12 .. e^12.
    bounds = [(-12.0, 12.0)] * len(start)
    result = minimize(safe, start, method="L-BFGS-B", bounds=bounds)
    if not result.success:
        result = minimize(safe, result.x, method="Nelder-Mead", bounds=bounds,
                          options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 20_000})
    if not result.success or not np.all(np.isfinite(result.x)):
        raise ClvFitError(f"{what} did not converge: {result.message}")
    return np.asarray(result.x)


def fit_bgnbd(summary: DataFrame, penalizer: float = 0.0, *, max_groups: int = MAX_GROUPS,
              min_persons: int = MIN_PERSONS) -> BgNbdParams:
    """BG/NBD parameters by maximum likelihood.

    summary: frequency, recency, T (as from `clv_summary`; other columns are ignored). Spark
    counts the persons per distinct (frequency, recency, T) and only those counts are
    collected (at most max_groups). penalizer adds penalizer * (r^2 + alpha^2 + a^2 + b^2) to
    the mean negative log-likelihood per person, the `lifetimes` convention, so the same
    values shrink the same way. Raises ClvFitError for fewer than min_persons persons or no
    repeat buyer (without one, the dropout has no information and the maximum is at a
    boundary).
    """
    require_columns(summary, ("frequency", "recency", "T"), "fit_bgnbd")
    if penalizer < 0:
        raise ValueError(f"penalizer must be >= 0, got {penalizer}")
    groups = _triples(summary).groupBy("frequency", "recency", "T").agg(
        F.count(F.lit(1)).alias("persons"))
    rows = _collect_bounded(groups, max_groups, "fit_bgnbd")
    x, t_x, t, n = _columns(rows, 4)
    persons = int(n.sum())
    if persons < min_persons:
        raise ClvFitError(f"fit_bgnbd needs at least {min_persons} persons, got {persons}")
    _check_triples(x, t_x, t, "fit_bgnbd")
    if not (x > 0).any():
        raise ClvFitError("fit_bgnbd: no person has a repeat purchase, so the dropout "
                          "cannot be estimated")

    def objective(theta: np.ndarray) -> float:
        r, alpha, a, b = np.exp(theta)
        ll = bgnbd_log_likelihood(BgNbdParams(r, alpha, a, b), x, t_x, t)
        return float(-(n * ll).sum() / persons + penalizer * (r**2 + alpha**2 + a**2 + b**2))

    # Start where the mean rate r/alpha matches the data's repeat purchases per day.
    rate = max(float((n * x).sum() / max((n * t).sum(), 1.0)), 1e-6)
    theta = _minimize(objective, np.log([1.0, 1.0 / rate, 1.0, 1.0]), "fit_bgnbd")
    r, alpha, a, b = (float(value) for value in np.exp(theta))
    params = BgNbdParams(r, alpha, a, b)
    ll = float((n * bgnbd_log_likelihood(params, x, t_x, t)).sum())
    return BgNbdParams(r, alpha, a, b, ll, persons)


def fit_gamma_gamma(summary: DataFrame, penalizer: float = 0.0, *,
                    max_groups: int = MAX_GROUPS,
                    min_persons: int = MIN_PERSONS) -> GammaGammaParams:
    """Gamma-Gamma parameters by maximum likelihood over the repeat buyers (frequency > 0)
    with a positive monetary_value (the model's support: net refunds leave a person out).

    summary: frequency, monetary_value. Spark groups the buyers by frequency and by bins of
    ln(monetary_value) MONETARY_BIN_WIDTH wide (0.5%), keeping each group's count and mean
    ln(monetary_value). The likelihood's (px-1) ln m and px ln x terms are then exact; only
    ln(v + x m) is taken at the group's geometric mean, an error below (0.0025)^2/8 ~ 1e-6
    per person, far inside the sampling error of any fit. penalizer as in `fit_bgnbd`, over
    p, q and v. Raises ClvFitError for fewer than min_persons such buyers.
    """
    require_columns(summary, ("frequency", "monetary_value"), "fit_gamma_gamma")
    if penalizer < 0:
        raise ValueError(f"penalizer must be >= 0, got {penalizer}")
    log_m = F.log(F.col("monetary_value").cast("double"))
    groups = (
        summary.where((F.col("frequency") > 0) & (F.col("monetary_value") > 0))
        .select(F.col("frequency").cast("long").alias("frequency"), log_m.alias("_log_m"))
        .groupBy("frequency", F.floor(F.col("_log_m") / MONETARY_BIN_WIDTH).alias("_bin"))
        .agg(F.count(F.lit(1)).alias("persons"), F.avg("_log_m").alias("_log_m"))
        .select("frequency", "persons", "_log_m")
    )
    rows = _collect_bounded(groups, max_groups, "fit_gamma_gamma")
    x, n, log_mean = _columns(rows, 3)
    persons = int(n.sum())
    if persons < min_persons:
        raise ClvFitError(f"fit_gamma_gamma needs at least {min_persons} repeat buyers with a "
                          f"positive monetary_value, got {persons}")
    mean = np.exp(log_mean)

    def objective(theta: np.ndarray) -> float:
        p, q, v = np.exp(theta)
        ll = _gamma_gamma_ll(p, q, v, x, log_mean, mean)
        return float(-(n * ll).sum() / persons + penalizer * (p**2 + q**2 + v**2))

    # Start at p = 2, q = 3, where the population mean p v / (q - 1) is v: the data's mean.
    start = np.log([2.0, 3.0, float((n * mean).sum() / persons)])
    p, q, v = (float(value) for value in np.exp(_minimize(objective, start, "fit_gamma_gamma")))
    ll = float((n * _gamma_gamma_ll(p, q, v, x, log_mean, mean)).sum())
    return GammaGammaParams(p, q, v, ll, persons)


# --- Prediction ------------------------------------------------------------------------------

_LOOKUP_SCHEMA = StructType([
    StructField("_clv_x", LongType()), StructField("_clv_t_x", DoubleType()),
    StructField("_clv_t", DoubleType()), StructField("expected_purchases", DoubleType()),
    StructField("probability_alive", DoubleType()),
])


def expected_order_value(gamma_gamma: GammaGammaParams, frequency: Column | str = "frequency",
                         monetary_value: Column | str = "monetary_value") -> Column:
    """Gamma-Gamma's E[purchase value | x, m] = p (v + x m) / (p x + q - 1) (Fader & Hardie
    2013, eq. 5), a weighted mean of the population's p v / (q - 1) and the person's own m; the
    population mean when x = 0. A negative m (net refunds) counts as 0. Raises ValueError when
    q <= 1, where the population mean is infinite."""
    if not gamma_gamma.q > 1:
        raise ValueError(f"Gamma-Gamma has no finite mean order value for q <= 1, "
                         f"got q={gamma_gamma.q}")
    p, q, v = gamma_gamma.p, gamma_gamma.q, gamma_gamma.v
    x = F.col(frequency) if isinstance(frequency, str) else frequency
    m = F.col(monetary_value) if isinstance(monetary_value, str) else monetary_value
    own = F.lit(p) * (F.lit(v) + x * F.greatest(m, F.lit(0.0))) / (F.lit(p) * x + F.lit(q - 1))
    return F.when(x > 0, own).otherwise(F.lit(p * v / (q - 1))).cast("double")


def predict_clv(summary: DataFrame, bgnbd: BgNbdParams, gamma_gamma: GammaGammaParams,
                horizon_days: float, *, max_groups: int = MAX_GROUPS) -> DataFrame:
    """The summary with PREDICTION_COLUMNS added:
      expected_purchases: BG/NBD's expected purchases (purchase days) in (T, T + horizon_days].
      probability_alive: BG/NBD's P(still a customer at T).
      expected_order_value: Gamma-Gamma's expected value of one purchase (`expected_order_value`).
      clv: expected_purchases x expected_order_value, undiscounted and before any margin.

    summary: person_id, frequency, recency, T, monetary_value (as from `clv_summary`; other
    columns are kept). The hypergeometric function is computed on the driver over the distinct
    (frequency, recency, T), at most max_groups, and broadcast-joined back.
    """
    require_columns(summary, ("person_id", "frequency", "recency", "T", "monetary_value"),
                    "predict_clv")
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    order_value = expected_order_value(gamma_gamma)  # fails on q <= 1 before any Spark job
    rows = _collect_bounded(_triples(summary).distinct(), max_groups, "predict_clv")
    x, t_x, t = _columns(rows, 3)
    _check_triples(x, t_x, t, "predict_clv")
    purchases = bgnbd_expected_purchases(bgnbd, x, t_x, t, horizon_days)
    alive = bgnbd_probability_alive(bgnbd, x, t_x, t)
    if not (np.all(np.isfinite(purchases)) and np.all(np.isfinite(alive))):
        # Seen with a few days of history: the fit runs to r, alpha -> infinity (every
        # customer buys at one rate) and the hypergeometric series cancels to nothing.
        raise ClvFitError(
            f"predict_clv: BG/NBD parameters r={bgnbd.r:.4g}, alpha={bgnbd.alpha:.4g} give no "
            "finite expectation; the orders cover too short a history for the model")
    lookup = summary.sparkSession.createDataFrame(
        [(int(row[0]), float(row[1]), float(row[2]), float(e), float(pa))
         for row, e, pa in zip(rows, purchases, alive, strict=True)],
        _LOOKUP_SCHEMA,
    )
    key = ((F.col("frequency").cast("long") == F.col("_clv_x"))
           & (F.col("recency").cast("double") == F.col("_clv_t_x"))
           & (F.col("T").cast("double") == F.col("_clv_t")))
    return (
        summary.join(F.broadcast(lookup), key, "left")
        .drop("_clv_x", "_clv_t_x", "_clv_t")
        .withColumn("expected_order_value", order_value)
        .withColumn("clv", F.col("expected_purchases") * F.col("expected_order_value"))
    )


# --- Holdout check ---------------------------------------------------------------------------


def _is_utc_midnight(moment: datetime) -> bool:
    utc = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return utc.time() == datetime.min.time()


def _days(span: timedelta) -> float:
    return span / timedelta(days=1)


def holdout_comparison(orders: DataFrame, cutoff: datetime, holdout_end: datetime,
                       bgnbd: BgNbdParams, gamma_gamma: GammaGammaParams) -> DataFrame:
    """Per person with an order before cutoff: SUMMARY_COLUMNS at cutoff, PREDICTION_COLUMNS
    for the horizon holdout_end - cutoff, and HOLDOUT_COLUMNS:
      actual_purchases, actual_value: purchase days and the sum of amounts in
        [cutoff, holdout_end) (0 for a person who bought nothing then).
      baseline_purchases: the naive forecast, the person's past rate of repeat purchases
        frequency / T, times the horizon in days (0 when T = 0).
      baseline_value: baseline_purchases x the person's past mean value per purchase day,
        total_value / (frequency + 1).
    Persons whose first order is in the holdout are not predicted by either, so left out.

    orders: person_id, ts, amount. cutoff and holdout_end must be UTC midnights, so that no
    purchase day is split between the two periods.
    """
    require_columns(orders, ORDER_COLUMNS, "holdout_comparison")
    if not (_is_utc_midnight(cutoff) and _is_utc_midnight(holdout_end)):
        raise ValueError(f"cutoff and holdout_end must be UTC midnights, got {cutoff} and "
                         f"{holdout_end}")
    if not holdout_end > cutoff:
        raise ValueError(f"holdout_end {holdout_end} must be after cutoff {cutoff}")
    horizon = _days(holdout_end - cutoff)
    predicted = predict_clv(clv_summary(orders, cutoff), bgnbd, gamma_gamma, horizon)
    actual = (
        orders.where(F.col("person_id").isNotNull() & F.col("amount").isNotNull()
                     & (F.col("ts") >= F.lit(cutoff)) & (F.col("ts") < F.lit(holdout_end)))
        .groupBy("person_id")
        .agg(F.count_distinct(utc_date("ts")).cast("double").alias("actual_purchases"),
             F.sum(F.col("amount").cast("double")).alias("actual_value"))
    )
    rate = F.when(F.col("T") > 0, F.col("frequency") / F.col("T")).otherwise(F.lit(0.0))
    return (
        predicted.join(actual, "person_id", "left")
        .fillna(0.0, ["actual_purchases", "actual_value"])
        .withColumn("baseline_purchases", (rate * F.lit(horizon)).cast("double"))
        .withColumn("baseline_value", F.col("baseline_purchases") * F.col("total_value")
                    / (F.col("frequency") + 1))
    )


def _errors(prefix: str, row: dict[str, float]) -> ForecastErrors:
    return ForecastErrors(
        purchases_mae=row[f"{prefix}_purchases_mae"],
        purchases_rmse=math.sqrt(row[f"{prefix}_purchases_mse"]),
        value_mae=row[f"{prefix}_value_mae"],
        value_rmse=math.sqrt(row[f"{prefix}_value_mse"]),
        predicted_purchases=row[f"{prefix}_purchases"],
        predicted_value=row[f"{prefix}_value"],
    )


def holdout_check(orders: DataFrame, cutoff: datetime, holdout_end: datetime, *,
                  bgnbd: BgNbdParams | None = None, gamma_gamma: GammaGammaParams | None = None,
                  penalizer: float = 0.0) -> HoldoutReport:
    """Fit on the orders before cutoff (unless bgnbd / gamma_gamma are given), predict
    [cutoff, holdout_end) and compare with what happened, per person, for the model (BG/NBD
    purchases, their product with Gamma-Gamma's order value) and the naive baseline of
    `holdout_comparison`: MAE and RMSE per person of purchases and of value, and the totals.

    orders: person_id, ts, amount; cutoff and holdout_end UTC midnights. Spark aggregates the
    errors; one row is collected.
    """
    summary = clv_summary(orders, cutoff)
    if bgnbd is None:
        bgnbd = fit_bgnbd(summary, penalizer)
    if gamma_gamma is None:
        gamma_gamma = fit_gamma_gamma(summary, penalizer)
    compared = holdout_comparison(orders, cutoff, holdout_end, bgnbd, gamma_gamma)
    sums = [F.count(F.lit(1)).alias("persons"),
            F.sum("actual_purchases").alias("actual_purchases"),
            F.sum("actual_value").alias("actual_value")]
    for prefix, purchases, value in (("model", "expected_purchases", "clv"),
                                     ("baseline", "baseline_purchases", "baseline_value")):
        for quantity, predicted, actual in (("purchases", purchases, "actual_purchases"),
                                            ("value", value, "actual_value")):
            error = F.col(predicted) - F.col(actual)
            sums += [F.avg(F.abs(error)).alias(f"{prefix}_{quantity}_mae"),
                     F.avg(error * error).alias(f"{prefix}_{quantity}_mse"),
                     F.sum(predicted).alias(f"{prefix}_{quantity}")]
    row = compared.agg(*sums).first().asDict()  # a global aggregate: one row
    if not row["persons"]:
        raise ClvFitError(f"holdout_check: no person has an order before {cutoff}")
    return HoldoutReport(
        persons=int(row["persons"]),
        horizon_days=_days(holdout_end - cutoff),
        actual_purchases=float(row["actual_purchases"]),
        actual_value=float(row["actual_value"]),
        model=_errors("model", row),
        baseline=_errors("baseline", row),
        bgnbd=bgnbd,
        gamma_gamma=gamma_gamma,
    )
