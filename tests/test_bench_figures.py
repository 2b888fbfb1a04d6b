"""``fastmax plot``: figures from a real (tiny, CPU) sweep, their provenance, and bad input."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
import torch
import yaml

import fastmax.bench.sweep as sweep
from fastmax.bench.figures import (
    _draw_time,
    _figure,
    baseline_times,
    read_sweeps,
    sdpa_baseline,
    speedup_over,
)
from fastmax.bench.sweep_table import read_table
from fastmax.cli import main
from fastmax.provenance import file_sha256

STEMS = ("fig3_time", "fig4_memory", "speedup_vs_sdpa")


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """bench.csv + environment.json of a tiny CPU sweep, run once for the module."""
    folder = tmp_path_factory.mktemp("sweep")
    config = folder / "bench.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device": "cpu",
                "methods": [
                    "fastmax_torch",
                    "naive_linear",
                    "sdpa_flash",
                    "sdpa_math",
                    "sdpa_efficient",
                    "chunk_linear_attn",
                ],
                "B": 1,
                "H": 2,
                "D": 8,
                "N": [16, 32, 64],
                "dtypes": ["float32", "bfloat16"],
                "timing": {
                    "warmup": 1,
                    "repeats": 2,
                    "min_repeats": 1,
                    "max_case_seconds": 0.01,
                    "flush_mib": 0,
                },
            }
        )
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["bench", "--config", str(config), "--out", str(folder / "out")]) == 0
    finally:
        torch.set_num_threads(threads)
    return folder / "out"


def _variant(sweep_dir, tmp_path, change):
    """A copy of the sweep's CSV (and environment) with ``change`` applied to the table."""
    table = change(read_table(sweep_dir / "bench.csv"))
    table.to_csv(tmp_path / "bench.csv", index=False)
    shutil.copy(sweep_dir / "environment.json", tmp_path / "environment.json")
    return tmp_path / "bench.csv"


def _check_outputs(out, *csv_paths):
    for stem in STEMS:
        png = (out / f"{stem}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
        sidecar = json.loads((out / f"{stem}.json").read_text())
        assert [source["csv_sha256"] for source in sidecar["sources"]] == [
            file_sha256(path) for path in csv_paths
        ]
        assert [source["environment"] for source in sidecar["sources"]] == [
            json.loads((path.parent / "environment.json").read_text()) for path in csv_paths
        ]
        assert sidecar["figure"] == stem


def test_plot_writes_three_figures_with_provenance(sweep_dir, tmp_path):
    out = tmp_path / "figures"
    assert main(["plot", "--csv", str(sweep_dir / "bench.csv"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in STEMS for ext in ("png", "pdf", "json")
    )
    _check_outputs(out, sweep_dir / "bench.csv")


def test_plot_draws_parts_of_one_sweep_together(sweep_dir, tmp_path):
    """Two CSVs (one dtype each, as when a sweep is split over GPUs) give the one-CSV figures."""
    table = read_table(sweep_dir / "bench.csv")
    parts = []
    for dtype in ("float32", "bfloat16"):
        folder = tmp_path / dtype
        folder.mkdir()
        table[table["dtype"] == dtype].to_csv(folder / "bench.csv", index=False)
        shutil.copy(sweep_dir / "environment.json", folder / "environment.json")
        parts.append(folder / "bench.csv")
    out = tmp_path / "figures"
    assert main(["plot", "--csv", *map(str, parts), "--out", str(out)]) == 0
    _check_outputs(out, *parts)


def test_plot_gives_each_head_dim_its_own_panels(sweep_dir, tmp_path):
    """Two CSVs, one head_dim each (the D=128 and D=64 target sweeps): every panel holds one
    head_dim's rows, named in its title, so no line joins two head dims' times at one N."""
    table = read_table(sweep_dir / "bench.csv")
    parts = []
    for d in (8, 16):
        folder = tmp_path / f"d{d}"
        folder.mkdir()
        times = {c: table[c] * d for c in ("median_ms", "p20_ms", "p80_ms")}
        part = table.assign(D=d, **times)
        part.to_csv(folder / "bench.csv", index=False)
        shutil.copy(sweep_dir / "environment.json", folder / "environment.json")
        parts.append(folder / "bench.csv")
    out = tmp_path / "figures"
    assert main(["plot", "--csv", *map(str, parts), "--out", str(out)]) == 0
    _check_outputs(out, *parts)
    both, _ = read_sweeps(parts)
    single = _figure(table, _draw_time)
    fig = _figure(both, _draw_time)
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(shown) == 2 * sum(ax.get_visible() and bool(ax.get_title()) for ax in single.axes)
    for ax in shown:
        d = int(re.search(r"D=(\d+),", ax.get_title()).group(1))
        assert d in (8, 16)
        lines = [bars.lines[0] for bars in ax.containers]  # each method's line, not its error bars
        for line in lines:
            n = list(line.get_xdata())
            assert len(set(n)) == len(n)  # one point per N: one head_dim per line
        want = both[(both["D"] == d) & (both["status"] == "ok")]["median_ms"]
        ys = [y for line in lines for y in line.get_ydata()]
        assert ys and set(ys) <= set(want)
    assert "D=8, 16" in fig.get_suptitle()


def test_plot_draws_a_partial_sweep_with_its_invocations(sweep_dir, tmp_path, monkeypatch):
    """A stopped sweep's bench.csv.partial is drawn with the state file's provenance."""
    config = tmp_path / "bench.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "device": "cpu",
                "methods": ["fastmax_torch", "naive_linear"],
                "B": 1,
                "H": 2,
                "D": 8,
                "N": [16, 32],
                "dtypes": ["float16"],
                "timing": {"warmup": 1, "repeats": 1, "min_repeats": 1, "flush_mib": 0},
            }
        )
    )
    real = sweep._measure_case

    def stop_at_32(method, case, *args):
        if case.N == 32:
            raise KeyboardInterrupt
        return real(method, case, *args)

    monkeypatch.setattr(sweep, "_measure_case", stop_at_32)
    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        main(["bench", "--config", str(config), "--out", str(stopped)])
    partial = stopped / "bench.csv.partial"
    assert set(read_table(partial)["N"]) == {16}
    out = tmp_path / "figures"
    assert (
        main(["plot", "--csv", str(sweep_dir / "bench.csv"), str(partial), "--out", str(out)]) == 0
    )
    sidecar = json.loads((out / "fig3_time.json").read_text())
    whole, part = sidecar["sources"]
    assert "environment" in whole and "partial" not in whole
    assert part["partial"] is True and part["csv_sha256"] == file_sha256(partial)
    assert part["invocations"][0]["bench"]["config_file"] == str(config)
    (stopped / sweep.STATE_NAME).unlink()
    assert main(["plot", "--csv", str(partial), "--out", str(tmp_path / "f")]) == 2


def test_plot_rejects_parts_that_measure_the_same_case(sweep_dir, tmp_path, capsys):
    csv_path = sweep_dir / "bench.csv"
    out = tmp_path / "figures"
    assert main(["plot", "--csv", str(csv_path), str(csv_path), "--out", str(out)]) == 2
    assert "measure the same cases" in capsys.readouterr().err
    assert not out.exists()


def test_plot_marks_out_of_memory_and_draws_gpu_memory(sweep_dir, tmp_path):
    def gpu_like(table):
        ok = table["status"] == "ok"
        table.loc[ok, "peak_mem_bytes"] = table.loc[ok, "N"] * 2**20
        heavy = (table["method"] == "naive_linear") & (table["N"] == 64)
        table.loc[heavy, "status"] = "oom"
        table.loc[heavy, ["median_ms", "p20_ms", "p80_ms", "peak_mem_bytes"]] = float("nan")
        return table

    csv_path = _variant(sweep_dir, tmp_path, gpu_like)
    assert (read_table(csv_path)["status"] == "oom").sum() == 4
    out = tmp_path / "figures"
    assert main(["plot", "--csv", str(csv_path), "--out", str(out)]) == 0
    _check_outputs(out, csv_path)


def test_speedup_baseline_is_flash_else_the_sdpa_backend_that_ran_most(sweep_dir):
    table = read_table(sweep_dir / "bench.csv")
    assert sdpa_baseline(table) == "sdpa_flash"
    no_flash = table[table["method"] != "sdpa_flash"]
    assert sdpa_baseline(no_flash) == "sdpa_math"
    assert sdpa_baseline(no_flash[no_flash["method"] != "sdpa_math"]) is None


def test_plot_without_any_sdpa_still_draws(sweep_dir, tmp_path):
    csv_path = _variant(sweep_dir, tmp_path, lambda t: t[~t["method"].str.startswith("sdpa")])
    assert main(["plot", "--csv", str(csv_path), "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "speedup_vs_sdpa.png").is_file()


def test_speedup_over_the_linear_baseline_is_drawn_when_it_ran(sweep_dir, tmp_path):
    """chunk_linear_attn cannot run on the CPU: without it no such figure; with times twice
    fastmax_torch's (a doctored copy), the figure exists and every ratio is 2."""
    plain = tmp_path / "plain"
    assert main(["plot", "--csv", str(sweep_dir / "bench.csv"), "--out", str(plain)]) == 0
    assert not (plain / "speedup_vs_linear.png").exists()

    def doubled(table):
        torch_rows = table[table["method"] == "fastmax_torch"]
        times = {c: 2 * torch_rows[c] for c in ("median_ms", "p20_ms", "p80_ms")}
        fla = torch_rows.assign(method="chunk_linear_attn", **times)
        return pd.concat([table[table["method"] != "chunk_linear_attn"], fla], ignore_index=True)

    (tmp_path / "doctored").mkdir()
    csv_path = _variant(sweep_dir, tmp_path / "doctored", doubled)
    assert main(["plot", "--csv", str(csv_path), "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "speedup_vs_linear.png").read_bytes().startswith(b"\x89PNG")
    table = read_table(csv_path)
    panel = table[(table["dtype"] == "float32") & (table["pass"] == "fwd")]
    ok = panel[(panel["method"] == "fastmax_torch") & (panel["status"] == "ok")]
    ratios = speedup_over(ok, baseline_times(panel, "chunk_linear_attn"))
    assert len(ratios) == 3 and ratios.round(9).eq(2.0).all()


def test_plot_rejects_bad_input_naming_it(sweep_dir, tmp_path, capsys):
    missing = tmp_path / "none.csv"
    assert main(["plot", "--csv", str(missing), "--out", str(tmp_path / "f")]) == 2
    assert "none.csv does not exist" in capsys.readouterr().err

    no_column = _variant(sweep_dir, tmp_path, lambda t: t.drop(columns=["p80_ms"]))
    assert main(["plot", "--csv", str(no_column), "--out", str(tmp_path / "f")]) == 2
    assert "lacks the columns ['p80_ms']" in capsys.readouterr().err

    def rename_status(table):
        table.loc[0, "status"] = "fine"
        return table

    bad_status = _variant(sweep_dir, tmp_path, rename_status)
    assert main(["plot", "--csv", str(bad_status), "--out", str(tmp_path / "f")]) == 2
    assert "status must be" in capsys.readouterr().err

    empty = _variant(sweep_dir, tmp_path, lambda t: t.iloc[:0])
    assert main(["plot", "--csv", str(empty), "--out", str(tmp_path / "f")]) == 2
    assert "holds no rows" in capsys.readouterr().err

    no_environment = _variant(sweep_dir, tmp_path, lambda t: t)
    (tmp_path / "environment.json").unlink()
    assert main(["plot", "--csv", str(no_environment), "--out", str(tmp_path / "f")]) == 2
    assert "environment.json does not exist" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()
