"""The workflow config a machine runs when none is named: ``paper`` with a CUDA GPU, else ``smoke``.

    python -m fastmax.workflow      # prints the name; the reason goes to stderr

The Snakefile and ``run.sh`` both ask here, so they never disagree.
"""

from __future__ import annotations

import sys

from fastmax.provenance import gpu_state


def default_config() -> tuple[str, str]:
    """The config name for this machine, and why."""
    state = gpu_state()
    if state["cuda_available"]:
        return "paper", f"PyTorch sees the CUDA GPU {state['gpus'][0]['name']}"
    return "smoke", "PyTorch sees no CUDA GPU"


def main() -> int:
    """Print the default config name (stdout) and the reason (stderr)."""
    name, why = default_config()
    print(f"fastmax.workflow: config {name!r}: {why}", file=sys.stderr)
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
