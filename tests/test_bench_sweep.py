"""``fastmax bench`` on the CPU: the CSV, OOM handling, unsupported peers, partial runs, resume."""

from __future__ import annotations

import csv
import json
import time

import pytest
import torch
import yaml

import fastmax.bench.sweep as sweep
from fastmax.bench.methods import Method, Prepared, build_methods
from fastmax.bench.sweep_table import COLUMNS, read_table
from fastmax.cli import main

ALL = ["fastmax_torch", "naive_linear", "sdpa_math", "sdpa_efficient", "fastmax_cuda", "chunk_gla"]
TINY = {
    "device": "cpu",
    "methods": ["fastmax_torch", "naive_linear", "sdpa_math", "chunk_gla"],
    "B": 1,
    "H": 2,
    "D": 8,
    "N": [16, 40],
    "dtypes": ["float32"],
    "causal": [True],
    "passes": ["fwd", "fwd_bwd"],
    "timing": {
        "warmup": 1,
        "repeats": 3,
        "min_repeats": 2,
        "max_case_seconds": 0.01,
        "flush_mib": 1,
    },
}
CASES = 4 * 2 * 2  # methods x N x passes


pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path, **changes):
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


class _Wrapped(Method):
    """A real method whose function is replaced by ``wrap(function)`` from length ``limit`` on."""

    def __init__(self, inner: Method, limit: int, wrap) -> None:
        self.inner, self.limit, self.wrap, self.name = inner, limit, wrap, inner.name

    def prepare(self, q, k, v, causal):
        prepared = self.inner.prepare(q, k, v, causal)
        if q.shape[2] < self.limit:
            return prepared
        return Prepared(self.wrap(prepared.fn), prepared.inputs, prepared.out_shape)


def _raising(error: BaseException):
    """A wrap for ``_Wrapped``: the function raises ``error``."""

    def wrap(fn):
        def fail(*inputs):
            raise error

        return fail

    return wrap


def _sleeping(seconds: float):
    """A wrap for ``_Wrapped``: the function sleeps ``seconds``, then runs."""

    def wrap(fn):
        def slow(*inputs):
            time.sleep(seconds)
            return fn(*inputs)

        return slow

    return wrap


def _inject(monkeypatch, changes):
    """Wrap methods in the sweep's method table: ``{name: (limit, wrap)}``, see ``_Wrapped``."""

    def patched(names, normalize="token"):
        return [
            _Wrapped(m, *changes[m.name]) if m.name in changes else m
            for m in build_methods(names, normalize)
        ]

    monkeypatch.setattr(sweep, "build_methods", patched)


def test_sweep_writes_the_tidy_csv_and_environment(tmp_path):
    out = tmp_path / "out"
    config = _config(tmp_path, methods=ALL, dtypes=["float32", "bfloat16"])
    assert main(["bench", "--config", str(config), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bench.csv", "environment.json"]
    with open(out / "bench.csv", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    table = read_table(out / "bench.csv")
    assert len(table) == len(ALL) * 2 * 2 * 2
    assert not table.duplicated(["method", "N", "dtype", "causal", "pass"]).any()
    assert str(table["N"].dtype) == "int64" and str(table["median_ms"].dtype) == "float64"
    assert set(table["device"]) == {"cpu"} and set(table["B"]) == {1}
    ok = table[table["status"] == "ok"]
    assert set(ok["method"]) == {"fastmax_torch", "naive_linear", "sdpa_math"}
    assert (ok["p20_ms"] <= ok["median_ms"]).all() and (ok["median_ms"] <= ok["p80_ms"]).all()
    assert (ok["median_ms"] > 0).all() and (ok["repeats"] >= 2).all()
    assert table["peak_mem_bytes"].isna().all()  # no allocator statistics on the CPU
    unsupported = table[table["status"] == "unsupported"]
    assert set(unsupported["method"]) == {"sdpa_efficient", "fastmax_cuda", "chunk_gla"}
    assert unsupported["reason"].str.len().gt(10).all()
    assert unsupported["median_ms"].isna().all()
    env = json.loads((out / "environment.json").read_text())
    assert {"triton", "fla-core", "torch"} <= set(env["packages"])
    assert env["bench"]["config"]["methods"] == ALL
    assert env["resumed_from"] == []
    assert "commit" in env["git"] and env["command"]


def test_out_of_memory_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB")
    _inject(monkeypatch, {"naive_linear": (40, _raising(error))})
    out = tmp_path / "out"
    assert main(["bench", "--config", str(_config(tmp_path)), "--out", str(out)]) == 0
    table = read_table(out / "bench.csv")
    naive = table[table["method"] == "naive_linear"]
    assert (naive.loc[naive["N"] == 16, "status"] == "ok").all()
    oom = naive[naive["N"] == 40]
    assert len(oom) == 2 and (oom["status"] == "oom").all()
    assert oom["reason"].str.contains("Tried to allocate").all()
    after = table[(table["N"] == 40) & (table["method"].isin(["fastmax_torch", "sdpa_math"]))]
    assert len(after) == 4 and (after["status"] == "ok").all()


def test_other_failures_are_errors_with_their_text(tmp_path, monkeypatch):
    _inject(monkeypatch, {"sdpa_math": (40, _raising(ValueError("kernel refused\nthis shape")))})
    out = tmp_path / "out"
    assert main(["bench", "--config", str(_config(tmp_path)), "--out", str(out)]) == 0
    rows = [r for r in _rows(out / "bench.csv") if r["method"] == "sdpa_math" and r["N"] == "40"]
    assert {r["status"] for r in rows} == {"error: ValueError: kernel refused this shape"}


def test_interrupted_sweep_keeps_its_rows_and_resumes(tmp_path, monkeypatch, capsys):
    config = _config(tmp_path)
    out = tmp_path / "out"
    _inject(monkeypatch, {"sdpa_math": (40, _raising(KeyboardInterrupt()))})
    with pytest.raises(KeyboardInterrupt):
        main(["bench", "--config", str(config), "--out", str(out)])
    assert not (out / "bench.csv").exists()
    kept = _rows(out / "bench.csv.partial")
    assert 0 < len(kept) < CASES
    assert {r["N"] for r in kept} == {"16", "40"}  # all of N=16, then part of N=40

    assert main(["bench", "--config", str(config), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err

    monkeypatch.setattr(sweep, "build_methods", build_methods)
    assert main(["bench", "--config", str(config), "--out", str(out), "--resume"]) == 0
    final = _rows(out / "bench.csv")
    assert len(final) == CASES
    assert final[: len(kept)] == kept  # earlier rows are kept as they were measured
    keys = [(r["method"], r["N"], r["dtype"], r["causal"], r["pass"]) for r in final]
    assert len(set(keys)) == CASES
    assert not (out / "bench.csv.partial").exists()
    assert not (out / sweep.STATE_NAME).exists()
    env = json.loads((out / "environment.json").read_text())
    assert len(env["resumed_from"]) == 1


SLOW_REASON = r"skipped: 0\.1 s per call at N=16 > timing\.max_call_seconds = 0\.05"


def _capped(tmp_path, **changes):
    """TINY with a cap of 0.05 s per call, which the tiny real methods stay far below."""
    return _config(tmp_path, timing={**TINY["timing"], "max_call_seconds": 0.05}, **changes)


def test_a_method_slower_than_the_call_cap_is_skipped_at_larger_n(tmp_path, monkeypatch):
    _inject(monkeypatch, {"sdpa_math": (0, _sleeping(0.1))})
    out = tmp_path / "out"
    config = _capped(tmp_path, N=[40, 16, 24])  # run in increasing N all the same
    assert main(["bench", "--config", str(config), "--out", str(out)]) == 0
    table = read_table(out / "bench.csv")
    assert list(table["N"].drop_duplicates()) == [16, 24, 40]
    slow = table[table["method"] == "sdpa_math"]
    measured = slow[slow["N"] == 16]
    assert (measured["status"] == "ok").all() and (measured["median_ms"] >= 100).all()
    skipped = slow[slow["N"] > 16]
    assert len(skipped) == 4 and (skipped["status"] == "unsupported").all()
    assert skipped["reason"].str.fullmatch(SLOW_REASON).all()
    assert skipped["median_ms"].isna().all()
    others = table[table["method"].isin(["fastmax_torch", "naive_linear"])]
    assert len(others) == 12 and (others["status"] == "ok").all()


def test_the_call_cap_holds_across_resume(tmp_path, monkeypatch):
    config = _capped(tmp_path)
    out = tmp_path / "out"
    _inject(
        monkeypatch,
        {"sdpa_math": (0, _sleeping(0.1)), "fastmax_torch": (40, _raising(KeyboardInterrupt()))},
    )
    with pytest.raises(KeyboardInterrupt):
        main(["bench", "--config", str(config), "--out", str(out)])
    kept = _rows(out / "bench.csv.partial")
    assert {r["N"] for r in kept} == {"16"}  # stopped before any case at N=40

    monkeypatch.setattr(sweep, "build_methods", build_methods)  # sdpa_math is fast now
    assert main(["bench", "--config", str(config), "--out", str(out), "--resume"]) == 0
    table = read_table(out / "bench.csv")
    skipped = table[(table["method"] == "sdpa_math") & (table["N"] == 40)]
    assert len(skipped) == 2 and (skipped["status"] == "unsupported").all()
    assert skipped["reason"].str.fullmatch(SLOW_REASON).all()
    fast = table[(table["method"] != "sdpa_math") & (table["method"] != "chunk_gla")]
    assert len(fast) == 8 and (fast["status"] == "ok").all()


def test_time_budget_stops_cleanly_and_resume_finishes(tmp_path, capsys):
    config = _config(tmp_path)
    out = tmp_path / "out"
    args = ["bench", "--config", str(config), "--out", str(out)]
    assert main([*args, "--max-minutes", "0"]) == sweep.EXIT_BUDGET
    assert "--resume" in capsys.readouterr().err
    assert _rows(out / "bench.csv.partial") == []
    assert main([*args, "--resume"]) == 0
    assert len(_rows(out / "bench.csv")) == CASES


def test_resume_refuses_another_config_or_a_finished_run(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--out", str(out)]
    assert main(["bench", "--config", str(_config(tmp_path)), *args, "--max-minutes", "0"]) == 3
    changed = _config(tmp_path, D=16)
    assert main(["bench", "--config", str(changed), *args, "--resume"]) == 2
    assert "differs from the interrupted run's in ['D']" in capsys.readouterr().err
    assert main(["bench", "--config", str(_config(tmp_path)), *args, "--resume"]) == 0
    assert main(["bench", "--config", str(_config(tmp_path)), *args]) == 2
    assert "is complete" in capsys.readouterr().err


def test_resume_refuses_other_code(tmp_path, capsys):
    """The state file records the working-tree hash; changed files refuse a resume."""
    out = tmp_path / "out"
    args = ["bench", "--config", str(_config(tmp_path)), "--out", str(out)]
    assert main([*args, "--max-minutes", "0"]) == 3
    state_path = out / sweep.STATE_NAME
    state = json.loads(state_path.read_text())
    tree = state["invocations"][0]["git"]["tree"]
    assert tree and len(tree) == 40
    state["invocations"][0]["git"]["tree"] = "0" * 40
    state_path.write_text(json.dumps(state))
    assert main([*args, "--resume"]) == 2
    assert f"started with code tree {'0' * 40}, the code is now tree {tree}" in (
        capsys.readouterr().err
    )


def test_resume_without_a_partial_run_is_an_error(tmp_path, capsys):
    assert (
        main(
            ["bench", "--config", str(_config(tmp_path)), "--out", str(tmp_path / "o"), "--resume"]
        )
        == 2
    )
    assert "nothing to resume" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_config_without_a_gpu_fails_before_running(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["bench", "--config", str(_config(tmp_path, device="cuda")), "--out", str(out)]) == 2
    )
    assert "PyTorch sees no CUDA GPU" in capsys.readouterr().err
    assert not out.exists()


def test_bad_config_fails_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    bad = _config(tmp_path, passes=["forward"])
    assert main(["bench", "--config", str(bad), "--out", str(out)]) == 2
    assert "passes must be one of" in capsys.readouterr().err
    assert not out.exists()


def test_set_overrides_config_keys_and_is_recorded(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["bench", "--config", str(_config(tmp_path)), "--out", str(out)]
    assert main([*args, "--set", "N=[24]", "methods=[fastmax_torch]", "passes=[fwd]"]) == 0
    table = read_table(out / "bench.csv")
    assert list(table["N"]) == [24] and list(table["method"]) == ["fastmax_torch"]
    env = json.loads((out / "environment.json").read_text())
    assert env["bench"]["config"]["N"] == [24]

    other = tmp_path / "other"
    bad = ["bench", "--config", str(_config(tmp_path)), "--out", str(other)]
    assert main([*bad, "--set", "dtypes=[float64]"]) == 2
    assert "dtypes" in capsys.readouterr().err
    assert main([*bad, "--set", "dtype"]) == 2
    assert "must look like key=value" in capsys.readouterr().err
    assert not other.exists()
