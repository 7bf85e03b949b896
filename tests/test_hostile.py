"""Hostile input through the command line: one line, exit 2, no traceback, no hang.

Every case of issue 19's "every input gets one line" (scenario files, ``--set``, trace files,
flags) runs through :func:`schedsim.cli.main` in-process, or in a subprocess where the code
before the fix hung (a FIFO, an alias bomb). A property-based fuzzer then mutates a valid
scenario file (keys, values, types, raw YAML fragments) and ``--set``/``--grid``/``--vary``
values, and checks that each outcome is a success or one line with exit 2, quickly.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from schedsim.cli import main
from schedsim.errors import InputError
from schedsim.loading import load_scenario
from schedsim.safe_load import load_yaml
from schedsim.studies import plan as planning
from schedsim.studies import sweep

from .conftest import CONTRACT, REPO

LIMIT_S = 30.0  # generous: the host is shared; the code before the fix took minutes or hung
MEMORY_LIMIT = 3 * 2**30  # address space of a subprocess fed an alias bomb

TINY: dict[str, Any] = {
    "name": "tiny", "seed": 1, "replications": 1,
    "platform": {"type": "workqueue", "workqueue": {"max_retries": 1},
                 "ray": {"max_pending": 10}},
    "workload": {"tasks": 10, "duration": {"dist": "weibull", "mean": "2s", "shape": 0.5},
                 "input_size": "1 KB"},
    "cluster": {"pools": [{"name": "spot", "count": 2, "cores": 1, "price_per_hour": 0.1,
                           "speed": 1.0,
                           "boot_time": {"dist": "lognormal", "mean": "30s", "cv": 0.5}}],
                "host": {"cpus": 4}},
    "churn": [{"pool": "spot", "lifetime": {"dist": "exponential", "mean": "1h"},
               "notice": "2 min", "zone_reclaims": {"mean_interval": "1d", "fraction": 0.5}}],
    "network": {"manager": {"bandwidth": "1 Gbps"},
                "worker": {"bandwidth": "1 Gbps", "latency": "1ms"}},
    "horizon": "2d",
}
BOMB = "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
               for i in range(9))
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + BOMB  # 9^10 values once expanded


def outcome(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    """Exit status, stderr and seconds of ``schedsim ARGS`` run in-process."""
    start = time.monotonic()
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err, time.monotonic() - start


def assert_one_line(rc: int, err: str, seconds: float, *words: str) -> str:
    lines = err.strip().splitlines()
    assert rc == 2, err[:2000]
    assert len(lines) == 1 and lines[0].startswith("schedsim: "), err[:2000]
    assert "Traceback" not in err and len(lines[0]) < 1200, lines[0][:2000]
    assert seconds < LIMIT_S
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def refused(capsys: pytest.CaptureFixture[str], args: list[str], *words: str) -> str:
    return assert_one_line(*outcome(args, capsys), *words)


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def refused_in_subprocess(args: list[str], *words: str) -> str:
    """For cases that hung or ate the host's memory before the fix: a subprocess with a
    memory limit, killed if it hangs."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "schedsim", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120, preexec_fn=_limit_memory)
    return assert_one_line(proc.returncode, proc.stderr, time.monotonic() - start, *words)


def write(path: Path, data: dict[str, Any] | str) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False),
                    encoding="utf-8")
    return path


def contract_text(**replace: str) -> str:
    text = yaml.safe_dump(CONTRACT, sort_keys=False)
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write(tmp_path / "tiny.yaml", TINY)


# ------------------------------------------------------------------ scenario files

FILE_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "nesting": (contract_text() + "extra: " + "[" * 5000 + "]" * 5000 + "\n",
                ("nested at most 64 deep",)),
    "recursive alias": (contract_text() + "extra: &a [*a]\n", ("recursive",)),
    "many aliases": (contract_text() + "x: &x 1\nextra: [" + ", ".join(["*x"] * 150) + "]\n",
                     ("at most 100 aliases",)),
    "duplicate key": (contract_text(**{"tasks: 2000": "tasks: 2000\n  tasks: 3000"}),
                      ("line 8", "each key at most once", "'tasks'")),
    "5,000 digits": (contract_text(**{"tasks: 2000": "tasks: " + "9" * 5000}),
                     ("line 7", "an integer of at most 30 digits")),
    "tasks 1e12 as digits": (contract_text(**{"tasks: 2000": "tasks: 1000000000000"}),
                             ("workload.tasks", "from 1 to 1,000,000,000")),
    "count 1e12": (contract_text(**{"count: 50": "count: 1000000000000"}),
                   ("cluster.pools[0].count", "from 0 to 1,000,000,000")),
    "replications 1e8": (contract_text(**{"replications: 3": "replications: 100000000"}),
                         ("replications", "from 1 to 100,000")),
    "1e12 is text in YAML 1.1": (contract_text(**{"tasks: 2000": "tasks: 1e12"}),
                                 ("workload.tasks", "write 1.0e+12 or 1000000000000")),
    "price .inf": (contract_text(**{"price_per_hour: 0.05": "price_per_hour: .inf"}),
                   ("price_per_hour", "a finite number >= 0", "inf")),
    "speed .inf": (contract_text(**{"price_per_hour: 0.05": "price_per_hour: 0.05\n    "
                                    "speed: .inf"}), ("speed", "a finite number > 0")),
    "speed .nan": (contract_text(**{"price_per_hour: 0.05": "price_per_hour: 0.05\n    "
                                    "speed: .nan"}), ("speed",)),
    "weibull shape 1e-5": (contract_text(**{"dist: exponential\n    mean: 1s":
                                            "dist: weibull\n    mean: 1s\n    shape: 1.0e-5"}),
                           ("workload.duration.shape", "shape >= 0.006")),
    "lognormal cv 1e200": (contract_text(**{"dist: exponential\n    mean: 1s":
                                            "dist: lognormal\n    mean: 1s\n    cv: 1.0e+200"}),
                           ("workload.duration.cv",)),
    "key of 100,000 characters": (contract_text() + "? " + "k" * 100_000 + "\n: 1\n",
                                  ("a known key", "...")),
    "not UTF-8": ("name: \udcff", ("UTF-8",)),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_scenario_file_is_one_line(case: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    text, words = FILE_CASES[case]
    path = tmp_path / "s.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    line = refused(capsys, ["check", str(path)], str(path), *words)
    assert len(line) < 400


def test_a_weibull_check_accepts_is_one_run_can_make(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # Shape 1e-5 passed check and then run crashed with OverflowError in Weibull.scale.
    path = write(tmp_path / "w.yaml", FILE_CASES["weibull shape 1e-5"][0])
    refused(capsys, ["run", str(path)], "shape")
    path = write(tmp_path / "ok.yaml", contract_text(**{
        "dist: exponential\n    mean: 1s": "dist: weibull\n    mean: 1s\n    shape: 0.007",
        "tasks: 2000": "tasks: 20"}))
    assert main(["run", str(path), "--replications", "1"]) == 0


def test_aliases_merge_keys_and_big_counts_within_limits_still_load(tmp_path: Path) -> None:
    text = "life: &life {dist: exponential, mean: 1h}\n" + contract_text(**{
        "tasks: 2000": "tasks: 1000000000",
        "lifetime:\n    dist: exponential\n    mean: 1h": "lifetime:\n    <<: *life\n    mean: 2h"})
    data = load_yaml(text, "s.yaml")
    assert data == yaml.safe_load(text)  # the same document as PyYAML reads it
    data.pop("life")
    scenario = load_scenario(write(tmp_path / "t.yaml", data), ["seed=9223372036854775807"])
    assert scenario.workload.tasks == 10**9 and scenario.seed == 2**63 - 1
    assert scenario.churn[0].lifetime is not None and scenario.churn[0].lifetime.mean == 7200.0


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb.yaml", BOMB + contract_text())
    refused_in_subprocess(["check", str(path)], "with aliases expanded")
    clean = write(tmp_path / "clean.yaml", contract_text())
    refused_in_subprocess(["check", str(clean), "--set", "workload.tasks={" +
                           BOMB.replace("\n", ", ") + "}"], "--set", "with aliases expanded")
    path = write(tmp_path / "bomb2.yaml", BOMB + contract_text(**{"name: contract-example":
                                                                  "name: *j"}))
    refused_in_subprocess(["check", str(path)], "with aliases expanded")


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    refused_in_subprocess(["check", str(fifo)], "a regular scenario file")


def test_folder_and_huge_file_are_refused(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, ["check", str(tmp_path)], "a regular scenario file")
    big = write(tmp_path / "big.yaml", contract_text() + "#" * 1_100_000 + "\n")
    refused(capsys, ["check", str(big)], "at most 1,000,000 bytes")


def test_binary_trace_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "trace.csv").write_bytes(b"\xff\xfe\x00time,pool\x80\x81")
    path = write(tmp_path / "s.yaml", contract_text(**{
        "lifetime:\n    dist: exponential\n    mean: 1h": "trace: trace.csv"}))
    refused(capsys, ["check", str(path)], "trace.csv", "UTF-8")


def test_profile_json_too_deep_or_too_long_is_one_line(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for name, text in (("deep.json", "[" * 100_000 + "]" * 100_000),
                       ("digits.json", '{"format": ' + "9" * 5000 + "}")):
        (tmp_path / name).write_text(text)
        path = write(tmp_path / "s.yaml", contract_text(**{
            "dist: exponential\n    mean: 1s": f"dist: profile\n    n: 1000\n    profile: {name}"}))
        refused(capsys, ["check", str(path)], name, "valid JSON")


# ------------------------------------------------------------------ --set values

SET_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "5,000 digits": ("workload.tasks=" + "9" * 5000, ("--set", "at most 30 digits")),
    "nesting": ("workload.tasks=" + "[" * 5000, ("--set", "nested at most 64 deep")),
    "duplicate key": ("workload.duration={dist: constant, mean: 1s, mean: 2s}",
                      ("--set", "each key at most once")),
    "tasks 1e12": ("workload.tasks=1000000000000", ("from 1 to 1,000,000,000",)),
    "1e12 as text": ("workload.tasks=1e12", ("write 1.0e+12 or 1000000000000",)),
    "price .inf": ("cluster.pools.spot.price_per_hour=.inf", ("a finite number",)),
    "speed .inf": ("cluster.pools.spot.speed=.inf", ("a finite number",)),
    "weibull": ("workload.duration={dist: weibull, mean: 1s, shape: 1.0e-5}", ("shape",)),
    "long key": ("k" * 100_000 + "=1", ("a known key",)),
    "index of 5,000 digits": ("cluster.pools." + "9" * 5000 + ".count=1",
                              ("--set", "a list index")),
}


@pytest.mark.parametrize("case", sorted(SET_CASES))
def test_bad_set_value_is_one_line(case: str, tiny: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    item, words = SET_CASES[case]
    line = refused(capsys, ["check", str(tiny), "--set", item], *words)
    assert len(line) < 800


# ------------------------------------------------------------------ flags

def test_plan_budget_must_be_a_finite_amount(tiny: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for budget in ("-5", "nan", "inf"):
        refused(capsys, ["plan", str(tiny), "--deadline", "1h", "--budget", budget,
                         "--vary", "cluster.pools.spot.count=1..2"], "--budget")


def test_jobs_and_counts_are_bounded_on_every_command(tiny: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, ["compare", str(tiny), "--platform", "ideal", "--platform", "ray",
                     "--jobs", "0"], "--jobs", "from 1 to 1,024")
    refused(capsys, ["run", str(tiny), "--jobs", "1000000000"], "--jobs")
    refused(capsys, ["run", str(tiny), "--replications", "1e8"], "--replications", "100,000")
    refused(capsys, ["sweep", str(tiny), "--grid", "seed=1,2", "--replications", "100000000"],
            "--replications")
    refused(capsys, ["check", str(tiny), "--seed", "9" * 5000], "--seed", "...")


@pytest.mark.parametrize("command", [
    ["run"], ["sweep", "--grid", "seed=1,2"], ["plan", "--deadline", "1h", "--vary",
                                                "cluster.pools.spot.count=1..2"],
])
def test_out_that_is_a_file_asks_for_a_folder(command: list[str], tiny: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    args = [command[0], str(tiny), *command[1:], "--out", str(afile)]
    refused(capsys, args, "--out", "a folder", "afile")
    assert afile.read_text() == "keep me\n"


def test_rfc_out_that_is_a_file_asks_for_a_folder(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    refused(capsys, ["rfc", "--quick", "--out", str(afile)], "--out", "a folder")


def test_vary_errors_name_vary(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, ["plan", str(tiny), "--deadline", "1h", "--vary", "count=0..8"],
                   "--vary count=0..8", "a known key")
    assert line.startswith("schedsim: --vary")
    refused(capsys, ["plan", str(tiny), "--deadline", "1h", "--vary",
                     "cluster.pools.spot.count=0..8"], "--vary", "count > 0")
    refused(capsys, ["plan", str(tiny), "--deadline", "1h", "--vary",
                     "cluster.pools.9.count=1,2"], "--vary cluster.pools.9.count=1",
            "a list index")
    refused(capsys, ["plan", str(tiny), "--deadline", "1h", "--vary",
                     "cluster.pools.spot.count=1.." + "9" * 5000], "--vary", "integers LO..HI")
    refused(capsys, ["plan", str(tiny), "--deadline", "1h", "--vary",
                     "workload.duration={dist: constant, mean: 2s},{dist: constant, mean: x}"],
            "--vary", "workload.duration.mean")


def test_grid_point_errors_name_grid(tiny: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, ["sweep", str(tiny), "--grid", "cluster.pools.spot.count=1,abc",
                            "--out", str(tmp_path / "sw")], "--grid", "abc")
    assert line.startswith("schedsim: --grid") and str(tiny) not in line


def test_vary_keeps_braces_together_as_grid_does() -> None:
    spec = "workload.duration={dist: constant, mean: 2s},{dist: constant, mean: 3s}"
    rng, grid = planning.parse_vary([spec])
    assert rng is None and grid == [("workload.duration", ["{dist: constant, mean: 2s}",
                                                           "{dist: constant, mean: 3s}"])]
    assert sweep.parse_grid([spec]) == grid


def test_json_dash_writes_to_stdout(tiny: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(tiny), "--json", "-"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["scenario"] == "tiny"
    assert "makespan_s" in out.err  # the table went to stderr
    assert main(["compare", str(tiny), "--platform", "ideal", "--platform", "workqueue",
                 "--json", "-"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"ideal", "workqueue"}
    assert not (tmp_path / "-").exists()


# ------------------------------------------------------------------ the fuzzer

FRAGMENTS = [
    "[" * 300, "]", "{", "&a [*a]", "*nope", "!!python/object/apply:os.system [ls]",
    "{a: 1, a: 2}", "9" * 5000, ".inf", "-.inf", ".nan", "1e12", "1.0e12", "1.0e+400",
    "0x" + "f" * 40, "!!binary AAAA", "2001-12-14", "~", "''", "\t", "? [1]\n: 2",
    "<<: {a: 1}", "<<: *nope", "%YAML 1.1\n---", "--- a\n--- b", "k" * 3000, "!!set {a}",
    "[1, 2", "'unterminated", "a: b: c", "- x\ny: 1", "1:30:00", "0o777", "0b101", "+12_000",
    "null", "yes", "NO", "=", "---\n...", BOMB, "-1", "0", "1000000000000", "-0.0", "1e-400",
    "{dist: weibull, mean: 1s, shape: 1.0e-9}", "{dist: lognormal, mean: 1s, cv: 1.0e+300}",
    "{dist: hyperexponential, phases: [{p: 1.0, mean: 1.0e+308}]}", "{dist: profile, n: 0}",
    "{dist: nope}", "[]", "{}", "\x00", "\x85", "\ufeff", "a\u2028b",
]
KEYS = ["name", "dist", "mean", "shape", "cv", "phases", "p", "n", "pool", "count", "cores",
        "tasks", "type", "lifetime", "band", "trace", "price_per_hour", "speed", "seed"]
SCALARS = st.one_of(
    st.integers(min_value=-10**40, max_value=10**40), st.floats(), st.booleans(), st.none(),
    st.text(max_size=12),
    st.sampled_from(["1e12", "2h", "-3s", "10 Gbps", "1 GiB", "spot", "ray", "ideal",
                     "workqueue", "drain", "<5%", "constant", "weibull", "profile", "1e400 s",
                     "trace.csv"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3), max_leaves=8)
TEXT = st.sampled_from(FRAGMENTS) | st.text(st.characters(exclude_categories=["Cs"]),
                                            max_size=30)
# No shrinking: a failure prints its example at once instead of minutes of shrinking.
FUZZ = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path into ``node`` (dict keys and list indices)."""
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


ALL_PATHS = list(paths(TINY))


def mutate(data: st.DataObject) -> bytes:
    """A valid scenario with a few random changes, as the bytes of a file."""
    tree = copy.deepcopy(TINY)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(ALL_PATHS))
        parent: Any = tree
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = data.draw(st.sampled_from(["set", "delete", "add"]))
            if action == "delete":
                del parent[path[-1]]
            elif action == "set":
                parent[path[-1]] = data.draw(VALUES)
            elif isinstance(parent[path[-1]], dict):
                parent[path[-1]][data.draw(st.sampled_from(KEYS))] = data.draw(VALUES)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change removed or replaced this path
    lines = yaml.safe_dump(tree, sort_keys=False).splitlines()
    for _ in range(data.draw(st.integers(0, 2))):
        where = data.draw(st.integers(0, len(lines)))
        fragment = data.draw(TEXT)
        if where < len(lines) and ":" in lines[where] and data.draw(st.booleans()):
            lines[where] = lines[where].split(":", 1)[0] + ": " + fragment
        else:
            lines.insert(where, fragment)
    text = "\n".join(lines) + "\n"
    if data.draw(st.integers(0, 19)) == 0:
        return data.draw(st.binary(max_size=64)) + text.encode()
    return text.encode("utf-8")


def assert_clean(rc: int, err: str, seconds: float) -> None:
    assert rc in (0, 2), err[:2000]
    assert "Traceback" not in err
    if rc == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("schedsim: "), err[:2000]
        assert len(err) < 1500
    assert seconds < 10.0


@FUZZ
@given(st.data())
def test_fuzz_scenario_files(data: st.DataObject) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.yaml"
        path.write_bytes(mutate(data))
        (Path(folder) / "trace.csv").write_bytes(
            data.draw(st.sampled_from([b"time,pool,event\n10,spot,reclaim\n", b"\xff\x00",
                                       b"", b"time,pool,event\n1e400,spot,launch\n"])))
        with _captured() as capture:
            start = time.monotonic()
            rc = main(["check", str(path)])
        assert_clean(rc, capture.err(), time.monotonic() - start)


KEY_PATHS = st.sampled_from([".".join(map(str, p)) for p in ALL_PATHS]) | st.text(max_size=20)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("fuzz") / "tiny.yaml", TINY)


@FUZZ
@given(key=KEY_PATHS, value=TEXT, more=st.lists(TEXT, max_size=2), which=st.integers(0, 2))
def test_fuzz_set_grid_and_vary(tiny_file: Path, key: str, value: str, more: list[str],
                                which: int) -> None:
    tiny = tiny_file
    start = time.monotonic()
    if which == 0:
        with _captured() as capture:
            try:
                rc = main(["check", str(tiny), "--set", f"{key}={value}"])
            except SystemExit as exc:
                rc = int(exc.code or 0)
        assert_clean(rc, capture.err(), time.monotonic() - start)
        return
    # --grid and --vary: what sweep and plan check before running anything.
    item = f"{key}=" + ",".join([value, *more])
    try:
        if which == 1:
            for axis_key, values in sweep.parse_grid([item]):
                for v in values:
                    load_scenario(tiny, [f"{axis_key}={v}"])
        else:
            rng, grid = planning.parse_vary([item])
            planning.check_vary(load_scenario(tiny), rng, grid)
    except InputError as exc:
        assert "\n" not in exc.line and len(exc.line) < 1500
    assert time.monotonic() - start < 10.0


class _Capture:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def err(self) -> str:
        return str(self._stream.getvalue())


def _captured() -> Any:
    """stdout and stderr into buffers (capsys does not mix with hypothesis's @given)."""
    import contextlib
    import io

    @contextlib.contextmanager
    def manager() -> Iterator[_Capture]:
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            yield _Capture(err)

    return manager()
