"""The ``fastmax`` command: parses the command line, then calls one function of the package.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
only the module of the command being run is imported, so ``fastmax check`` needs torch alone.
"""

from __future__ import annotations

import argparse
import importlib
import sys

DESCRIPTION = (
    "Fastmax, linear-time attention (the first-order Taylor form of softmax): its correctness "
    "check, benchmarks, data preparation, training and evaluation."
)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("fastmax.correctness", "correctness matrix of every backend against float64"),
    "bench": ("fastmax.bench.sweep", "time and memory sweep of attention methods (CSV)"),
    "plot": ("fastmax.bench.figures", "figures from a bench CSV (time, memory, speedup)"),
    "targets": ("fastmax.bench.targets", "issue 9's kernel targets checked case by case"),
    "bitwise": ("fastmax.bench.bitwise", "the op's outputs and gradients compared bit for bit"),
    "ab-time": ("fastmax.bench.ab_time", "the op's time and memory under builds compared (CSV)"),
    "profile-movement": (
        "fastmax.bench.movement",
        "split Fastmax time into compute and data movement",
    ),
    "tokenizer": ("fastmax.data.tokenizer", "build a tokenizer folder offline (gpt2)"),
    "prepare": ("fastmax.data.prepare", "make the sample corpus or tokenize wiki40b into shards"),
    "train": ("fastmax.train", "pretrain a softmax or Fastmax model with LitGPT"),
    "bench-train": ("fastmax.bench.training", "training throughput: softmax vs Fastmax vs none"),
    "plot-train": ("fastmax.train_curves", "training-loss curves of softmax vs Fastmax runs"),
    "evaluate": ("fastmax.evaluate.run", "evaluate a checkpoint with lm-eval"),
    "report": ("fastmax.evaluate.report", "side-by-side table of evaluation results"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastmax`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        name = argv[0]
        module_name, summary = COMMANDS[name]
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"fastmax {name}", description=summary)
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        try:
            return int(module.run(args) or 0)
        except (ValueError, OSError) as error:
            print(f"fastmax {name}: error: {error}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(
        prog="fastmax",
        description=DESCRIPTION,
        epilog="`fastmax COMMAND --help` describes one command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    parser.parse_args(argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())
