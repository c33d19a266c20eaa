"""The figure builders: each chart draws exactly the numbers of its input, checked on the
figure's data (what plotly.js will draw), from tables small enough to count by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from journeylake.core.quality import Result
from journeylake.dashboard import aggregates, figures
from journeylake.gold.outcomes import CONVERSION, DROPOFF, START
from journeylake.quality.checks import audit_rows
from tests import dashboard_tables as fake

DAY = date(2026, 6, 1)


def _funnels(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [("buy", "all", "all", 1, "product_view", 100), ("buy", "all", "all", 2, "purchase", 20),
         ("buy", "entry_channel", "email", 1, "product_view", 30),
         ("email", "all", "all", 2, "purchase", 5), ("email", "all", "all", 1, "email_click", 50)],
        "funnel string, group_by string, group_value string, step_index int, step string, "
        "persons long")


def test_each_funnel_draws_its_overall_persons_per_step_in_step_order(spark: SparkSession
                                                                      ) -> None:
    figure = figures.funnels(_funnels(spark))
    assert [(t.type, list(t.y), list(t.x)) for t in figure.data] == [
        ("funnel", ["product_view", "purchase"], [100, 20]),
        ("funnel", ["email_click", "purchase"], [50, 5])]
    assert [a.text for a in figure.layout.annotations] == ["buy", "email"]


def test_a_dozen_funnels_fit_side_by_side(spark: SparkSession) -> None:
    report = spark.createDataFrame(
        [(f"f{i:02d}", "all", "all", step, f"s{step}", 10 - step) for i in range(12)
         for step in (1, 2)],
        "funnel string, group_by string, group_value string, step_index int, step string, "
        "persons long")
    assert len(figures.funnels(report).data) == 12


def test_the_sankey_flows_every_journey_from_start_to_its_outcome(spark: SparkSession) -> None:
    paths = spark.createDataFrame(
        [(CONVERSION, 1, ["search", "product_view"], 7), (CONVERSION, 2, ["product_view"], 3),
         (CONVERSION, 3, ["search", "add_to_cart"], 2),
         (DROPOFF, 1, ["search", "product_view"], 11)],
        "outcome string, rank int, path array<string>, journeys long")
    (sankey,) = figures.paths_sankey(paths).data
    labels, links = list(sankey.node.label), sankey.link
    flows = {(labels[s], labels[t]): 0 for s, t in zip(links.source, links.target, strict=True)}
    for s, t, v in zip(links.source, links.target, links.value, strict=True):
        flows[(labels[s], labels[t])] += v
    out_of_start = sum(v for s, v in zip(links.source, links.value, strict=True)
                       if labels[s] == START)
    into = {label: sum(v for t, v in zip(links.target, links.value, strict=True)
                       if labels[t] == label) for label in (CONVERSION, DROPOFF)}
    assert out_of_start == 23 and into == {CONVERSION: 12, DROPOFF: 11}
    # Paths sharing a step share its link: (start) > search carries 7 + 2 to a conversion.
    assert len(links.value) == 10
    assert flows[(START, "search")] == 20 and flows[("search", "product_view")] == 18
    # product_view first (a path of one touchpoint) and second are two nodes.
    assert labels.count("product_view") == 2 and labels.count(START) == 1


def test_the_touchpoint_graph_draws_an_arrow_per_edge_and_sizes_nodes_by_pagerank(
    spark: SparkSession,
) -> None:
    edges = spark.createDataFrame(
        [(START, "search", 10, 1.0, 0.3), ("search", CONVERSION, 3, 0.3, 1.0),
         ("search", DROPOFF, 7, 0.7, 0.0), ("search", "search", 2, 0.1, 0.2)],
        "src string, dst string, transitions long, probability double, conversion_rate double")
    significance = spark.createDataFrame([("search", 0.4, 0.9)],
                                         "touchpoint string, pagerank double, "
                                         "removal_effect double")
    figure = figures.touchpoint_graph(edges, significance)
    nodes = figure.data[-1]
    assert list(nodes.text) == [START, "search", CONVERSION, DROPOFF]
    assert nodes.x[0] < nodes.x[1] < nodes.x[2] == nodes.x[3]  # left to right
    assert (nodes.x[1], nodes.y[1]) == (0.0, 1.0)  # the first touchpoint on top
    assert len(figure.layout.annotations) == 3  # the self-loop is not an arrow
    widths = {(a.ax, a.ay, a.x, a.y): a.arrowwidth for a in figure.layout.annotations}
    assert max(widths.values()) == pytest.approx(5.5)
    assert nodes.marker.size[1] == pytest.approx(44) and nodes.marker.color[1] == 0.9


def test_attribution_groups_each_models_credit_by_channel(spark: SparkSession) -> None:
    credit = spark.createDataFrame(
        [("linear", "email", 2.5, 50.0), ("linear", "search", 1.5, 30.0),
         ("shapley", "search", 3.0, 60.0), ("shapley", "email", 1.0, 20.0)],
        "model string, channel string, conversions double, revenue double")
    figure = figures.attribution(credit)
    assert [(t.name, list(t.x), list(t.y)) for t in figure.data] == [
        ("linear", ["search", "email"], [1.5, 2.5]), ("shapley", ["search", "email"], [3.0, 1.0])]
    assert list(figure.data[1].customdata) == [60.0, 20.0]
    assert figure.layout.barmode == "group"


def test_segment_profiles_colour_each_feature_from_lowest_to_highest_segment(
    spark: SparkSession,
) -> None:
    (heatmap,) = figures.segment_profiles(fake.segment_profiles(spark)).data
    assert list(heatmap.x) == ["orders_28d", "sessions_28d"]
    assert [list(row) for row in heatmap.customdata] == [[1.0, 9.0], [4.0, 12.0], [0.0, 1.0]]
    assert [list(row) for row in heatmap.z] == [[0.25, 8 / 11], [1.0, 1.0], [0.0, 0.0]]
    assert heatmap.y[0] == "bargain hunters (60, 60%)"


def test_the_score_distribution_draws_each_models_share_per_bin(spark: SparkSession) -> None:
    scores = spark.createDataFrame([("a", 10), ("a", 90), ("a", 95), ("b", 50)],
                                   "model string, score int")
    figure = figures.score_distribution(aggregates.score_histogram(scores, 2))
    assert [(t.name, list(t.x), list(t.y), list(t.customdata)) for t in figure.data] == [
        ("a", ["0–50", "50–100"], [1 / 3, 2 / 3], [1, 2]),
        ("b", ["0–50", "50–100"], [0.0, 1.0], [0, 1])]


def test_clv_deciles_draw_each_deciles_total_and_share(spark: SparkSession) -> None:
    deciles = spark.createDataFrame([(2, 5, 10.0, 30.0, 75.0, 15.0), (1, 5, 0.0, 5.0, 25.0, 5.0)],
                                    "decile int, persons long, lower double, upper double, "
                                    "total_clv double, mean_clv double")
    (bars,) = figures.clv_deciles(deciles).data
    assert (list(bars.x), list(bars.y), list(bars.text)) == (["D1", "D2"], [25.0, 75.0],
                                                             ["25%", "75%"])


def test_cohort_retention_is_zero_where_nobody_came_back_and_blank_after_the_data(
    spark: SparkSession,
) -> None:
    first, second = DAY, DAY + timedelta(days=1)
    cohorts = spark.createDataFrame(
        [(first, 0, 10, 10, 1.0), (first, 2, 10, 4, 0.4), (second, 0, 5, 5, 1.0)],
        "cohort_start date, period_offset int, cohort_size long, active_persons long, "
        "retention double")
    (heatmap,) = figures.cohort_retention(cohorts, "day").data
    # Day 2 of the first cohort is the data's last day: the second cohort has seen 1 day since.
    assert [list(row) for row in heatmap.z] == [[1.0, 0.0, 0.4], [1.0, 0.0, None]]
    assert list(heatmap.y) == [f"{first} (10)", f"{second} (5)"]


def test_kpi_trends_draw_the_value_the_band_and_a_marker_per_alert(spark: SparkSession) -> None:
    baselines = fake.kpi_baselines(spark, DAY, days=14)
    alerts = fake.alerts(spark, DAY + timedelta(days=13))
    figure = figures.kpi_trends(aggregates.kpi_series(baselines, ["visitors", "orders"], 30),
                                aggregates.alerts_on_series(alerts, ["visitors", "orders"], 30),
                                ["visitors", "orders"])
    by_name: dict[str, list] = {}
    for trace in figure.data:
        by_name.setdefault(trace.name, []).append(trace)
    values = by_name["value"][0]
    assert len(values.x) == 14 and values.y[-1] == pytest.approx(160.0)
    assert by_name["expected band"][0].fill == "tonexty"
    (marker,) = by_name["alert"]  # the email warning is on another breakdown: not on this line
    assert list(marker.x) == [DAY + timedelta(days=13)] and list(marker.y) == [160.0]
    assert marker.marker.symbol == ("triangle-up",)
    assert "critical up" in marker.hovertext[0] and "channel=email" in marker.hovertext[0]
    assert "(start) → email_click +20.0%" in marker.hovertext[0]
    assert [a.text for a in figure.layout.annotations] == ["visitors", "orders"]


def test_the_alert_table_lists_each_alert_and_says_when_there_is_none(spark: SparkSession
                                                                     ) -> None:
    alerts = fake.alerts(spark, DAY)
    (table,) = figures.alert_table(aggregates.latest_alerts(alerts, 10)).data
    assert list(table.cells.values[1]) == ["visitors", "orders"]
    assert list(table.cells.values[2]) == ["all=all", "channel=email"]
    (empty,) = figures.alert_table(alerts.limit(0)).data
    assert list(empty.cells.values[0]) == ["no alerts"]


def test_a_builder_says_when_there_is_nothing_to_draw_and_refuses_unaggregated_rows(
    spark: SparkSession,
) -> None:
    with pytest.raises(figures.NoRows):
        figures.funnels(_funnels(spark).limit(0))
    many = spark.range(figures.MAX_ROWS + 1).selectExpr(
        "'m' AS model", "cast(id AS string) AS channel", "1.0D AS conversions",
        "1.0D AS revenue")
    with pytest.raises(ValueError, match="aggregate in Spark first"):
        figures.attribution(many)


def test_the_quality_table_lists_each_expectations_latest_result_failed_first(
        spark: SparkSession) -> None:
    def result(table: str, name: str, severity: str, failing: int, keys: tuple[str, ...] = ()
               ) -> Result:
        return Result(table, name, "unique", severity, failing == 0, failing, 10, keys, "")

    first = audit_rows(spark, [(result("t1", "a", "hard", 0), 3),
                               (result("t1", "b", "soft", 2, ("k1", "k2")), 3)], "r1", "gold")
    # The next run: a passes again, b is fixed, and t2's hard c fails.
    second = audit_rows(spark, [(result("t1", "a", "hard", 0), 4),
                                (result("t1", "b", "soft", 0), 4),
                                (result("t2", "c", "hard", 1, ("x",)), 1)], "r2", "gold")
    latest = aggregates.latest_quality(first.unionByName(
        second.withColumn("evaluated_at", second.evaluated_at + F.expr("INTERVAL 1 SECOND"))))
    figure = figures.quality_table(latest)
    table, expectation, _, severity, status, counts, keys = list(figure.data[0].cells.values)[:7]
    assert list(zip(table, expectation, severity, status, counts, keys, strict=True)) == [
        ("t2", "c", "hard", "failed", "1 / 10", "x"),
        ("t1", "a", "hard", "passed", "0 / 10", ""),
        ("t1", "b", "soft", "passed", "0 / 10", "")]
    assert list(figure.data[0].cells.font.color[4]) == [figures.CRITICAL, figures.PASSED,
                                                        figures.PASSED]
