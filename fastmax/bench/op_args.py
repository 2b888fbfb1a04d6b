"""Command-line options shared by the commands that run the op on a device of the user's choice
(``fastmax bitwise save``, ``fastmax ab-time run``)."""

from __future__ import annotations

import argparse

import torch


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default cuda) and ``--backend`` (default auto) of ``fastmax_attention``."""
    parser.add_argument("--device", default="cuda", help="torch device (default: cuda)")
    parser.add_argument(
        "--backend", default="auto", help="fastmax_attention backend (auto, cuda, torch)"
    )


def require_device(device: str) -> None:
    """A clear error for ``--device cuda`` on a machine without a CUDA device."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device here (try --device cpu)")
