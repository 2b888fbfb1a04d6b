"""Helpers of the Fastmax workflow: which config runs, its hash, and paths the rules share.

Functions only; the rules live in one file per stage.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config

CONFIG_FILES = {
    "smoke": "workflow/config/smoke.yaml",
    "paper": "workflow/config/paper.yaml",
}
VARIANTS = ("regular", "linear")  # the softmax and the Fastmax model


def select_config(config):
    """Turn ``config`` (in place) into the workflow config to run; return why it was chosen.

    ``--config profile=NAME`` picks workflow/config/NAME.yaml and the other --config keys (or a
    --configfile without ``name``) override it; a --configfile with ``name`` is a complete config
    used as given; with none of these, a machine with a CUDA GPU runs ``paper``, else ``smoke``.
    """
    overrides = dict(config)
    profile = overrides.pop("profile", None)
    if profile is None and "name" in overrides:
        return "a complete config given with --configfile"
    if profile is None:
        from fastmax.workflow import default_config

        profile, why = default_config()
        why += "; choose with --config profile=smoke|paper"
    else:
        why = f"--config profile={profile}"
    if profile not in CONFIG_FILES:
        raise WorkflowError(
            f"config key 'profile': expected one of {sorted(CONFIG_FILES)}, got {profile!r}"
        )
    with open(CONFIG_FILES[profile]) as handle:
        chosen = yaml.safe_load(handle)
    if overrides.get("name", chosen["name"]) != chosen["name"]:
        raise WorkflowError(
            f"config key 'profile' is {profile!r} but the given config is named "
            f"{overrides['name']!r}; give one of them"
        )
    update_config(chosen, overrides)
    config.clear()
    config.update(chosen)
    return why


def stage_config_files(config):
    """The stage configuration files the workflow config points at."""
    return sorted({*config["bench"].values(), *config["train"].values()})


def config_hash(config):
    """sha256 of the resolved config and of the content of every stage config it points at."""
    files = {}
    for path in stage_config_files(config):
        files[path] = (
            hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if os.path.exists(path)
            else None
        )
    blob = json.dumps({"config": config, "stage_files": files}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def announce_config(config, why):
    """Say which config runs and why; hand its name and hash to the rules' commands.

    workflow/scripts/record.py reads FASTMAX_WORKFLOW to stamp the provenance sidecars; it is
    not a rule parameter, so editing one stage's settings does not rerun the others.
    """
    digest = config_hash(config)
    print(
        f"Fastmax workflow: config '{config['name']}' ({why}); outputs in "
        f"results/{config['name']}/; config hash {digest[:12]}",
        file=sys.stderr,
    )
    state = {"config": config["name"], "config_hash": digest}
    os.environ.update(FASTMAX_WORKFLOW=json.dumps(state, sort_keys=True))


def option(flag, value):
    """``flag value`` for a command line, or nothing when ``value`` is None."""
    return "" if value is None else f"{flag} {value}"


def tokenizer_dir():
    """Folder of the tokenizer named by data.tokenizer (gpt2, or hf:<org>/<name>)."""
    name = config["data"]["tokenizer"]
    if name == "gpt2":
        return f"{RESULTS}/data/tokenizer/gpt2"
    return f"{RESULTS}/data/tokenizer/hub/{name.removeprefix('hf:')}"


def corpus_files(wildcards):
    """Local input of data preparation: the sample corpus, a Wiki40B folder, or none (hf:)."""
    source = config["data"]["source"]
    if source == "sample":
        return rules.sample_corpus.output
    if source.startswith("hf:"):
        return []
    return [source]


def corpus_source(wildcards, input):
    """The --source argument of `fastmax prepare wiki40b`."""
    return input.corpus[0] if input.corpus else config["data"]["source"]


def eval_task_files(wildcards):
    """The folder of local lm-eval tasks, when the config names one."""
    path = config["eval"]["include_path"]
    return [] if path is None else [path]


def train_layout(resources):
    """(nodes, tasks per node) when a cluster profile runs training as one task per GPU, else None.

    workflow/profiles/slurm asks for that with the resource ``mpi`` (the launcher, ``srun``),
    ``nodes`` and ``tasks_per_node`` (or ``tasks``: one per node).
    """
    if not resources.get("mpi"):
        return None
    nodes = resources.get("nodes") or 1
    per_node = resources.get("tasks_per_node") or resources.get("tasks", nodes) // nodes
    return nodes, per_node


def train_launcher(wildcards, resources):
    """The launcher of `fastmax train` with its task layout, or nothing: one process starts.

    The CPUs of each task are the resource ``cpus_per_task`` (what the job was given), not the
    rule's threads, which the job step evaluates again against the whole node.
    """
    layout = train_layout(resources)
    if layout is None:
        return ""
    nodes, per_node = layout
    cpus = resources.get("cpus_per_task")
    return f"{resources.mpi} --nodes={nodes} --ntasks-per-node={per_node}" + (
        f" --cpus-per-task={cpus}" if cpus else ""
    )


def train_placement(wildcards, resources):
    """``--set devices=G num_nodes=N`` for Fabric, matching the launcher's tasks, or nothing."""
    layout = train_layout(resources)
    if layout is None:
        return ""
    nodes, per_node = layout
    return f"--set devices={per_node} num_nodes={nodes}"


def available_run_figures(wildcards):
    """The training curves and the evaluation table, where every file they are made from exists."""
    return [
        path
        for rule in (rules.training_curves, rules.eval_table)
        if all(os.path.exists(path) for path in rule.input)
        for path in rule.output
    ]
