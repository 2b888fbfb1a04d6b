"""The Snakemake workflow, run for real by Snakemake in a fresh copy of the repository.

Dry runs of every target for both configs, the config choice, schema errors before any job
starts, a failing rule leaving nothing behind, and (slow) the smoke run end to end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("kernels", "profile", "data", "train_regular", "train_linear", "evaluate", "figures")
SMOKE_DATA = {"sample_corpus": 1, "tokenizer_gpt2": 1, "shards": 1}
PAPER_DATA = {"tokenizer_hub": 1, "shards": 1}
KERNELS = {"extension": 1, "correctness": 1}
PROFILE = {"bench": 1, "movement": 1, "bench_train": 1}
FIGURES = {**KERNELS, **PROFILE, "scaling_figures": 1}


def expected_jobs(config: str, target: str) -> dict[str, int]:
    """Jobs a dry run of ``target`` plans from scratch, by rule."""
    data = SMOKE_DATA if config == "smoke" else PAPER_DATA
    train = {**data, "train": 2}
    evaluate = {**train, "evaluate_run": 2, "eval_table": 1}
    plans = {
        "kernels": KERNELS,
        "profile": PROFILE,
        "data": data,
        "train_regular": {**data, "train": 1},
        "train_linear": {**data, "train": 1},
        "evaluate": evaluate,
        "figures": FIGURES,
        "all": {**FIGURES, **evaluate, "training_curves": 1},
    }
    return {**plans[target], target: 1}


def workflow_env() -> dict[str, str]:
    """This interpreter's bin folder first on PATH, so jobs find fastmax, python and litgpt."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("FASTMAX_WORKFLOW", None)
    return env


def snakemake(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run Snakemake in ``cwd`` with this interpreter; stdout and stderr together."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=workflow_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run: rule -> job count (total dropped)."""
    table = output.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        jobs[match[1]] = int(match[2])
    jobs.pop("total")
    return jobs


def copy_repository(destination: Path) -> Path:
    """Copy the files git tracks or would track (no results, no venv) into ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh copy of the repository, shared by the tests that only plan (dry runs)."""
    return copy_repository(tmp_path_factory.mktemp("clone"))


@pytest.mark.parametrize("target", (*TARGETS, "all"))
@pytest.mark.parametrize("config", ("smoke", "paper"))
def test_dry_run_plans_every_job_of_the_target(clone, config, target):
    result = snakemake(clone, target, "--dry-run", "--config", f"profile={config}")
    assert result.returncode == 0, result.stdout
    assert planned_jobs(result.stdout) == expected_jobs(config, target)
    assert f"config '{config}' (--config profile={config})" in result.stdout


def test_smoke_commands_follow_the_stage_contract(clone):
    result = snakemake(clone, "all", "--dry-run", "--printshellcmds", "--config", "profile=smoke")
    assert result.returncode == 0, result.stdout
    r = "results/smoke"
    expected = [
        f"fastmax check --out {r}/kernels --quick",
        f"fastmax bench --config workflow/config/bench/smoke.yaml --out {r}/profile",
        f"fastmax plot --csv {r}/profile/bench.csv --out {r}/figures",
        "fastmax profile-movement --config workflow/config/bench/smoke.yaml "
        f"--out {r}/profile/movement",
        "fastmax bench-train --config workflow/config/bench-train/smoke.yaml "
        f"--out {r}/profile/bench_train",
        f"fastmax tokenizer gpt2 --out {r}/data/tokenizer/gpt2",
        f"fastmax prepare sample --out {r}/data/sample",
        f"fastmax prepare wiki40b --source {r}/data/sample --tokenizer {r}/data/tokenizer/gpt2 "
        f"--out {r}/data/shards",
        "fastmax train --config workflow/config/train/smoke-linear.yaml "
        f"--out {r}/train/linear --set data.path={r}/data/shards "
        f"--set tokenizer_dir={r}/data/tokenizer/gpt2",
        f"fastmax plot-train --runs softmax={r}/train/regular/metrics.csv "
        f"fastmax={r}/train/linear/metrics.csv --out {r}/figures/training_loss",
        f"fastmax evaluate {r}/train/regular/final --tasks smoke_lambada,smoke_piqa,"
        f"smoke_wikitext --out {r}/eval/regular.json --batch-size 4",
        f"fastmax report --run softmax={r}/eval/regular.json --run fastmax={r}/eval/linear.json "
        f"--out {r}/eval",
    ]
    for command in expected:
        assert command in result.stdout, command
    assert "--include-path fastmax/evaluate/tasks" in result.stdout
    assert f"--cache {r}/eval/request-cache > {r}/logs/eval/regular.log" in result.stdout
    assert f"> {r}/logs/train/linear.log 2>&1" in result.stdout


def test_figures_include_the_training_curves_once_both_runs_exist(tmp_path):
    work = copy_repository(tmp_path)
    results = work / "results" / "smoke"
    folders = ["data/sample", "data/tokenizer/gpt2", "data/shards", "train/regular/final"]
    folders.append("train/linear/final")
    files = [f"train/{v}/metrics.csv" for v in ("regular", "linear")]
    files += [f"benchmarks/train/{v}.tsv" for v in ("regular", "linear")]
    start = time.time() + 60
    for order, name in enumerate(folders + files):
        path = results / name
        if name in folders:
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        os.utime(path, (start + order, start + order))
    result = snakemake(work, "figures", "--dry-run", "--config", "profile=smoke")
    assert result.returncode == 0, result.stdout
    assert planned_jobs(result.stdout) == {**FIGURES, "training_curves": 1, "figures": 1}


def test_paper_downloads_the_pythia_tokenizer_and_wiki40b(clone):
    result = snakemake(clone, "data", "--dry-run", "--printshellcmds", "--config", "profile=paper")
    assert result.returncode == 0, result.stdout
    assert (
        "litgpt download EleutherAI/pythia-1.4b --tokenizer_only true "
        "--checkpoint_dir results/paper/data/tokenizer/hub"
    ) in result.stdout
    assert "fastmax prepare wiki40b --source hf:google/wiki40b" in result.stdout


def test_without_a_named_config_the_machine_decides_and_says_why(clone):
    from fastmax.workflow import default_config

    name, why = default_config()
    result = snakemake(clone, "kernels", "--dry-run")
    assert result.returncode == 0, result.stdout
    assert f"config '{name}' ({why}; choose with --config profile=smoke|paper)" in result.stdout
    assert f"results/{name}/kernels/correctness.csv" in result.stdout


def test_a_complete_configfile_is_used_as_given(clone, tmp_path):
    custom = yaml.safe_load((clone / "workflow/config/smoke.yaml").read_text())
    custom["name"] = "custom"
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(custom))
    result = snakemake(clone, "kernels", "--dry-run", "--configfile", str(path))
    assert result.returncode == 0, result.stdout
    assert "config 'custom' (a complete config given with --configfile)" in result.stdout
    assert "results/custom/kernels/correctness.csv" in result.stdout


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (["profile=bogus"], ["config key 'profile'", "'bogus'", "['paper', 'smoke']"]),
        (["profile=smoke", "colour=red"], ["('colour' was unexpected)"]),
        (["profile=smoke", "data={shards: 3}"], ["('shards' was unexpected)", "instance['data']"]),
        (
            ["profile=paper", "eval={batch_size: many}"],
            ["'many' is not of type 'integer'", "instance['eval']['batch_size']"],
        ),
        (
            ["profile=smoke", "kernels={quick: maybe}"],
            ["'maybe' is not of type 'boolean'", "instance['kernels']['quick']"],
        ),
        (["profile=smoke", "data={tokenizer: bert}"], ["'bert' does not match"]),
    ],
)
def test_a_bad_config_fails_before_any_job_naming_the_key(clone, config, named):
    result = snakemake(clone, "all", "--cores", "1", "--config", *config)
    assert result.returncode != 0
    for text in named:
        assert text in result.stdout
    assert "Building DAG of jobs" not in result.stdout
    # results/ holds tracked reference runs; nothing of a workflow config may appear beside them.
    assert not any((clone / "results" / name).exists() for name in ("smoke", "paper"))


def test_profile_and_a_differently_named_configfile_conflict(clone):
    result = snakemake(
        clone,
        "kernels",
        "--dry-run",
        "--configfile",
        "workflow/config/paper.yaml",
        "--config",
        "profile=smoke",
    )
    assert result.returncode != 0
    assert "config key 'profile' is 'smoke' but the given config is named 'paper'" in (
        result.stdout
    )


def test_a_failed_rule_leaves_no_output_and_keeps_its_log(tmp_path):
    import fastmax

    if fastmax.cuda_available():
        pytest.skip("the rule fails only where the CUDA op or a GPU is missing")
    work = copy_repository(tmp_path / "clone")
    overrides = tmp_path / "require-cuda.yaml"
    overrides.write_text("kernels:\n  quick: true\n  require_cuda: true\n")
    result = snakemake(
        work,
        "results/smoke/kernels/extension.json",
        "--cores",
        "1",
        "--configfile",
        str(overrides),
        "--config",
        "profile=smoke",
    )
    assert result.returncode != 0
    assert "Error in rule extension" in result.stdout
    assert not (work / "results/smoke/kernels").exists()
    log = (work / "results/smoke/logs/kernels/extension.log").read_text()
    assert "extension.py: error:" in log


SMOKE_ARTIFACTS = [
    "kernels/extension.json",
    "kernels/correctness.json",
    "kernels/correctness.csv",
    "profile/bench.csv",
    "profile/environment.json",
    "profile/movement/movement.csv",
    *(f"profile/movement/fig5_movement.{ext}" for ext in ("png", "pdf", "json")),
    *(f"profile/bench_train/bench_train.{ext}" for ext in ("csv", "png", "pdf", "json")),
    *(
        f"figures/{stem}.{ext}"
        for stem in ("fig3_time", "fig4_memory", "speedup_vs_sdpa", "training_loss")
        for ext in ("png", "pdf", "json")
    ),
    *(
        f"data/sample/en/{split}-00000-of-00001.parquet"
        for split in ("train", "validation", "test")
    ),
    "data/tokenizer/gpt2",
    "data/shards/train",
    "data/shards/val",
    "data/shards/manifest.json",
    *(f"train/{v}/{name}" for v in ("regular", "linear") for name in ("final", "metrics.csv")),
    "train/linear/final/lit_model.pth",
    "train/linear/final/model_config.yaml",
    *(f"eval/{v}.{ext}" for v in ("regular", "linear") for ext in ("json", "csv")),
    "eval/eval_table.md",
    "eval/eval_table.csv",
    "eval/eval_table.json",
    "report.html",
]
STAMPED = [
    "kernels/extension.json",
    "kernels/correctness.json",
    "profile/movement/fig5_movement.json",
    "profile/bench_train/bench_train.json",
    "figures/fig3_time.json",
    "figures/fig4_memory.json",
    "figures/speedup_vs_sdpa.json",
    "figures/training_loss.json",
    "eval/eval_table.json",
]


@pytest.mark.slow
def test_smoke_run_makes_every_artifact_then_has_nothing_left_to_do(tmp_path):
    work = copy_repository(tmp_path)
    run = ("--profile", "workflow/profiles/local", "--config", "profile=smoke")
    first = snakemake(work, *run, timeout=1800)
    assert first.returncode == 0, first.stdout[-20000:]
    digest = re.search(r"config hash ([0-9a-f]{12})", first.stdout)[1]
    report = snakemake(
        work, "--cores", "1", "--config", "profile=smoke", "--report", "results/smoke/report.html"
    )
    assert report.returncode == 0, report.stdout[-20000:]

    results = work / "results" / "smoke"
    missing = [name for name in SMOKE_ARTIFACTS if not (results / name).exists()]
    assert not missing, missing
    for variant in ("regular", "linear"):  # each evaluation kept its answers for a rerun
        data = json.loads((results / f"eval/{variant}.json").read_text())
        (cache,) = map(Path, data["provenance"]["request_cache"])
        assert cache.is_file() and cache.parent == (results / "eval/request-cache").resolve()
    for name in STAMPED:
        sidecar = json.loads((results / name).read_text())
        assert sidecar["config"] == "smoke", name
        assert sidecar["workflow"]["config_hash"].startswith(digest), name
        assert sidecar["workflow"]["git"]["commit"], name
    figure = json.loads((results / "figures/fig3_time.json").read_text())
    assert set(figure["workflow"]["artifacts"]) == {
        f"results/smoke/figures/fig3_time.{ext}" for ext in ("png", "pdf")
    }
    assert figure["workflow"]["timings"]["bench"]["s"] > 0
    html = (results / "report.html").read_text(errors="replace")
    assert "fig3_time.png" in html and "eval_table.csv" in html
    assert list((results / "logs").rglob("*.log"))

    second = snakemake(work, *run, "--dry-run")
    assert second.returncode == 0, second.stdout
    assert "Nothing to be done" in second.stdout
