"""Customer lifetime value: the day-granular summary, BG/NBD and Gamma-Gamma fitted on data
simulated from their own generative processes, the conditional expectations against Monte Carlo
and numeric integration, and the holdout check against the naive baseline."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from scipy import integrate, stats
from scipy.optimize import minimize

from journeylake.models.clv import (
    BgNbdParams,
    ClvFitError,
    GammaGammaParams,
    bgnbd_log_likelihood,
    clv_summary,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    holdout_check,
    holdout_comparison,
    predict_clv,
)

ORDERS_SCHEMA = "person_id string, ts timestamp, amount decimal(18,2)"
SUMMARY_SCHEMA = ("person_id string, frequency long, recency double, T double, "
                  "monetary_value double, orders long, total_value double")
TRUTH = BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
SPEND = GammaGammaParams(p=6.0, q=4.0, v=15.0)
CUTOFF = datetime(2026, 1, 1)
CALIBRATION_DAYS = 270


# --- Simulation from the generative processes -------------------------------------------------


def simulate_repeat_purchases(rng: np.random.Generator, params: BgNbdParams,
                              until: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person, days since their first purchase) of every repeat purchase before until[person],
    from BG/NBD's story: purchases at Poisson rate lambda ~ Gamma(r, alpha) while alive, and
    after each repeat purchase leaving for good with probability p ~ Beta(a, b)."""
    persons = len(until)
    rate = rng.gamma(params.r, 1 / params.alpha, persons)
    dropout = rng.beta(params.a, params.b, persons)
    clock = np.zeros(persons)
    active = np.arange(persons)
    who, when = [], []
    while active.size:
        clock[active] += rng.exponential(1 / rate[active])
        active = active[clock[active] < until[active]]
        who.append(active)
        when.append(clock[active].copy())
        active = active[rng.random(active.size) >= dropout[active]]
    return np.concatenate(who), np.concatenate(when)


def summarise(who: np.ndarray, when: np.ndarray, persons: int) -> tuple[np.ndarray, np.ndarray]:
    """frequency and recency per person from their repeat purchases."""
    frequency = np.bincount(who, minlength=persons).astype(float)
    recency = np.zeros(persons)
    np.maximum.at(recency, who, when)
    return frequency, recency


def simulated_summary(spark: SparkSession, persons: int, seed: int) -> DataFrame:
    """BG/NBD summaries at the end of CALIBRATION_DAYS for persons born over its first 180
    days, in continuous time (the estimator's own assumptions, exactly)."""
    rng = np.random.default_rng(seed)
    age = CALIBRATION_DAYS - rng.uniform(0, 180, persons)
    frequency, recency = summarise(*simulate_repeat_purchases(rng, TRUTH, age), persons)
    return spark.createDataFrame(
        [(f"p{i}", int(frequency[i]), float(recency[i]), float(age[i]), 0.0, 0, 0.0)
         for i in range(persons)], SUMMARY_SCHEMA)


def simulate_orders(spark: SparkSession, persons: int, seed: int, days: int) -> DataFrame:
    """Orders over CALIBRATION_DAYS before CUTOFF and `days` after it: births over the first
    180 days, BG/NBD purchases, each worth Gamma(p, nu) with nu ~ Gamma(q, v) per person."""
    rng = np.random.default_rng(seed)
    birth = rng.uniform(0, 180, persons)
    who, when = simulate_repeat_purchases(rng, TRUTH, CALIBRATION_DAYS + days - birth)
    who = np.concatenate([np.arange(persons), who])
    when = np.concatenate([np.zeros(persons), when]) + birth[who]
    spend_rate = rng.gamma(SPEND.q, 1 / SPEND.v, persons)
    amount = rng.gamma(SPEND.p, 1 / spend_rate[who])
    origin = (CUTOFF - timedelta(days=CALIBRATION_DAYS)).replace(tzinfo=timezone.utc)
    micros = (origin.timestamp() + when * 86_400) * 1e6
    # Epoch microseconds: Spark converts a long far faster than a Python datetime.
    rows = spark.createDataFrame(
        [(f"p{i}", int(t), float(value)) for i, t, value in zip(who, micros, amount, strict=True)],
        "person_id string, micros long, amount double")
    return rows.select("person_id", F.timestamp_micros("micros").alias("ts"), "amount")


def orders_frame(spark: SparkSession, *rows: tuple[str | None, datetime, float | None]
                 ) -> DataFrame:
    return spark.createDataFrame(
        [(person, ts, None if amount is None else Decimal(str(amount)).quantize(Decimal("0.01")))
         for person, ts, amount in rows], ORDERS_SCHEMA)


# --- Summary ------------------------------------------------------------------------------------


def test_summary_counts_purchase_days_and_averages_the_repeat_ones(spark: SparkSession) -> None:
    orders = orders_frame(
        spark,
        # a: two orders on Jan 10 are one purchase worth 15; then Jan 20 and Feb 9.
        ("a", datetime(2026, 1, 10, 9, 0), 10),
        ("a", datetime(2026, 1, 10, 18, 0), 5),
        ("a", datetime(2026, 1, 20, 12, 0), 20),
        ("a", datetime(2026, 2, 9, 8, 0), 40),
        ("a", datetime(2026, 3, 1, 0, 0), 99),   # at the cutoff: after it
        # b: two orders on Feb 28, the last day before the cutoff.
        ("b", datetime(2026, 2, 28, 23, 59, 59), 7.5),
        ("b", datetime(2026, 2, 28, 0, 0), 2.5),
        # c: only after the cutoff.
        ("c", datetime(2026, 3, 2, 10, 0), 12),
        # d: an order without an amount is no order; Feb 1 and Feb 15 are.
        ("d", datetime(2026, 1, 5, 10, 0), None),
        ("d", datetime(2026, 2, 1, 10, 0), 3),
        ("d", datetime(2026, 2, 15, 10, 0), 4),
        (None, datetime(2026, 1, 5, 10, 0), 8),
    )
    expected = spark.createDataFrame([
        # Jan 10 -> Feb 9 is 30 days, Jan 10 -> Mar 1 is 50; (20 + 40) / 2 = 30.
        ("a", 2, 30.0, 50.0, 30.0, 4, 75.0),
        ("b", 0, 0.0, 1.0, 0.0, 2, 10.0),
        ("d", 1, 14.0, 28.0, 4.0, 2, 7.0),
    ], SUMMARY_SCHEMA)
    actual = clv_summary(orders, datetime(2026, 3, 1))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_t_runs_from_the_first_days_midnight_to_a_cutoff_inside_a_day(
    spark: SparkSession
) -> None:
    orders = orders_frame(
        spark,
        ("a", datetime(2026, 3, 1, 6, 0), 10),
        ("a", datetime(2026, 3, 1, 13, 0), 10),  # after the 12:00 cutoff
    )
    row = clv_summary(orders, datetime(2026, 3, 1, 12, 0)).first()
    assert (row.frequency, row.recency, row.T, row.orders) == (0, 0.0, 0.5, 1)


def test_summary_names_the_missing_columns(spark: SparkSession) -> None:
    orders = orders_frame(spark, ("a", datetime(2026, 1, 1), 1))
    with pytest.raises(ValueError, match="'amount'"):
        clv_summary(orders.drop("amount"), CUTOFF)


# --- Likelihoods --------------------------------------------------------------------------------


def paper_log_likelihood(r: float, alpha: float, a: float, b: float, x: int, t_x: float,
                         t: float) -> float:
    """Fader, Hardie & Lee (2005), eq. 6, written out term by term."""
    def log_beta(u: float, w: float) -> float:
        return math.lgamma(u) + math.lgamma(w) - math.lgamma(u + w)

    gamma_part = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
    first = math.exp(log_beta(a, b + x) - log_beta(a, b) + gamma_part
                     - (r + x) * math.log(alpha + t))
    second = 0.0
    if x > 0:
        second = math.exp(log_beta(a + 1, b + x - 1) - log_beta(a, b) + gamma_part
                          - (r + x) * math.log(alpha + t_x))
    return math.log(first + second)


@pytest.mark.parametrize(("x", "t_x", "t"), [(0, 0.0, 30.0), (3, 20.5, 90.0), (12, 200.0, 210.0)])
def test_bgnbd_log_likelihood_is_the_papers_formula(x: int, t_x: float, t: float) -> None:
    params = BgNbdParams(r=0.6, alpha=7.3, a=1.4, b=3.1)
    actual = bgnbd_log_likelihood(params, [x], [t_x], [t])[0]
    assert actual == pytest.approx(paper_log_likelihood(0.6, 7.3, 1.4, 3.1, x, t_x, t), rel=1e-10)


@pytest.mark.parametrize(("x", "m"), [(1, 12.0), (4, 31.5), (20, 18.0)])
def test_gamma_gamma_log_likelihood_integrates_the_spend_rate_out(x: int, m: float) -> None:
    # The mean of x Gamma(p, nu) values is Gamma(px, x nu); integrate over nu ~ Gamma(q, v).
    def joint(nu: float) -> float:
        return (stats.gamma.pdf(m, SPEND.p * x, scale=1 / (nu * x))
                * stats.gamma.pdf(nu, SPEND.q, scale=1 / SPEND.v))

    density, _ = integrate.quad(joint, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
    actual = gamma_gamma_log_likelihood(SPEND, [x], [m])[0]
    assert actual == pytest.approx(math.log(density), rel=1e-8)


# --- Fitting ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bgnbd_summary(spark: SparkSession) -> Iterator[DataFrame]:
    summary = simulated_summary(spark, persons=5000, seed=7).cache()
    yield summary
    summary.unpersist()


@pytest.fixture(scope="module")
def fitted(bgnbd_summary: DataFrame) -> BgNbdParams:
    return fit_bgnbd(bgnbd_summary)


def test_bgnbd_recovers_the_simulated_parameters(fitted: BgNbdParams) -> None:
    assert fitted.persons == 5000
    # The mean rate and dropout are well identified; a and b separately much less so.
    assert fitted.mean_purchase_rate == pytest.approx(TRUTH.mean_purchase_rate, rel=0.12)
    assert fitted.mean_dropout == pytest.approx(TRUTH.mean_dropout, rel=0.12)
    assert fitted.r == pytest.approx(TRUTH.r, rel=0.25)
    assert fitted.alpha == pytest.approx(TRUTH.alpha, rel=0.25)
    assert fitted.a == pytest.approx(TRUTH.a, rel=0.25)
    assert fitted.b == pytest.approx(TRUTH.b, rel=0.35)


def test_a_penalizer_shrinks_the_parameters(bgnbd_summary: DataFrame,
                                             fitted: BgNbdParams) -> None:
    shrunk = fit_bgnbd(bgnbd_summary, penalizer=0.01)
    assert shrunk.alpha < fitted.alpha
    assert shrunk.log_likelihood < fitted.log_likelihood


def spend_summary(spark: SparkSession, persons: int, seed: int) -> DataFrame:
    rng = np.random.default_rng(seed)
    frequency = 1 + rng.poisson(3, persons)
    spend_rate = rng.gamma(SPEND.q, 1 / SPEND.v, persons)
    mean_value = rng.gamma(SPEND.p * frequency, 1 / (spend_rate * frequency))
    rows = [(f"p{i}", int(frequency[i]), 1.0, 2.0, float(mean_value[i]), 0, 0.0)
            for i in range(persons)]
    # One-time buyers and a net refund carry no information on the spend and are left out.
    rows += [("once", 0, 0.0, 5.0, 0.0, 1, 9.0), ("refund", 2, 3.0, 9.0, -4.0, 3, 1.0)]
    return spark.createDataFrame(rows, SUMMARY_SCHEMA)


def test_gamma_gamma_recovers_the_simulated_parameters(spark: SparkSession) -> None:
    fitted = fit_gamma_gamma(spend_summary(spark, persons=10_000, seed=11))
    assert fitted.persons == 10_000
    assert fitted.mean_order_value == pytest.approx(SPEND.mean_order_value, rel=0.03)
    assert fitted.q == pytest.approx(SPEND.q, rel=0.10)
    # p and v trade off against each other (their product sets the mean).
    assert fitted.p == pytest.approx(SPEND.p, rel=0.25)
    assert fitted.v == pytest.approx(SPEND.v, rel=0.25)


def test_binning_the_monetary_values_barely_moves_the_fit(spark: SparkSession) -> None:
    summary = spend_summary(spark, persons=2000, seed=12)
    rows = [(r.frequency, r.monetary_value)
            for r in summary.where("frequency > 0 AND monetary_value > 0").collect()]
    x, m = (np.array(column, dtype=float) for column in zip(*rows, strict=True))

    def negative(theta: np.ndarray) -> float:
        return float(-gamma_gamma_log_likelihood(GammaGammaParams(*np.exp(theta)), x, m).sum())

    exact = np.exp(minimize_nelder_mead(negative, np.log([2.0, 3.0, m.mean()])))
    binned = fit_gamma_gamma(summary)
    assert [binned.p, binned.q, binned.v] == pytest.approx(list(exact), rel=2e-3)


def minimize_nelder_mead(objective: Callable[[np.ndarray], float],
                         start: np.ndarray) -> np.ndarray:
    result = minimize(objective, start, method="Nelder-Mead",
                      options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 20_000})
    assert result.success
    return np.asarray(result.x)


def test_fitting_refuses_data_without_a_repeat_buyer(spark: SparkSession) -> None:
    summary = spark.createDataFrame(
        [(f"p{i}", 0, 0.0, float(10 + i), 0.0, 1, 5.0) for i in range(30)], SUMMARY_SCHEMA)
    with pytest.raises(ClvFitError, match="repeat purchase"):
        fit_bgnbd(summary)
    with pytest.raises(ClvFitError, match="repeat buyers"):
        fit_gamma_gamma(summary)


def test_fitting_refuses_too_few_persons(spark: SparkSession) -> None:
    summary = spark.createDataFrame(
        [(f"p{i}", 2, 5.0, 20.0, 10.0, 3, 30.0) for i in range(5)], SUMMARY_SCHEMA)
    with pytest.raises(ClvFitError, match="at least 20 persons, got 5"):
        fit_bgnbd(summary)


def test_an_impossible_summary_is_named(spark: SparkSession) -> None:
    summary = spark.createDataFrame(
        [(f"p{i}", 1, 30.0, 20.0, 10.0, 2, 20.0) for i in range(30)], SUMMARY_SCHEMA)
    with pytest.raises(ValueError, match="recency=30.0, T=20.0"):
        fit_bgnbd(summary)


def test_more_distinct_summaries_than_max_groups_are_not_collected(
    bgnbd_summary: DataFrame
) -> None:
    with pytest.raises(ClvFitError, match="max_groups=100"):
        fit_bgnbd(bgnbd_summary, max_groups=100)


# --- Prediction ---------------------------------------------------------------------------------


def monte_carlo(params: BgNbdParams, x: int, t_x: float, t: float, horizon: float,
                draws: int = 1_000_000, seed: int = 5) -> tuple[float, float]:
    """(E[purchases in (T, T + horizon]], P(alive)) given (x, t_x, T), by importance sampling:
    (lambda, p) drawn from the prior, weighted by the person's likelihood given them, and the
    future purchases of a person alive at T simulated as min(Poisson(lambda horizon), the number
    of purchases until the one after which they leave, Geometric(p))."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params.r, 1 / params.alpha, draws)
    dropout = rng.beta(params.a, params.b, draws)
    alive = (1 - dropout) ** x * rate ** x * np.exp(-rate * t)
    dead = (dropout * (1 - dropout) ** (x - 1) * rate ** x * np.exp(-rate * t_x)
            if x > 0 else np.zeros(draws))
    future = np.minimum(rng.poisson(rate * horizon), rng.geometric(dropout))
    weight = alive + dead
    return float((alive * future).sum() / weight.sum()), float(alive.sum() / weight.sum())


def test_expected_purchases_and_alive_agree_with_monte_carlo(spark: SparkSession) -> None:
    points = {"new": (0, 0.0, 200.0), "quiet": (2, 30.0, 200.0), "regular": (6, 150.0, 180.0),
              "heavy": (40, 170.0, 175.0)}
    summary = spark.createDataFrame(
        [(name, x, t_x, t, 20.0 if x else 0.0, x + 1, 0.0)
         for name, (x, t_x, t) in points.items()], SUMMARY_SCHEMA)
    predicted = {row.person_id: row for row in
                 predict_clv(summary, TRUTH, SPEND, horizon_days=365).collect()}
    for name, (x, t_x, t) in points.items():
        purchases, alive = monte_carlo(TRUTH, x, t_x, t, 365)
        # The Monte Carlo error is below 0.7% (1% for the heavy buyer's weights).
        assert predicted[name].expected_purchases == pytest.approx(purchases, rel=0.025), name
        assert predicted[name].probability_alive == pytest.approx(alive, rel=0.01, abs=1e-4), name
    assert predicted["new"].probability_alive == 1.0


def test_expected_order_value_is_the_posterior_mean_of_a_purchase(spark: SparkSession) -> None:
    # A purchase's mean is p / nu; nu's posterior given x purchases of mean m, by integration.
    x, m = 3, 42.0

    def posterior(nu: float) -> float:
        return (stats.gamma.pdf(m, SPEND.p * x, scale=1 / (nu * x))
                * stats.gamma.pdf(nu, SPEND.q, scale=1 / SPEND.v))

    evidence, _ = integrate.quad(posterior, 0, np.inf, epsrel=1e-11)
    mean, _ = integrate.quad(lambda nu: SPEND.p / nu * posterior(nu), 0, np.inf, epsrel=1e-11)
    summary = spark.createDataFrame(
        [("a", x, 40.0, 60.0, m, 4, 150.0), ("b", 0, 0.0, 60.0, 0.0, 1, 20.0)], SUMMARY_SCHEMA)
    rows = {row.person_id: row for row in predict_clv(summary, TRUTH, SPEND, 90).collect()}
    assert rows["a"].expected_order_value == pytest.approx(mean / evidence, rel=1e-8)
    assert rows["b"].expected_order_value == pytest.approx(6 * 15 / 3)
    assert rows["a"].clv == pytest.approx(rows["a"].expected_purchases * mean / evidence)


def test_prediction_keeps_the_summary_and_every_person(bgnbd_summary: DataFrame) -> None:
    predicted = predict_clv(bgnbd_summary, TRUTH, SPEND, 365)
    assert predicted.columns == [*bgnbd_summary.columns, "expected_purchases",
                                 "probability_alive", "expected_order_value", "clv"]
    counts = predicted.selectExpr("count(*) AS n", "count(expected_purchases) AS e",
                                  "min(probability_alive) AS low",
                                  "max(probability_alive) AS high").first()
    assert (counts.n, counts.e) == (5000, 5000)
    assert 0 < counts.low <= counts.high <= 1


def test_gamma_gamma_without_a_finite_mean_is_refused(bgnbd_summary: DataFrame) -> None:
    with pytest.raises(ValueError, match="q <= 1"):
        predict_clv(bgnbd_summary, TRUTH, GammaGammaParams(2.0, 0.9, 10.0), 365)


# --- Holdout check ------------------------------------------------------------------------------


def test_the_model_beats_the_naive_baseline_on_bgnbd_data(spark: SparkSession) -> None:
    orders = simulate_orders(spark, persons=3000, seed=3, days=180).cache()
    report = holdout_check(orders, CUTOFF, CUTOFF + timedelta(days=180))
    orders.unpersist()
    assert report.persons == 3000
    assert report.horizon_days == 180
    model, baseline = report.model, report.baseline
    assert model.purchases_mae < baseline.purchases_mae
    assert model.purchases_rmse < baseline.purchases_rmse
    assert model.value_mae < baseline.value_mae
    assert model.value_rmse < baseline.value_rmse
    # The baseline ignores dropout, so it overshoots the total; the model should be close.
    assert model.predicted_purchases == pytest.approx(report.actual_purchases, rel=0.15)
    assert baseline.predicted_purchases > report.actual_purchases
    assert set(report.as_metrics()) >= {"model_purchases_mae", "baseline_value_rmse"}


def test_holdout_comparison_counts_the_actual_purchase_days(spark: SparkSession) -> None:
    orders = orders_frame(
        spark,
        ("a", datetime(2026, 1, 10, 9, 0), 10),
        ("a", datetime(2026, 1, 30, 9, 0), 30),
        ("a", datetime(2026, 2, 3, 9, 0), 5),     # holdout: two orders on one day
        ("a", datetime(2026, 2, 3, 19, 0), 6),
        ("a", datetime(2026, 2, 20, 9, 0), 7),
        ("a", datetime(2026, 3, 5, 9, 0), 100),   # after the holdout
        ("b", datetime(2026, 1, 21, 9, 0), 8),    # nothing in the holdout
        ("c", datetime(2026, 2, 10, 9, 0), 8),    # first seen in the holdout: left out
    )
    compared = holdout_comparison(orders, datetime(2026, 2, 1), datetime(2026, 3, 1),
                                  TRUTH, SPEND)
    actual = compared.select("person_id", "actual_purchases", "actual_value",
                             "baseline_purchases", "baseline_value")
    # a: 1 repeat purchase over T = 22 days, x 28 days; mean value per purchase day 20.
    expected = spark.createDataFrame([
        ("a", 2.0, 18.0, 28 / 22, 28 / 22 * 20),
        ("b", 0.0, 0.0, 0.0, 0.0),
    ], "person_id string, actual_purchases double, actual_value double, "
       "baseline_purchases double, baseline_value double")
    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True,
                              ignore_nullable=True)


def test_the_holdout_must_start_and_end_at_midnight(spark: SparkSession) -> None:
    orders = orders_frame(spark, ("a", datetime(2026, 1, 1), 1))
    with pytest.raises(ValueError, match="midnight"):
        holdout_comparison(orders, datetime(2026, 2, 1, 12), datetime(2026, 3, 1), TRUTH, SPEND)


def test_parameters_with_no_finite_expectation_are_a_clear_error(spark: SparkSession) -> None:
    # What a fit on ten days of orders gave: r and alpha near the Poisson limit.
    degenerate = BgNbdParams(r=17939.58, alpha=161470.9, a=0.2587, b=1.4103)
    summary = spark.createDataFrame([("p1", 2, 6.0, 10.0, 55.98), ("p2", 0, 0.0, 5.0, 0.0)],
                                    "person_id string, frequency bigint, recency double, "
                                    "T double, monetary_value double")
    with pytest.raises(ClvFitError, match="give no finite expectation"):
        predict_clv(summary, degenerate, SPEND, horizon_days=14)
