"""``fastmax bench --config FILE --out DIR``: the time and memory sweep of attention methods.

Runs every case of the configuration (method x N x dtype x causal x pass) on the same seeded
inputs and writes ``DIR/bench.csv`` (one row per case, see ``sweep_table.COLUMNS``) and
``DIR/environment.json``. Rows go to ``DIR/bench.csv.partial`` as they finish; ``--resume``
continues an interrupted run of the same configuration and code, and ``--max-minutes`` stops
starting new cases after a time budget (exit code 3), so a long sweep can be split over several
sessions of a machine. A CUDA error that leaves the device unusable stops the run (exit code 4)
after recording the case that caused it; ``--resume`` then carries on past it.

Cases run in increasing N. Once a case takes more than ``timing.max_call_seconds`` per call
(median), the larger N of the same method, dtype, causal and pass are not run: their rows say
``unsupported`` with the measurement that stopped them, so a quadratic peer costs minutes, not
hours. The rule is decided from every row in the CSV, those of a resumed run included.

``--devices cuda:0,cuda:1`` spreads one sweep over several devices of a host (one process per
(dtype, causal) group, merged into one ``bench.csv``): see ``fastmax.bench.sweep_devices``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from fastmax.bench.methods import Method, build_methods
from fastmax.bench.sweep_config import DTYPES, NORMALIZE, BenchConfig, Timing, load_config
from fastmax.bench.sweep_table import PartialTable, row_key
from fastmax.bench.timing import Measurement, device_healthy, measure, release
from fastmax.config_file import add_set_argument
from fastmax.provenance import environment, file_sha256, write_json

CSV_NAME = "bench.csv"
ENVIRONMENT_NAME = "environment.json"
STATE_NAME = "sweep_state.partial.json"
PARTS_DIR = "parts"
EXIT_BUDGET = 3
EXIT_DEVICE_LOST = 4


@dataclasses.dataclass(frozen=True)
class Case:
    """One cell of the sweep."""

    method: str
    N: int
    dtype: str
    causal: bool
    pass_: str

    def key(self) -> tuple[str, ...]:
        return row_key(self.row())

    def row(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "N": self.N,
            "dtype": self.dtype,
            "causal": self.causal,
            "pass": self.pass_,
        }


class SlowCutoff:
    """Which cases to skip because a shorter case of the same series was slower than the cap.

    A series is (method, dtype, causal, pass); rows are the CSV's (text cells), ``ok`` rows with
    a median above ``timing.max_call_seconds`` cut the series off above their N.
    """

    def __init__(self, timing: Timing) -> None:
        self.limit = timing.max_call_seconds
        self.cut: dict[tuple[str, ...], tuple[int, float]] = {}  # series -> (N, seconds)

    def observe(self, row: dict[str, str]) -> None:
        """Take note of one row of the CSV."""
        if self.limit is None or row["status"] != "ok":
            return
        seconds = float(row["median_ms"]) / 1e3
        series = _series(row)
        n = int(row["N"])
        if seconds > self.limit and (series not in self.cut or n < self.cut[series][0]):
            self.cut[series] = (n, seconds)

    def reason(self, case: Case) -> str | None:
        """Why ``case`` is skipped, or None when it runs."""
        found = self.cut.get(_series(case.row()))
        if found is None or found[0] >= case.N:
            return None
        n, seconds = found
        return (
            f"skipped: {seconds:.1f} s per call at N={n} > timing.max_call_seconds = {self.limit:g}"
        )


def _series(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[column]) for column in ("method", "dtype", "causal", "pass"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``fastmax bench``."""
    parser.add_argument("--config", required=True, help="sweep YAML (workflow/config/bench/*.yaml)")
    parser.add_argument("--out", required=True, help="folder for bench.csv and environment.json")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run whose bench.csv.partial is in --out",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="start no new case after this many minutes (exit code 3; --resume continues)",
    )
    parser.add_argument(
        "--devices",
        default=None,
        metavar="DEV,DEV,...",
        help="spread the sweep over these devices of the host, e.g. cuda:0,cuda:1: one process "
        "per (dtype, causal) group, parts in --out/parts, one merged bench.csv (cpu may repeat)",
    )
    add_set_argument(parser, "dtypes=[bfloat16] N=[1024,4096]")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``fastmax bench``."""
    if args.max_minutes is not None and args.max_minutes < 0:
        raise ValueError(f"--max-minutes must be >= 0, got {args.max_minutes}")
    config = load_config(args.config, args.set)
    common = {
        "config_path": Path(args.config),
        "resume": args.resume,
        "max_minutes": args.max_minutes,
    }
    if args.devices is not None:
        from fastmax.bench.sweep_devices import run_on_devices

        return run_on_devices(
            config, Path(args.out), devices=args.devices, overrides=args.set, **common
        )
    return run_sweep(config, Path(args.out), **common)


def resolve_device(name: str) -> torch.device:
    """The torch device for the config's ``device``, checked to exist."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for, but PyTorch sees no CUDA GPU")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA devices are visible"
            )
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    return device


def device_name(device: torch.device) -> str:
    """A readable name of the device for the CSV."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def plan(config: BenchConfig) -> list[Case]:
    """Every case in increasing N, grouped by (N, dtype) so that one set of inputs serves each."""
    return [
        Case(method, n, dtype, causal, pass_)
        for n in sorted(config.N)
        for dtype in config.dtypes
        for causal in config.causal
        for pass_ in config.passes
        for method in config.methods
    ]


def make_inputs(
    config: BenchConfig, n: int, dtype: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of shape (B, H, n, D), drawn from the config's seed (the same for every method)."""
    generator = torch.Generator(device=device).manual_seed(config.seed)
    shape = (config.B, config.H, n, config.D)
    q, k, v = (
        torch.randn(shape, generator=generator, device=device, dtype=DTYPES[dtype])
        for _ in range(3)
    )
    return q, k, v


def sweep_settings(config: BenchConfig) -> dict[str, Any]:
    """The parts of the config that decide the rows (the movement section does not)."""
    settings = config.as_dict()
    settings.pop("movement")
    return settings


def _start_state(
    out: Path, config: BenchConfig, resume: bool, env: dict[str, Any]
) -> dict[str, Any]:
    """Check --out for this run and return the state (settings + invocations) to write."""
    final = out / CSV_NAME
    partial = out / (CSV_NAME + ".partial")
    if final.exists():
        raise ValueError(f"{final} exists: the sweep there is complete; choose another --out")
    if (out / PARTS_DIR).is_dir():
        raise ValueError(
            f"{out} holds the parts of a sweep over several devices: continue it with the "
            "same --devices and --resume"
        )
    settings = sweep_settings(config)
    if not resume:
        if partial.exists():
            raise ValueError(
                f"{partial} is left from an interrupted run: pass --resume to continue it, "
                "or remove it"
            )
        return {"settings": settings, "invocations": [env]}
    return resumed_state(out, settings, env)


def resumed_state(out: Path, settings: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """The state of the run interrupted in ``out``, with this invocation (``env``) added.

    Raises unless the config and the code now are those that started it.
    """
    state_path = out / STATE_NAME
    if not state_path.is_file():
        raise FileNotFoundError(f"nothing to resume: {state_path} does not exist")
    state = json.loads(state_path.read_text())
    if state["settings"] != settings:
        changed = sorted(k for k in settings if state["settings"].get(k) != settings[k])
        raise ValueError(
            f"cannot resume {out}: the config differs from the interrupted run's in {changed}"
        )
    first, now = state["invocations"][0]["git"], env["git"]
    key = "tree" if first.get("tree") and now.get("tree") else "commit"  # tree: files as they ran
    if first.get(key) and now.get(key) and first[key] != now[key]:
        raise ValueError(
            f"cannot resume {out}: it was started with code {key} {first[key]}, "
            f"the code is now {key} {now[key]}"
        )
    state["invocations"].append(env)
    return state


def bench_environment(config_path: Path) -> dict[str, Any]:
    """``provenance.environment()`` plus the config file, cuDNN and the TF32 switches."""
    env = environment(extra_packages=("einops", "pandas", "matplotlib", "pyyaml", "tqdm"))
    env["bench"] = {
        "config_file": str(config_path),
        "config_sha256": file_sha256(config_path),
        "cudnn_version": torch.backends.cudnn.version(),
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }
    return env


def _measure_case(
    method: Method,
    case: Case,
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    config: BenchConfig,
    device: torch.device,
) -> Measurement:
    def make():
        return method.make(
            *inputs, causal=case.causal, backward=case.pass_ == "fwd_bwd", seed=config.seed
        )

    return measure(make, device, config.timing)


def run_sweep(
    config: BenchConfig,
    out: Path,
    *,
    config_path: Path,
    resume: bool = False,
    max_minutes: float | None = None,
) -> int:
    """Run (or resume) the sweep into ``out``; 0 when complete, 3 on budget, 4 on a lost GPU."""
    from tqdm import tqdm

    device = resolve_device(config.device)
    env = bench_environment(config_path)
    state = _start_state(out, config, resume, env)
    cases = plan(config)
    out.mkdir(parents=True, exist_ok=True)
    table = PartialTable(out / CSV_NAME, resume=resume)
    done = {row_key(row) for row in table.rows}
    unplanned = done - {case.key() for case in cases}
    if unplanned:
        raise ValueError(f"{table.partial} holds rows this config does not plan: {unplanned}")
    write_json(out / STATE_NAME, state)
    cutoff = SlowCutoff(config.timing)
    for row in table.rows:
        cutoff.observe(row)
    groups: dict[tuple[int, str], list[Case]] = {}
    for case in cases:
        if case.key() not in done:
            groups.setdefault((case.N, case.dtype), []).append(case)
    methods = {m.name: m for m in build_methods(config.methods, NORMALIZE[config.normalize])}
    fixed = {"B": config.B, "H": config.H, "D": config.D, "device": device_name(device)}
    deadline = None if max_minutes is None else time.monotonic() + 60 * max_minutes
    exit_code = 0
    with tqdm(total=len(cases), initial=len(done), unit="case") as bar:
        for (n, dtype), group in groups.items():
            inputs = None
            for case in group:
                if deadline is not None and time.monotonic() >= deadline:
                    exit_code = EXIT_BUDGET
                    break
                bar.set_postfix_str(f"{case.method} N={n} {dtype} {case.pass_}")
                skip = cutoff.reason(case)
                if skip is not None:
                    result = Measurement("unsupported", reason=skip)
                else:
                    if inputs is None:
                        inputs = make_inputs(config, n, dtype, device)
                    result = _measure_case(methods[case.method], case, inputs, config, device)
                table.append({**case.row(), **fixed, **dataclasses.asdict(result)})
                cutoff.observe(table.rows[-1])
                bar.update()
                if result.status.startswith("error") and not device_healthy(device):
                    exit_code = EXIT_DEVICE_LOST
                    break
            del inputs
            release(device)
            if exit_code:
                break
    if exit_code:
        why = {
            EXIT_BUDGET: f"the budget of {max_minutes} minutes is spent",
            EXIT_DEVICE_LOST: f"{device} stopped working after a CUDA error (see the last row)",
        }[exit_code]
        print(
            f"fastmax bench: stopped: {why}; {len(cases) - len(table.rows)} cases left in "
            f"{table.partial}; run the same command with --resume to continue",
            file=sys.stderr,
        )
        return exit_code
    env["bench"]["config"] = state["settings"]
    env["resumed_from"] = state["invocations"][:-1]
    write_json(out / ENVIRONMENT_NAME, env)
    path = table.finish()
    (out / STATE_NAME).unlink()
    counts = Counter(row["status"].split(":")[0] for row in table.rows)
    print(f"fastmax bench: wrote {path} ({dict(counts)})", file=sys.stderr)
    return 0
