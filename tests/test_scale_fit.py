"""The scale fit recovers known values from makespans it did not make itself.

The targets are the simulator's makespans of fit points with known parameter values, drawn
from other replications (other task times) than the fit's, times a lognormal measurement
noise per run; the tolerance is 3 standard errors of the fitted value (the sandwich of the
least squares in logs: the targets' relative errors through the makespans' elasticities to
the value at the truth), and the test also asserts that standard error is small, so it can
fail. One parameter per platform, on two small points, keeps it to seconds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from schedsim.calibration import scale_fit
from schedsim.studies.scale_matrix import point_by_label
from schedsim.studies.scale_validation import PARAMS, load_params

REPEATS, TARGET_REPLICATION, NOISE_CV, LOAD = 2, 1_000, 0.02, 0.1


def records(platform: str, labels: tuple[str, ...], values: dict[str, float],
            ) -> tuple[list[dict[str, Any]], list[float]]:
    """Recorded runs made with ``values`` (replications the fit never draws, with noise), and
    each point's relative standard error of log(mean simulated / mean live)."""
    rng = np.random.default_rng(TARGET_REPLICATION)
    out, errors = [], []
    for label in labels:
        point = point_by_label(label)
        sims = [scale_fit.simulate(point, values, TARGET_REPLICATION + r, LOAD)
                for r in range(REPEATS)]
        runs = [makespan for makespan, _ in sims]
        for r, (makespan, connections) in enumerate(sims):
            noisy = makespan * float(rng.lognormal(-NOISE_CV**2 / 2, NOISE_CV))
            out.append({"label": label, "platform": platform, "repeat": r,
                        "makespan_s": noisy, "failure": None, "busy_cpus_before": LOAD,
                        "facts": {"connections_s": connections}})
        # The spread of one run's makespan, at least 1% (two runs estimate it poorly).
        cv = max(float(np.std(runs, ddof=1) / np.mean(runs)), 0.01)
        errors.append(math.sqrt(2 * cv**2 / REPEATS + NOISE_CV**2 / REPEATS))
    return out, errors


def standard_error(labels: tuple[str, ...], values: dict[str, float], name: str,
                   errors: list[float]) -> float:
    """Standard error of log(fitted value): one parameter, sqrt(sum e^2 s^2) / sum e^2, e
    the elasticity of each point's mean simulated makespan (the fit's replications)."""
    def mean(v: dict[str, float], label: str) -> float:
        return float(np.mean([scale_fit.simulate(point_by_label(label), v, r, LOAD)[0]
                              for r in range(REPEATS)]))

    up = dict(values, **{name: values[name] * 1.1})
    e = np.array([math.log(mean(up, lab) / mean(values, lab)) / math.log(1.1)
                  for lab in labels])
    s = np.asarray(errors)
    return float(math.sqrt(np.sum(e**2 * s**2)) / np.sum(e**2))


@pytest.mark.parametrize(("platform", "name", "truth", "labels"), [
    ("workqueue", "dispatch_time", 0.004, ("wq-1-1s", "wq-20-10ms")),
    ("ray", "submit_time", 0.004, ("ray-1-1s", "ray-16-10ms")),
])
def test_a_scale_parameter_is_recovered_within_three_standard_errors(
        platform: str, name: str, truth: float, labels: tuple[str, ...]) -> None:
    values = dict(load_params(PARAMS)[platform], **{name: truth})
    recs, errors = records(platform, labels, values)
    doc = scale_fit.fit(platform, recs, max_evaluations=40, restarts=0, free=(name,),
                        held=values)
    fitted = doc["parameters"][name]["value"]
    se = standard_error(labels, values, name, errors)
    assert se < 0.15, se  # the points pin the value
    assert abs(math.log(fitted / truth)) <= 3 * se, (fitted, truth, se)
    assert set(doc["parameters"]) == {name}


def test_the_fit_keeps_the_best_of_its_starts() -> None:
    """From its defaults and from each given start (the parameters in force), the lowest
    cost wins: with too few evaluations to move far, a start at the truth lands near it,
    where the default start (half the truth) cannot get."""
    name, truth, labels = "dispatch_time", 0.004, ("wq-1-1s", "wq-20-10ms")
    values = dict(load_params(PARAMS)["workqueue"], **{name: truth})
    recs, _ = records("workqueue", labels, values)
    kw: dict[str, Any] = {"max_evaluations": 2, "restarts": 0, "free": (name,), "held": values}
    alone = scale_fit.fit("workqueue", recs, **kw)["parameters"][name]["value"]
    assert abs(math.log(alone / truth)) > 0.3  # stuck near its start, 2 ms
    doc = scale_fit.fit("workqueue", recs, starts=[{name: truth}], **kw)
    assert abs(math.log(doc["parameters"][name]["value"] / truth)) < 0.06
    assert doc["fit"]["evaluations"] == 4  # two evaluations from each start
