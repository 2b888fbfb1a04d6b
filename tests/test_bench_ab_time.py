"""``fastmax ab-time``: the op timed under a label per build, rows appended, medians compared."""

from __future__ import annotations

import csv

import pytest
import torch

from fastmax.bench.ab_time import FIELDS, table
from fastmax.cli import main
from fastmax.environ import float32_matmul_precision


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_two_builds_append_rows_and_compare(tmp_path, capsys):
    path = tmp_path / "ab.csv"
    common = ["--csv", str(path), "--shapes", "small", "--device", "cpu", "--backend", "torch"]
    for label in ("old", "new", "old"):
        assert main(["ab-time", "run", "--label", label, *common]) == 0
    rows = _rows(path)
    assert tuple(rows[0]) == FIELDS
    assert [r["label"] for r in rows] == ["old"] * 2 + ["new"] * 2 + ["old"] * 2
    assert {(r["B"], r["H"], r["N"], r["D"], r["causal"]) for r in rows} == {
        ("1", "2", "100", "32", "True"),
        ("2", "4", "70", "64", "False"),
    }
    assert all(float(r["fwd_ms"]) > 0 and float(r["fwd_bwd_ms"]) > 0 for r in rows)
    assert all(r["peak_extra_mib"] == "" for r in rows)  # no allocator statistics on a CPU
    assert float(rows[0]["qkv_mib"]) == pytest.approx(3 * 100 * 2 * 32 * 2 / 2**20)
    capsys.readouterr()
    assert main(["ab-time", "table", str(path), "--base", "old"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert sum("old:" in line and "fwd_ms=1.000 fwd_bwd_ms=1.000" in line for line in lines) == 2
    assert sum("(2 rounds" in line for line in lines) == 2


def test_table_takes_medians_over_rounds_and_ratios_to_the_base(tmp_path):
    path = tmp_path / "ab.csv"
    shape = {"dtype": "bfloat16", "B": 4, "H": 16, "N": 65536, "D": 128, "causal": True}
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for label, fwd, fwd_bwd in (
            ("v8", 4.4, 16.0),
            ("v9", 4.2, 16.5),
            ("v8", 4.3, 15.0),
            ("v9", 4.1, 15.9),
            ("v8", 9.0, 17.0),
            ("v9", 4.0, 16.2),
        ):
            writer.writerow(
                {
                    **shape,
                    "label": label,
                    "fwd_ms": fwd,
                    "fwd_bwd_ms": fwd_bwd,
                    "peak_extra_mib": 1.0,
                    "qkv_mib": 3.0,
                }
            )
    rows = {row["label"]: row for row in table(path, "v8")}
    assert rows["v8"]["rounds"] == rows["v9"]["rounds"] == 3
    assert rows["v8"]["fwd_ms"] == pytest.approx(4.4) and rows["v9"]["fwd_ms"] == pytest.approx(4.1)
    assert rows["v9"]["fwd_ms_ratio"] == pytest.approx(4.1 / 4.4)
    assert rows["v9"]["fwd_bwd_ms_ratio"] == pytest.approx(16.2 / 16.0)
    assert rows["v8"]["fwd_bwd_ms_ratio"] == pytest.approx(1.0)


def test_a_csv_with_other_columns_is_refused(tmp_path, capsys):
    path = tmp_path / "other.csv"
    path.write_text("case,tensor,bitwise\nx,out,True\n")
    argv = ["ab-time", "run", "--label", "a", "--csv", str(path), "--shapes", "small"]
    assert main([*argv, "--device", "cpu", "--backend", "torch"]) == 2
    assert "are not fastmax ab-time's" in capsys.readouterr().err
    assert path.read_text() == "case,tensor,bitwise\nx,out,True\n"


def test_table_names_the_labels_when_the_base_is_missing(tmp_path, capsys):
    path = tmp_path / "ab.csv"
    argv = ["--csv", str(path), "--shapes", "small", "--device", "cpu", "--backend", "torch"]
    assert main(["ab-time", "run", "--label", "main", *argv]) == 0
    assert main(["ab-time", "table", str(path), "--base", "v8"]) == 2
    assert "--base 'v8': no rows of that label" in capsys.readouterr().err
    assert main(["ab-time", "table", str(tmp_path / "none.csv"), "--base", "v8"]) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_run_without_a_gpu_names_the_device(tmp_path, capsys):
    argv = ["ab-time", "run", "--label", "a", "--csv", str(tmp_path / "ab.csv")]
    assert main(argv) == 2
    assert "--device cuda: no CUDA device here" in capsys.readouterr().err
    assert not (tmp_path / "ab.csv").exists()


def test_a_label_times_one_build_and_a_build_one_label(tmp_path, monkeypatch, capsys):
    import fastmax.bench.ab_time as ab_time

    loaded = {"digest": "aaaa"}
    monkeypatch.setattr(ab_time, "build_digest", lambda device, backend: loaded["digest"])
    path = tmp_path / "ab.csv"
    argv = ["--csv", str(path), "--shapes", "small", "--device", "cpu", "--backend", "torch"]
    assert main(["ab-time", "run", "--label", "base", *argv]) == 0
    assert "base: build aaaa" in capsys.readouterr().out
    # The candidate's run loads the base's build again: refused, nothing appended.
    assert main(["ab-time", "run", "--label", "candidate", *argv]) == 2
    err = capsys.readouterr().err
    assert "loads build aaaa, which" in err and "as 'base'" in err and "own directory" in err
    assert [r["label"] for r in _rows(path)] == ["base", "base"]
    assert main(["ab-time", "run", "--label", "candidate", "--allow-same-build", *argv]) == 0
    loaded["digest"] = "bbbb"
    assert main(["ab-time", "run", "--label", "base", *argv]) == 2
    assert "has that label for build aaaa, but this run loads build bbbb" in (
        capsys.readouterr().err
    )
    assert main(["ab-time", "run", "--label", "other", *argv]) == 0
    builds = (tmp_path / "ab.csv.builds.json").read_text()
    assert '"base": "aaaa"' in builds and '"other": "bbbb"' in builds
    assert [r["label"] for r in _rows(path)].count("other") == 2


def test_the_build_digest_is_the_loaded_extension_where_the_cuda_op_runs():
    import hashlib

    from fastmax.bench.ab_time import build_digest
    from fastmax.ops import _cuda

    assert build_digest("cpu", "auto") is None
    assert build_digest("cuda", "torch") is None
    if not _cuda.extension_loaded():
        assert build_digest("cuda", "auto") is None
        return
    from fastmax import _C

    with open(_C.__file__, "rb") as f:
        assert build_digest("cuda", "auto") == hashlib.sha256(f.read()).hexdigest()[:16]


def test_normalisations_are_recorded_and_compared_apart(tmp_path, capsys):
    path = tmp_path / "ab.csv"
    common = ["--csv", str(path), "--shapes", "small", "--device", "cpu", "--backend", "torch"]
    assert main(["ab-time", "run", "--label", "a", *common]) == 0
    assert main(["ab-time", "run", "--label", "a", "--normalize", "seq_max", *common]) == 0
    assert [r["normalize"] for r in _rows(path)] == ["token"] * 2 + ["seq_max"] * 2
    rows = table(path, "a")
    assert sorted((r["N"], r["normalize"], r["rounds"]) for r in rows) == [
        ("100", "seq_max", 1),
        ("100", "token", 1),
        ("70", "seq_max", 1),
        ("70", "token", 1),
    ]
    capsys.readouterr()
    assert main(["ab-time", "table", str(path), "--base", "a"]) == 0
    assert sum(" seq_max a:" in line for line in capsys.readouterr().out.splitlines()) == 2


def test_a_csv_without_the_normalize_column_reads_as_token(tmp_path):
    path = tmp_path / "old.csv"
    old = [f for f in FIELDS if f != "normalize"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old)
        writer.writeheader()
        row = dict.fromkeys(old, "1")
        writer.writerow({**row, "label": "v14", "causal": "True"})
    (result,) = table(path, "v14")
    assert result["normalize"] == "token" and result["fwd_ms_ratio"] == pytest.approx(1.0)


CPU = ["--shapes", "small", "--device", "cpu", "--backend", "torch"]


def _record_precision(monkeypatch, fail: bool = False) -> list[str]:
    """The float32 matmul precision in effect at each call of the op (raising when ``fail``)."""
    import fastmax.bench.ab_time as ab_time

    seen: list[str] = []
    op = ab_time.fastmax_attention

    def recorded(*args, **kwargs):
        seen.append(torch.get_float32_matmul_precision())
        if fail:
            raise RuntimeError("the op failed")
        return op(*args, **kwargs)

    monkeypatch.setattr(ab_time, "fastmax_attention", recorded)
    return seen


def test_float32_precision_is_in_effect_for_the_op_recorded_and_restored(tmp_path, monkeypatch):
    seen = _record_precision(monkeypatch)
    path = tmp_path / "ab.csv"
    argv = ["ab-time", "run", "--label", "a", "--csv", str(path), "--dtype", "float32", *CPU]
    with float32_matmul_precision("highest"):
        assert main([*argv, "--float32-precision", "high"]) == 0
        assert torch.get_float32_matmul_precision() == "highest"
    assert seen and set(seen) == {"high"}
    assert [r["float32_precision"] for r in _rows(path)] == ["high"] * 2


def test_the_default_precision_is_the_current_setting(tmp_path, monkeypatch):
    seen = _record_precision(monkeypatch)
    path = tmp_path / "ab.csv"
    argv = ["ab-time", "run", "--label", "a", "--csv", str(path), *CPU]
    with float32_matmul_precision("medium"):
        assert main([*argv, "--dtype", "float32"]) == 0
        assert main(argv) == 0  # bfloat16: what torch was set to
    assert seen and set(seen) == {"medium"}
    assert [(r["dtype"], r["float32_precision"]) for r in _rows(path)] == [
        ("float32", "medium")
    ] * 2 + [("bfloat16", "medium")] * 2


def test_the_precision_is_restored_when_the_run_fails(tmp_path, monkeypatch, capsys):
    seen = _record_precision(monkeypatch, fail=True)
    path = tmp_path / "ab.csv"
    argv = ["ab-time", "run", "--label", "a", "--csv", str(path), "--dtype", "float32", *CPU]
    with float32_matmul_precision("highest"):
        assert main([*argv, "--float32-precision", "medium"]) == 2
        assert torch.get_float32_matmul_precision() == "highest"
    assert "float32 fwd: error: RuntimeError: the op failed" in capsys.readouterr().err
    assert seen == ["medium"]
    assert not path.exists()


def test_table_keeps_two_precisions_apart(tmp_path, capsys):
    path = tmp_path / "ab.csv"
    shape = {"dtype": "float32", "B": 4, "H": 16, "N": 65536, "D": 128, "causal": True}
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for precision, fwd in (("highest", 19.8), ("high", 5.4), ("highest", 19.6), ("high", 5.2)):
            writer.writerow(
                {
                    **shape,
                    "label": "v32",
                    "normalize": "token",
                    "float32_precision": precision,
                    "fwd_ms": fwd,
                    "fwd_bwd_ms": 4 * fwd,
                }
            )
    rows = {row["float32_precision"]: row for row in table(path, "v32")}
    assert sorted(rows) == ["high", "highest"]
    assert rows["highest"]["rounds"] == rows["high"]["rounds"] == 2
    assert rows["highest"]["fwd_ms"] == pytest.approx(19.7)
    assert rows["high"]["fwd_ms"] == pytest.approx(5.3)
    assert rows["high"]["fwd_ms_ratio"] == pytest.approx(1.0)
    assert main(["ab-time", "table", str(path), "--base", "v32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert sum("float32 float32_precision=high B=4" in line for line in lines) == 1


@pytest.mark.parametrize("columns", ["without", "empty"])
def test_a_csv_without_a_precision_reads_as_highest(tmp_path, columns):
    path = tmp_path / "ab.csv"
    fields = [f for f in FIELDS if f != "float32_precision"] if columns == "without" else FIELDS
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for fwd in (5.4, 5.2):
            writer.writerow(
                {
                    **dict.fromkeys(fields, "1"),
                    "label": "base",
                    "normalize": "token",
                    "fwd_ms": fwd,
                }
                | ({"float32_precision": ""} if columns == "empty" else {})
            )
    (result,) = table(path, "base")
    assert result["float32_precision"] == "highest" and result["rounds"] == 2
    assert result["fwd_ms"] == pytest.approx(5.3)


def test_a_run_into_a_csv_without_the_precision_column_is_refused(tmp_path, capsys):
    path = tmp_path / "old.csv"
    old = ",".join(f for f in FIELDS if f != "float32_precision")
    path.write_text(f"{old}\nbase,float32,4,16,65536,128,True,token,5.4,57.0,10336.0,6144.0\n")
    before = path.read_text()
    argv = ["ab-time", "run", "--label", "base", "--csv", str(path), "--dtype", "float32", *CPU]
    assert main(argv) == 2
    assert "are not fastmax ab-time's" in capsys.readouterr().err
    assert path.read_text() == before


def test_a_precision_with_another_dtype_is_refused_naming_both_options(tmp_path, capsys):
    path = tmp_path / "ab.csv"
    argv = ["ab-time", "run", "--label", "a", "--csv", str(path), *CPU]
    assert main([*argv, "--float32-precision", "high"]) == 2
    err = capsys.readouterr().err
    assert "--float32-precision high" in err and "--dtype float32, not --dtype bfloat16" in err
    assert not path.exists()


def test_an_unknown_precision_is_refused_by_the_parser(tmp_path, capsys):
    path = tmp_path / "ab.csv"
    argv = ["ab-time", "run", "--label", "a", "--csv", str(path), "--dtype", "float32", *CPU]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--float32-precision", "tf32"])
    assert stopped.value.code == 2
    assert "--float32-precision: invalid choice: 'tf32'" in capsys.readouterr().err
    assert not path.exists()
