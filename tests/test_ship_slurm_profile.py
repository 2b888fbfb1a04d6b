"""The SLURM profile: read by Snakemake's own profile parser, its rules are the workflow's, the
GPU stages ask for GPUs, and training becomes one srun task per GPU with Fabric told the layout.

The profile against a real SLURM cluster is .ci/slurm.sh; these checks need no cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from snakemake.profiles import ProfileConfigFileParser

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
RULES = REPO / "workflow" / "rules"
GPU_STAGES = ("kernels.smk", "profile.smk", "train.smk", "eval.smk")
CPU_JOBS_OF_GPU_STAGES = {"eval_table"}  # makes a table from the evaluations' JSON
SETTINGS = (
    "FASTMAX_SLURM_PARTITION",
    "FASTMAX_SLURM_ACCOUNT",
    "FASTMAX_SLURM_GPU_GRES",
    "FASTMAX_SLURM_TRAIN_NODES",
    "FASTMAX_SLURM_TRAIN_TASKS_PER_NODE",
    "FASTMAX_SLURM_CPUS_PER_TASK",
)


def job_rules(path: Path) -> set[str]:
    """Rules of a rule file that run a command (target rules only collect inputs)."""
    text = path.read_text()
    blocks = re.split(r"^rule ", text, flags=re.MULTILINE)[1:]
    return {block.split(":", 1)[0] for block in blocks if "\n    shell:" in block}


def profile(monkeypatch, **settings: str) -> dict:
    """The profile as Snakemake reads it, under the given FASTMAX_SLURM_* settings."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(f"FASTMAX_SLURM_{name.upper()}", value)
    with open(PROFILE) as handle:
        return ProfileConfigFileParser().parse(handle)


def resources(parsed: dict) -> dict[str, dict[str, str]]:
    """set-resources as {rule: {resource: value}}, None values (unset) left out."""
    table: dict[str, dict[str, str]] = {}
    for entry in parsed["set-resources"]:
        rule, assignment = entry.split(":", 1)
        name, value = assignment.split("=", 1)
        if value != "None":
            table.setdefault(rule, {})[name] = value
    return table


def test_profile_names_only_rules_of_the_workflow(monkeypatch):
    parsed = profile(monkeypatch)
    known = set().union(*(job_rules(path) for path in RULES.glob("*.smk")))
    assert set(resources(parsed)) <= known
    assert parsed["executor"] == "slurm"
    assert parsed["slurm-status-command"] == "squeue"


def test_every_gpu_stage_job_asks_for_a_gpu_by_default(monkeypatch):
    table = resources(profile(monkeypatch))
    gpu_jobs = set().union(*(job_rules(RULES / name) for name in GPU_STAGES))
    gpu_jobs -= CPU_JOBS_OF_GPU_STAGES
    assert gpu_jobs == {rule for rule, values in table.items() if "gres" in values}
    assert {table[rule]["gres"] for rule in gpu_jobs - {"train"}} == {"'gpu:1'"}
    assert table["train"]["gres"] == "'gpu:8'"


def test_a_cluster_without_gpus_gets_no_gpu_request(monkeypatch):
    table = resources(profile(monkeypatch, gpu_gres="", train_tasks_per_node="1"))
    assert not any("gres" in values for values in table.values())
    assert "mpi" not in table["train"]


def test_partition_and_account_come_from_the_environment(monkeypatch):
    assert profile(monkeypatch)["default-resources"][:2] == [
        "slurm_partition=None",
        "slurm_account=None",
    ]
    parsed = profile(monkeypatch, partition="all", account="proj-42")
    assert "slurm_partition='all'" in parsed["default-resources"]
    assert "slurm_account='proj-42'" in parsed["default-resources"]


@pytest.mark.parametrize(
    ("nodes", "per_node", "expected"),
    [
        ("1", "1", {}),
        ("1", "4", {"nodes": "1", "tasks_per_node": "4", "mpi": "'srun'"}),
        ("3", "1", {"nodes": "3", "tasks": "3", "mpi": "'srun'"}),
        ("2", "8", {"nodes": "2", "tasks_per_node": "8", "mpi": "'srun'"}),
    ],
)
def test_training_is_one_task_per_gpu(monkeypatch, nodes, per_node, expected):
    table = resources(profile(monkeypatch, train_nodes=nodes, train_tasks_per_node=per_node))
    layout = {k: v for k, v in table["train"].items() if k in ("nodes", "tasks_per_node", "tasks")}
    layout |= {"mpi": table["train"]["mpi"]} if "mpi" in table["train"] else {}
    assert layout == ({"nodes": nodes} | expected)
    assert table["train"]["gres"] == f"'gpu:{per_node}'"


def dry_run(tmp_path: Path, *args: str, **settings: str) -> str:
    """Commands of a dry run through the profile in a copy of the workflow's files."""
    shutil.copy2(REPO / "Snakefile", tmp_path)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env |= {f"FASTMAX_SLURM_{k.upper()}": v for k, v in settings.items()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("FASTMAX_WORKFLOW", None)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--profile", str(PROFILE.parent), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_multi_node_training_launches_srun_and_tells_fabric(tmp_path):
    out = dry_run(
        tmp_path,
        "--config",
        "profile=paper",
        "--",
        "train_linear",
        train_nodes="2",
        train_tasks_per_node="4",
        cpus_per_task="6",
    )
    assert (
        "srun --nodes=2 --ntasks-per-node=4 --cpus-per-task=6 fastmax train "
        "--config workflow/config/train/paper-linear.yaml"
    ) in out
    assert "--set devices=4 num_nodes=2 > results/paper/logs/train/linear.log" in out


def test_single_process_training_is_started_as_before(tmp_path):
    out = dry_run(
        tmp_path,
        "--config",
        "profile=smoke",
        "--",
        "train_linear",
        gpu_gres="",
        train_tasks_per_node="1",
    )
    command = next(line for line in out.splitlines() if "fastmax train" in line)
    assert "srun" not in command
    assert "devices=" not in command
