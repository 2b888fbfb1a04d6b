"""Run one workflow command, then stamp the provenance sidecars of what it made.

    python workflow/scripts/record.py [--sidecar S.json ...] [--new-sidecar S.json ...]
        [--timing NAME=BENCHMARK.tsv ...] -- COMMAND [ARG ...]

After COMMAND exits 0, each ``--sidecar`` (a JSON object the command wrote) and each
``--new-sidecar`` (written here, with the environment) gets two top-level fields:

* ``config``: the workflow config name (``smoke``, ``paper``), so every artifact says its scale
  (a ``config`` field the command wrote itself, such as its stage settings, moves to
  ``command_config``);
* ``workflow``: config name and hash, git state, the command line and its wall time, the sha256
  of every file ``STEM.<ext>`` beside ``STEM.json``, and the Snakemake benchmark of each
  ``--timing`` (upstream steps such as the sweep a figure is drawn from).

The config name and hash come from the environment variable FASTMAX_WORKFLOW, which the
Snakefile sets. A failed command returns its exit status and stamps nothing.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ENV_VAR = "FASTMAX_WORKFLOW"


def workflow_state() -> dict[str, str]:
    """The config name and hash the Snakefile handed down in FASTMAX_WORKFLOW."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        raise ValueError(f"{ENV_VAR} is not set: record.py runs inside the Snakemake workflow")
    state = json.loads(raw)
    if not isinstance(state, dict) or not {"config", "config_hash"} <= state.keys():
        raise ValueError(f"{ENV_VAR} must be a JSON object with config and config_hash: {raw!r}")
    return state


def read_benchmark(path: str | Path) -> dict[str, float | None]:
    """The first row of a Snakemake benchmark TSV (seconds, memory, I/O), numbers or None."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        raise ValueError(f"benchmark file {path} has no measurement row")
    timing: dict[str, float | None] = {}
    for key, value in rows[0].items():
        if key == "h:m:s":
            continue
        try:
            timing[key] = float(value)
        except (TypeError, ValueError):
            timing[key] = None
    return timing


def described_files(sidecar: Path) -> dict[str, str]:
    """sha256 of each file ``STEM.<ext>`` beside the sidecar ``STEM.json``."""
    from fastmax.provenance import file_sha256

    return {
        str(path): file_sha256(path)
        for path in sorted(sidecar.parent.glob(f"{sidecar.stem}.*"))
        if path.stem == sidecar.stem and path != sidecar and path.is_file()
    }


def stamp(sidecar: Path, stamp_fields: dict[str, Any], new: bool) -> None:
    """Add ``config`` and ``workflow`` to a sidecar (created with the environment when new)."""
    from fastmax.provenance import environment, git_state, write_json

    if new:
        payload: dict[str, Any] = {"environment": environment()}
    else:
        if not sidecar.is_file():
            raise FileNotFoundError(f"the command did not write its sidecar {sidecar}")
        payload = json.loads(sidecar.read_text())
        if not isinstance(payload, dict):
            raise ValueError(f"sidecar {sidecar} holds {type(payload).__name__}, not an object")
        for key in ("workflow", "command_config"):
            if key in payload:
                raise ValueError(
                    f"sidecar {sidecar} already has a {key!r} field; the workflow writes it"
                )
        if "config" in payload:
            payload["command_config"] = payload.pop("config")
    payload["config"] = stamp_fields["config"]
    payload["workflow"] = {
        **stamp_fields,
        "git": git_state(),
        "artifacts": described_files(sidecar),
    }
    write_json(sidecar, payload)


def main(argv: list[str] | None = None) -> int:
    """Run the command after ``--`` and stamp the sidecars; return the command's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise SystemExit("record.py: usage: record.py [options] -- COMMAND [ARG ...]")
    split = argv.index("--")
    own, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="record.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sidecar", action="append", default=[], type=Path)
    parser.add_argument("--new-sidecar", action="append", default=[], type=Path)
    parser.add_argument("--timing", action="append", default=[], metavar="NAME=TSV")
    args = parser.parse_args(own)
    if not command:
        parser.error("no command after --")
    timings_files = {}
    for item in args.timing:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--timing expects NAME=BENCHMARK.tsv, got {item!r}")
        timings_files[name] = path
    state = workflow_state()
    timings = {name: read_benchmark(path) for name, path in timings_files.items()}

    started = time.perf_counter()
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        return result.returncode
    fields = {
        **state,
        "command": shlex.join(command),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "timings": timings,
    }
    for sidecar in args.sidecar:
        stamp(sidecar, fields, new=False)
    for sidecar in args.new_sidecar:
        stamp(sidecar, fields, new=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as error:
        print(f"record.py: error: {error}", file=sys.stderr)
        sys.exit(2)
