"""What ``schedsim plan`` prints around its tables, word for word as before its sentences moved
into templates/plan-sentences.md (the text the code wrote at commit 989ba1c)."""

from __future__ import annotations

from schedsim.studies import plan_report
from schedsim.studies.plan import plan

from .test_plan import BASE, COUNT, SCENARIO


def test_a_plan_that_is_not_demonstrated_says_how_many_replications_would_show_it() -> None:
    result = plan(SCENARIO, BASE, 660.0, vary=[f"{COUNT}=1..1000",
                                               "platform.type=ideal,workqueue"],
                  budget=100.0, max_replications=3)
    assert plan_report.summary(result) == [
        ("cheapest feasible: platform.type=ideal, cluster.pools.spot.count=100: 6.6 USD, p95 "
         "makespan 660.0 s, on time 3 of 3 (lower bound 36.8%); binding: deadline (budget "
         "slack 93.40 USD)", False),
        ("not demonstrated: P(on time) >= 95% needs about 59 replications "
         "(--max-replications)", True),
        ("20 point(s) simulated, 2 pruned by the bound, 2 replication(s) added near the "
         "threshold (up to 3 a point)", False)]
    table = plan_report.answers_table(result, "contract-example")
    assert table.title == "contract-example: the smallest count meeting 660.0 s in 95% of " \
        "runs, per choice"
    assert table.caption == "bounds: exact one-sided 95% bounds on P(on time); p95: " \
        "makespan; cost: mean; need: about how many replications show P(on time) on its " \
        "side of 95% (-: too close to tell)"
    titles = [t.title for t in plan_report.candidates_tables(result)]
    assert titles == ["every candidate simulated: platform.type=ideal",
                      "every candidate simulated: platform.type=workqueue"]


def test_an_infeasible_plan_names_what_binds() -> None:
    result = plan(SCENARIO, BASE, 30.0, vary=[f"{COUNT}=1..1000"], max_replications=2)
    assert plan_report.summary(result) == [
        ("no feasible configuration; binding: deadline (no configuration in the range meets "
         "it)", True),
        ("0 point(s) simulated, 1 pruned by the bound, 0 replication(s) added near the "
         "threshold (up to 2 a point)", False)]
    assert plan_report.answers_table(result, "x").title == \
        "x: the smallest count meeting 30 s in 95% of runs"
