"""Record whether the compiled Fastmax CUDA op is built and usable; fail when it must be.

    python workflow/scripts/extension.py --out FILE.json [--require-cuda]

Writes whether the extension ``fastmax._C`` loads (and why not), its file and sha256, and whether
a CUDA GPU is visible. With ``--require-cuda`` (the paper config) it fails, writing nothing, unless
both hold: a GPU run without the compiled op would measure the PyTorch fallback instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

BUILD_HINT = (
    "build it with CUDA_HOME=<toolkit root> FASTMAX_BUILD_CUDA=1 "
    "pip install --no-build-isolation --no-deps -e . (README: 'GPU')"
)


def extension_state() -> dict[str, Any]:
    """Whether the compiled op loads, its library and sha256, GPU visibility, the environment."""
    import fastmax
    from fastmax.ops import _cuda
    from fastmax.provenance import environment, file_sha256

    state: dict[str, Any] = {
        "extension_loaded": _cuda.extension_loaded(),
        "extension_error": _cuda.extension_error(),
        "cuda_available": fastmax.cuda_available(),
        "library": None,
        "library_sha256": None,
        "environment": environment(),
    }
    spec = importlib.util.find_spec("fastmax._C")
    if spec is not None and spec.origin is not None:
        state["library"] = spec.origin
        state["library_sha256"] = file_sha256(spec.origin)
    return state


def main(argv: list[str] | None = None) -> int:
    """Write the extension state to --out; exit 1 when --require-cuda is not met."""
    parser = argparse.ArgumentParser(prog="extension.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument(
        "--require-cuda",
        action="store_true",
        help="fail unless the compiled op loads and a CUDA GPU is visible",
    )
    args = parser.parse_args(argv)
    from fastmax.provenance import write_json

    state = extension_state()
    if args.require_cuda and not state["extension_loaded"]:
        print(
            f"extension.py: error: the compiled CUDA op is absent ({state['extension_error']}); "
            + BUILD_HINT,
            file=sys.stderr,
        )
        return 1
    if args.require_cuda and not state["cuda_available"]:
        print(
            "extension.py: error: the config requires a CUDA GPU and none is visible; "
            "run on a GPU machine or choose --config profile=smoke",
            file=sys.stderr,
        )
        return 1
    write_json(args.out, state)
    print(
        f"CUDA op {'loaded' if state['extension_loaded'] else 'absent'}, "
        f"CUDA GPU {'visible' if state['cuda_available'] else 'not visible'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
