"""The benchmark YAML: shipped configs, defaults equal to the paper, and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fastmax.bench.methods import METHOD_NAMES
from fastmax.bench.sweep_config import load_config, log_grid, parse_config

CONFIGS = Path(__file__).resolve().parent.parent / "workflow" / "config" / "bench"


def test_paper_config_is_the_default_and_the_papers_sweep():
    paper = load_config(CONFIGS / "paper.yaml")
    assert paper == parse_config({})
    assert (paper.B, paper.H, paper.D) == (4, 16, 128)
    assert len(paper.N) == 10 and paper.N[0] == 1000 and paper.N[-1] == 100_000
    ratios = [b / a for a, b in zip(paper.N[:-1], paper.N[1:], strict=True)]
    assert max(ratios) / min(ratios) < 1.01  # evenly spaced in log scale
    assert paper.dtypes == ("float32", "bfloat16")
    assert paper.causal == (True,)
    assert paper.passes == ("fwd", "fwd_bwd")
    assert paper.methods == METHOD_NAMES
    assert paper.device == "cuda"


def test_call_cap_is_a_number_or_null():
    assert parse_config({"timing": {"max_call_seconds": 2}}).timing.max_call_seconds == 2.0
    assert parse_config({"timing": {"max_call_seconds": None}}).timing.max_call_seconds is None
    assert load_config(CONFIGS / "h200-quick.yaml").timing.max_call_seconds == 20


def test_smoke_config_runs_on_cpu_and_quick_config_on_the_anchor_lengths():
    smoke = load_config(CONFIGS / "smoke.yaml")
    assert smoke.device == "cpu"
    assert max(smoke.N) <= 1024
    assert smoke.movement.method == "fastmax_torch"
    quick = load_config(CONFIGS / "h200-quick.yaml")
    assert quick.N == (1024, 4096, 16384, 65536)
    assert quick.dtypes == ("bfloat16",)
    assert set(quick.passes) == {"fwd", "fwd_bwd"}


def test_kernel_targets_config_covers_the_targets_of_issue_9():
    targets = load_config(CONFIGS / "kernel-targets.yaml")
    assert {"fastmax_cuda", "fastmax_cuda_unsplit", "chunk_linear_attn", "sdpa_flash"} <= set(
        targets.methods
    )
    assert targets.N[0] == 1024 and targets.N[-1] == 65536
    assert set(targets.dtypes) == {"bfloat16", "float32"}
    assert set(targets.causal) == {True, False}
    assert (targets.B, targets.H, targets.D) == (4, 16, 128)


def test_log_grid_hits_both_ends_without_repeats():
    assert log_grid(1000, 100_000, 3) == (1000, 10_000, 100_000)
    assert log_grid(5, 5, 1) == (5,)
    grid = log_grid(1, 4, 10)
    assert grid[0] == 1 and grid[-1] == 4 and len(set(grid)) == len(grid)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"Bs": 4}, "unknown key 'Bs'"),
        ({"timing": {"warmups": 3}}, "unknown key 'timing.warmups'"),
        ({"movement": {"iters": 3}}, "unknown key 'movement.iters'"),
        ({"N": [128, 0]}, "N must be an integer >= 1"),
        ({"N": [128, 128]}, "N lists a length twice"),
        ({"N": {"start": 100, "stop": 10, "points": 3}}, "N.stop (10) must be >= N.start"),
        ({"N": {"start": 100, "points": 3}}, "N.stop is required"),
        ({"N": {"start": 10, "stop": 100, "points": 3, "base": 2}}, "unknown key 'N.base'"),
        ({"N": 1024}, "N must be a non-empty list of lengths or a log grid"),
        ({"dtypes": ["float64"]}, "dtypes must be one of"),
        ({"methods": ["flash"]}, "methods must be one of"),
        ({"methods": []}, "methods must be a non-empty list"),
        ({"methods": ["sdpa_math", "sdpa_math"]}, "methods lists an entry twice"),
        ({"passes": "fwd"}, "passes must be a non-empty list"),
        ({"causal": ["yes"]}, "causal must be true or false"),
        ({"B": True}, "B must be an integer >= 1"),
        ({"D": 0}, "D must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"device": "gpu"}, "device must be 'cpu', 'cuda' or 'cuda:<index>'"),
        ({"device": "cuda:x"}, "device must be"),
        ({"normalize": None}, "normalize must be one of"),
        ({"timing": {"min_repeats": 5, "repeats": 2}}, "timing.min_repeats (5) must be <="),
        ({"timing": {"max_case_seconds": 0}}, "timing.max_case_seconds must be a positive"),
        ({"timing": {"warmup": 0}}, "timing.warmup must be an integer >= 1"),
        ({"timing": {"max_call_seconds": 0}}, "timing.max_call_seconds must be a positive"),
        ({"timing": {"max_call_seconds": -5}}, "timing.max_call_seconds must be a positive"),
        ({"timing": {"max_call_seconds": "20"}}, "timing.max_call_seconds must be a positive"),
        ({"timing": {"max_call_seconds": True}}, "timing.max_call_seconds must be a positive"),
        ({"timing": [1, 2]}, "timing must be a mapping"),
        ({"movement": {"N": []}}, "movement.N must be a non-empty list"),
        ({"movement": {"method": "nope"}}, "movement.method must be one of"),
        ([1, 2], "the config must be a mapping"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(raw, message):
    with pytest.raises(ValueError) as caught:
        parse_config(raw)
    assert message in str(caught.value)


def test_load_config_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("methods: [a, b\n")
    with pytest.raises(ValueError, match=r"broken\.yaml.*not valid YAML"):
        load_config(broken)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(yaml.safe_dump({"device": "cpu", "repeat": 3}))
    with pytest.raises(ValueError, match=r"unknown\.yaml: unknown key 'repeat'"):
        load_config(unknown)


def test_empty_file_gives_the_defaults(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == parse_config({})
