"""``fastmax bench --devices cuda:0,cuda:1``: one sweep spread over several devices of a host.

The sweep's (dtype, causal) groups are dealt to the devices round-robin in config order (the
first dtype, float32 in ``paper.yaml``, is the heaviest), so every series (method, dtype, causal,
pass) runs in one process and ``timing.max_call_seconds`` holds as on one device. Each group is a
part: a ``fastmax bench`` process of its own with ``--set dtypes=[..] causal=[..] device=..``,
writing ``DIR/parts/<dtype>-<causal|noncausal>/`` (its log beside it, ``<name>.log``); a device
runs its parts one after another. ``--max-minutes`` is the budget of the whole run (a device starts
no further part once it is spent) and ``--resume`` resumes the parts that stopped, starts the ones
that never ran and leaves the finished ones. Ctrl-C or SIGTERM is passed on to the running parts,
whose rows so far stay in their ``bench.csv.partial``.

When every part has finished, their rows are merged into ``DIR/bench.csv`` in the order one device
would have written them, and ``DIR/environment.json`` records this run plus each part's device and
``environment.json`` (under ``parts``). The exit code is 0 then; otherwise 4 when a part lost its
device, else 3 when one stopped on the budget, else the first other failure. ``cpu`` may be named
more than once (the parts then share the host's cores), which is how the tests run it.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from fastmax.bench.sweep import (
    CSV_NAME,
    ENVIRONMENT_NAME,
    EXIT_BUDGET,
    EXIT_DEVICE_LOST,
    PARTS_DIR,
    STATE_NAME,
    bench_environment,
    plan,
    resumed_state,
    run_sweep,
    sweep_settings,
)
from fastmax.bench.sweep_config import BenchConfig, check_device
from fastmax.bench.sweep_table import PARTIAL_SUFFIX, row_key, write_table
from fastmax.provenance import write_json

POLL_SECONDS = 0.2
PARTIAL_NAME = CSV_NAME + PARTIAL_SUFFIX


@dataclasses.dataclass(frozen=True)
class Part:
    """One (dtype, causal) group of the sweep and the device that runs it."""

    dtype: str
    causal: bool
    device: str
    slot: int  # position of the device in --devices (cpu may fill several)

    @property
    def name(self) -> str:
        return f"{self.dtype}-{'causal' if self.causal else 'noncausal'}"

    def config(self, config: BenchConfig) -> BenchConfig:
        """The sweep config of this part alone."""
        return dataclasses.replace(
            config, dtypes=(self.dtype,), causal=(self.causal,), device=self.device
        )

    def overrides(self) -> list[str]:
        """``--set`` items that turn the sweep's config into this part's."""
        causal = "true" if self.causal else "false"
        return [f"dtypes=[{self.dtype}]", f"causal=[{causal}]", f"device={self.device}"]


def parse_devices(text: str) -> list[str]:
    """The devices of ``--devices`` (``cuda`` read as ``cuda:0``), checked and distinct."""
    devices = []
    for item in text.split(","):
        device = check_device(item.strip(), "--devices entries")
        devices.append("cuda:0" if device == "cuda" else device)
    repeated = sorted({d for d in devices if d != "cpu" and devices.count(d) > 1})
    if repeated:
        raise ValueError(f"--devices names {repeated} more than once (only cpu may repeat)")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [d for d in devices if d.startswith("cuda") and int(d.split(":")[1]) >= count]
    if missing:
        raise ValueError(f"--devices: {missing} not found; PyTorch sees {count} CUDA devices")
    return devices


def split(config: BenchConfig, devices: list[str]) -> list[Part]:
    """The (dtype, causal) groups in config order, dealt to ``devices`` round-robin."""
    groups = [(dtype, causal) for dtype in config.dtypes for causal in config.causal]
    slots = [i % len(devices) for i in range(len(groups))]
    return [Part(d, c, devices[s], s) for (d, c), s in zip(groups, slots, strict=True)]


def merge_rows(config: BenchConfig, tables: list[list[dict[str, str]]]) -> list[dict[str, str]]:
    """The parts' rows as one list in the order of ``plan(config)``; each case exactly once."""
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    for table in tables:
        for row in table:
            key = row_key(row)
            if key in rows:
                raise ValueError(f"two parts hold a row for the case {key}")
            rows[key] = row
    order = [case.key() for case in plan(config)]
    missing = [key for key in order if key not in rows]
    unplanned = set(rows) - set(order)
    if missing or unplanned:
        raise ValueError(f"the parts miss the cases {missing[:3]} or hold unplanned {unplanned}")
    return [rows[key] for key in order]


def run_on_devices(
    config: BenchConfig,
    out: Path,
    *,
    config_path: Path,
    devices: str,
    overrides: list[str],
    resume: bool = False,
    max_minutes: float | None = None,
) -> int:
    """Run (or resume) the sweep over ``devices`` into ``out``; exit code as ``run_sweep``'s."""
    names = parse_devices(devices)
    if len(names) == 1:
        single = dataclasses.replace(config, device=names[0])
        return run_sweep(
            single, out, config_path=config_path, resume=resume, max_minutes=max_minutes
        )
    parts = split(config, names)
    idle = names[len(parts) :]
    if idle:
        print(
            f"fastmax bench: {len(parts)} groups for {len(names)} devices: {idle} idle",
            file=sys.stderr,
        )
    env = bench_environment(config_path)
    state = _start_state(out, config, names, resume, env)
    (out / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    write_json(out / STATE_NAME, state)
    command = [sys.executable, "-m", "fastmax.cli", "bench", "--config", str(config_path)]
    runner = _Runner(out / PARTS_DIR, config, parts, command, overrides, max_minutes)
    codes = runner.run()
    if any(code != 0 for code in codes.values()):
        return _stopped(out, codes, runner.signal)
    tables = [_read_rows(out / PARTS_DIR / part.name / CSV_NAME) for part in parts]
    env["bench"]["config"] = state["settings"]
    env["resumed_from"] = state["invocations"][:-1]
    env["devices"] = names
    env["parts"] = [
        {
            "name": part.name,
            "device": part.device,
            "environment": json.loads((out / PARTS_DIR / part.name / ENVIRONMENT_NAME).read_text()),
        }
        for part in parts
    ]
    rows = merge_rows(config, tables)
    write_json(out / ENVIRONMENT_NAME, env)
    write_table(out / CSV_NAME, rows)
    (out / STATE_NAME).unlink()
    print(
        f"fastmax bench: wrote {out / CSV_NAME} ({len(rows)} rows from {len(parts)} parts)",
        file=sys.stderr,
    )
    return 0


def _start_state(
    out: Path, config: BenchConfig, devices: list[str], resume: bool, env: dict[str, Any]
) -> dict[str, Any]:
    """Check ``out`` for this run and return the state (settings, devices, invocations)."""
    final = out / CSV_NAME
    if final.exists():
        raise ValueError(f"{final} exists: the sweep there is complete; choose another --out")
    settings = sweep_settings(config)
    if not resume:
        if (out / STATE_NAME).exists() or (out / PARTS_DIR).exists():
            raise ValueError(
                f"{out} holds an interrupted run: pass --resume to continue it, or remove it"
            )
        return {"settings": settings, "devices": devices, "invocations": [env]}
    state = resumed_state(out, settings, env)
    if "devices" not in state:
        raise ValueError(f"cannot resume {out} with --devices: it was run on one device")
    if state["devices"] != devices:
        raise ValueError(
            f"cannot resume {out}: it was started with --devices {','.join(state['devices'])}, "
            f"not {','.join(devices)}"
        )
    return state


def _stopped(out: Path, codes: dict[str, int], signal_number: int | None) -> int:
    """Say which parts did not finish and return the run's exit code (128 + signal if one came)."""
    unfinished = {name: code for name, code in codes.items() if code != 0}
    print(
        f"fastmax bench: stopped: parts {unfinished} (name: exit code) did not finish; their rows "
        f"so far are in {out / PARTS_DIR}/*/{PARTIAL_NAME}; run the same command "
        "with --resume to continue",
        file=sys.stderr,
    )
    if signal_number is not None:
        return 128 + signal_number
    for code in (EXIT_DEVICE_LOST, EXIT_BUDGET):
        if code in unfinished.values():
            return code
    return next(iter(unfinished.values()))


def _read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@dataclasses.dataclass
class _Running:
    part: Part
    process: subprocess.Popen


class _Runner:
    """Runs the parts, one process per part and one part at a time per device."""

    def __init__(
        self,
        folder: Path,
        config: BenchConfig,
        parts: list[Part],
        command: list[str],
        overrides: list[str],
        max_minutes: float | None,
    ) -> None:
        self.folder, self.config, self.command = folder, config, command
        self.overrides, self.max_minutes = overrides, max_minutes
        self.queues: dict[int, list[Part]] = {}  # slot -> its parts not started yet
        for part in parts:
            self.queues.setdefault(part.slot, []).append(part)
        self.codes: dict[str, int] = {}
        self.running: dict[int, _Running] = {}  # slot -> its part now running
        self.signal: int | None = None
        self.launched: set[int] = set()  # slots that ran a part in this run
        self.totals = {part.name: len(plan(part.config(config))) for part in parts}

    def run(self) -> dict[str, int]:
        """Exit code of every part (0: finished), in the order of the parts."""
        from tqdm import tqdm

        start = time.monotonic()
        previous = {s: signal.signal(s, self._forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with tqdm(total=sum(self.totals.values()), unit="case") as self.bar:
                self.bar.update(self._rows_done())
                while self.queues or self.running:
                    self._start_next(time.monotonic() - start)
                    self._collect()
                    self.bar.update(self._rows_done() - self.bar.n)
                    time.sleep(POLL_SECONDS)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            for running in self.running.values():
                running.process.kill()
                running.process.wait()
        return {name: self.codes[name] for name in self.totals}

    def _forward(self, number: int, frame: Any) -> None:
        self.signal = number
        for running in self.running.values():
            running.process.send_signal(number)

    def _start_next(self, elapsed: float) -> None:
        for slot in [s for s in self.queues if s not in self.running]:
            while slot in self.queues and slot not in self.running:
                part = self.queues[slot].pop(0)
                if not self.queues[slot]:
                    del self.queues[slot]
                folder = self.folder / part.name
                left = None if self.max_minutes is None else self.max_minutes - elapsed / 60
                if (folder / CSV_NAME).exists():
                    self.codes[part.name] = 0
                    self.bar.write(f"part {part.name}: finished before", file=sys.stderr)
                elif self.signal is not None:
                    self.codes[part.name] = 128 + self.signal
                elif left is not None and left <= 0 and slot in self.launched:
                    self.codes[part.name] = EXIT_BUDGET
                else:
                    self._launch(part, folder, None if left is None else max(0.0, left))

    def _launch(self, part: Part, folder: Path, minutes: float | None) -> None:
        resume = (folder / PARTIAL_NAME).exists()
        command = [*self.command, "--out", str(folder)]
        if resume:
            command.append("--resume")
        if minutes is not None:
            command += ["--max-minutes", repr(minutes)]
        command += ["--set", *self.overrides, *part.overrides()]
        with open(self.folder / f"{part.name}.log", "a") as log:  # the process holds its own
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running[part.slot] = _Running(part, process)
        self.launched.add(part.slot)
        if self.signal is not None:  # arrived while it started
            process.send_signal(self.signal)
        how = "resumed" if resume else "started"
        self.bar.write(
            f"part {part.name} ({self.totals[part.name]} cases) {how} on {part.device}",
            file=sys.stderr,
        )

    def _collect(self) -> None:
        for slot, running in list(self.running.items()):
            code = running.process.poll()
            if code is None:
                continue
            del self.running[slot]
            part = running.part
            code = 128 - code if code < 0 else code
            self.codes[part.name] = code
            self.bar.write(f"part {part.name} on {part.device}: exit code {code}", file=sys.stderr)
            if code not in (0, EXIT_BUDGET, EXIT_DEVICE_LOST) and self.signal is None:
                log = (self.folder / f"{part.name}.log").read_text().strip().splitlines()
                self.bar.write(f"  {log[-1] if log else '(empty log)'}", file=sys.stderr)
            if code != 0:  # the device's later parts would stop the same way: they wait
                for later in self.queues.pop(slot, []):
                    self.codes[later.name] = code

    def _rows_done(self) -> int:
        done = 0
        for name in self.totals:
            for path in (self.folder / name / CSV_NAME, self.folder / name / PARTIAL_NAME):
                if path.exists():
                    done += len(_read_rows(path))
                    break
        return done
