"""``fastmax targets``: issue 9's targets checked on a bench CSV with known times."""

from __future__ import annotations

import json

import pytest

from fastmax.bench.figures import read_sweeps
from fastmax.bench.sweep_table import COLUMNS
from fastmax.bench.targets import check_targets, summarize
from fastmax.cli import main

B, H, D = 4, 16, 128
TENSOR = B * H * 65536 * D * 2  # one bfloat16 (B, H, 65536, D) tensor, bytes


def _row(method, n, causal, pass_, ms, status="ok", peak="", dtype="bfloat16"):
    row = dict.fromkeys(COLUMNS, "")
    row.update(method=method, N=n, B=B, H=H, D=D, dtype=dtype, causal=causal)
    row.update({"pass": pass_, "median_ms": ms, "status": status, "device": "cuda:0"})
    row.update(p20_ms=ms, p80_ms=ms, repeats=3, peak_mem_bytes=peak)
    return row


@pytest.fixture
def sweep_csv(tmp_path):
    """Fastmax against fla and SDPA at N = 2048 and 65536: some targets met, some not; float32
    at N = 65536 at float32 accuracy and with TF32 allowed."""
    rows = [
        _row("fastmax_cuda", 2048, True, "fwd", 0.1),
        _row("chunk_linear_attn", 2048, True, "fwd", 0.25),  # 2.5x: met
        _row("fastmax_cuda", 2048, True, "fwd_bwd", 0.5, peak=4 * TENSOR // 32),
        _row("chunk_linear_attn", 2048, True, "fwd_bwd", 0.9),  # 1.8x: unmet
        _row("sdpa_flash", 2048, True, "fwd_bwd", 0.4),  # SDPA faster: unmet
        _row("fastmax_cuda", 65536, True, "fwd", 2.9),  # floor 1.0 ms: met at <= 3.0
        _row("chunk_linear_attn", 65536, True, "fwd", 7.6),
        _row("fastmax_cuda", 65536, True, "fwd_bwd", 16.0, peak=6 * TENSOR),  # 1.25x: met
        _row("chunk_linear_attn", 65536, True, "fwd_bwd", 26.0),  # 1.62x: unmet
        _row("sdpa_flash", 65536, True, "fwd_bwd", 750.0),
        _row("fastmax_cuda", 65536, False, "fwd", 3.0),
        _row("chunk_linear_attn", 65536, False, "fwd", "", "unsupported"),
        _row("fastmax_cuda", 65536, True, "fwd", 20.0, dtype="float32"),  # 0.65x: unmet
        _row("fastmax_cuda_tf32", 65536, True, "fwd", 6.0, dtype="float32"),  # 2.17x: met
        _row("fastmax_cuda_tf32", 65536, True, "fwd", 1.0),  # bfloat16: not a TF32 case
        _row("chunk_linear_attn", 65536, True, "fwd", 13.0, dtype="float32"),
    ]
    path = tmp_path / "bench.csv"
    lines = [",".join(COLUMNS)] + [",".join(str(r[c]) for c in COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "environment.json").write_text(json.dumps({"gpus": [{"name": "test"}]}))
    return path


def _by(checks, target, n, pass_, causal=True, dtype="bfloat16"):
    (found,) = [
        c
        for c in checks
        if (c.target, c.N, c.pass_, c.causal, c.dtype) == (target, n, pass_, causal, dtype)
    ]
    return found


def test_each_target_is_checked_against_its_peer(sweep_csv):
    checks = check_targets(read_sweeps([sweep_csv])[0], copy_tbps=4.3)
    fla = _by(checks, "2x fla", 2048, "fwd")
    assert fla.value == pytest.approx(2.5) and fla.met
    assert _by(checks, "2x fla", 2048, "fwd_bwd").met is False
    no_peer = _by(checks, "2x fla", 65536, "fwd", causal=False)
    assert no_peer.met is None and "unsupported" in no_peer.note
    sdpa = _by(checks, "faster than SDPA", 2048, "fwd_bwd")
    assert sdpa.value == pytest.approx(0.8) and sdpa.met is False
    assert _by(checks, "faster than SDPA", 65536, "fwd_bwd").met
    # floor: q, k, v and o once (fwd, 4 tensors of 1.07 GB) at 4.3 TB/s, times 3; fwd_bwd 3x more
    floor_fwd = _by(checks, "3x floor", 65536, "fwd")
    assert floor_fwd.limit == pytest.approx(3 * 4 * TENSOR / 4.3e12 * 1e3) and floor_fwd.met
    floor_both = _by(checks, "3x floor", 65536, "fwd_bwd")
    assert floor_both.limit == pytest.approx(3 * floor_fwd.limit) and floor_both.met is False
    strict = _by(checks, "2x fla", 65536, "fwd", dtype="float32")
    assert strict.value == pytest.approx(0.65) and strict.met is False
    (tf32,) = [c for c in checks if c.target == "2x fla, TF32"]
    assert (tf32.dtype, tf32.N, tf32.pass_) == ("float32", 65536, "fwd")
    assert tf32.value == pytest.approx(13.0 / 6.0) and tf32.met
    memory = _by(checks, "peak memory", 65536, "fwd_bwd")
    assert memory.value == pytest.approx(1.25) and memory.met
    assert _by(checks, "peak memory", 2048, "fwd_bwd").value == pytest.approx(
        (4 * TENSOR / 32 + 4 * TENSOR / 32) / (8 * TENSOR / 32)
    )


def test_summary_counts_met_unmet_and_cases_without_a_peer(sweep_csv):
    summary = {s["target"]: s for s in summarize(check_targets(read_sweeps([sweep_csv])[0]))}
    assert (summary["2x fla"]["met"], summary["2x fla"]["unmet"]) == (2, 3)
    assert summary["2x fla"]["no_peer"] == 1
    assert summary["2x fla"]["worst"].startswith("0.65 (D=128 float32 causal fwd N=65536)")
    assert (summary["2x fla, TF32"]["cases"], summary["2x fla, TF32"]["met"]) == (1, 1)
    assert (summary["faster than SDPA"]["met"], summary["faster than SDPA"]["unmet"]) == (1, 1)


def test_command_writes_the_report(sweep_csv, tmp_path):
    out = tmp_path / "report"
    assert main(["targets", "--csv", str(sweep_csv), "--out", str(out)]) == 0
    report = (out / "targets.md").read_text()
    assert "| 2x fla | 6 | 2 | 3 | 1 |" in report
    assert "| 2x fla, TF32 | 1 | 1 | 0 | 0 |" in report
    assert "faster than SDPA: D=128 bfloat16 causal fwd_bwd N=2048: 0.8 against 1" in report
    data = json.loads((out / "targets.json").read_text())
    assert data["sources"][0]["environment"] == {"gpus": [{"name": "test"}]}
    assert len((out / "targets.csv").read_text().splitlines()) == 1 + len(data["checks"])


def test_bad_input_is_refused_naming_it(sweep_csv, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    lines = sweep_csv.read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if not line.startswith("fastmax_cuda")]
    (other / "bench.csv").write_text("\n".join(kept) + "\n")
    (other / "environment.json").write_text("{}")
    assert main(["targets", "--csv", str(other / "bench.csv"), "--out", str(tmp_path)]) == 2
    assert "no fastmax_cuda result" in capsys.readouterr().err
    assert (
        main(["targets", "--csv", str(sweep_csv), "--out", str(tmp_path), "--copy-tbps", "0"]) == 2
    )
    assert "--copy-tbps must be > 0" in capsys.readouterr().err
