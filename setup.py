"""Builds the CUDA extension ``fastmax._C`` from ``csrc/`` when a CUDA toolchain is present.

Environment:
  FASTMAX_BUILD_CUDA   0 (never), 1 (always; a failed build fails the install) or auto (default:
                       build when nvcc is found and torch is a CUDA build).
  FASTMAX_CUDA_ARCHS   target architectures, e.g. "9.0a" (default "8.0;8.6;8.9+PTX;9.0a"). "9.0a"
                       builds Hopper's warpgroup-product (wgmma) kernels for bfloat16 at head_dim
                       128; "9.0" builds the mma.sync kernels that the other GPUs run.
  CUDA_HOME            the CUDA toolkit root; guessed from nvcc when unset.
  MAX_JOBS             parallel compile jobs (ninja).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
DEFAULT_ARCHS = "8.0;8.6;8.9+PTX;9.0a"


def _say(message: str) -> None:
    print(f"fastmax setup: {message}", file=sys.stderr)


def _toolkit_root() -> Path | None:
    """The CUDA toolkit root: CUDA_HOME/CUDA_PATH, else the folder of the real nvcc binary."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return Path(os.environ[var])
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    # `nvcc` on PATH may be a wrapper script; ask the compiler itself where it lives.
    try:
        out = subprocess.run(
            [nvcc, "-v", "--dryrun", "-x", "cu", "/dev/null"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    for line in out.splitlines():
        if "TOP=" in line:
            return Path(line.split("TOP=", 1)[1].strip()).resolve()
    return Path(nvcc).resolve().parent.parent


def _extensions():
    mode = os.environ.get("FASTMAX_BUILD_CUDA", "auto").strip().lower()
    if mode not in ("0", "1", "auto"):
        raise SystemExit(f"FASTMAX_BUILD_CUDA must be 0, 1 or auto, got {mode!r}")
    if mode == "0":
        _say("FASTMAX_BUILD_CUDA=0: the CUDA op is absent; backend='torch' only")
        return [], {}
    root = _toolkit_root()
    if root is None or not (root / "bin" / "nvcc").exists():
        if mode == "1":
            raise SystemExit(
                "FASTMAX_BUILD_CUDA=1 but no CUDA toolkit (nvcc) was found; set CUDA_HOME"
            )
        _say("no nvcc found: the CUDA op is absent; backend='torch' only")
        return [], {}
    os.environ["CUDA_HOME"] = str(root)
    os.environ["TORCH_CUDA_ARCH_LIST"] = os.environ.get("FASTMAX_CUDA_ARCHS", DEFAULT_ARCHS)

    import torch
    from torch.utils.cpp_extension import BuildExtension, CUDAExtension

    if torch.version.cuda is None:
        if mode == "1":
            raise SystemExit("FASTMAX_BUILD_CUDA=1 but the installed torch is a CPU-only build")
        _say("torch is a CPU-only build: the CUDA op is absent; backend='torch' only")
        return [], {}

    include_dirs = [str(ROOT / "csrc")]
    try:
        import nvidia

        for base in nvidia.__path__:
            for sub in ("cu13", "cu12"):
                if (Path(base) / sub / "include").is_dir():
                    include_dirs.append(str(Path(base) / sub / "include"))
    except ImportError:
        pass

    csrc = ROOT / "csrc"
    sources = sorted(str(p.relative_to(ROOT)) for p in [*csrc.glob("*.cpp"), *csrc.glob("*.cu")])
    _say(f"building the CUDA op for {os.environ['TORCH_CUDA_ARCH_LIST']} with {root}/bin/nvcc")
    ext = CUDAExtension(
        name="fastmax._C",
        sources=sources,
        include_dirs=include_dirs,
        extra_compile_args={
            "cxx": ["-O3"],
            "nvcc": [
                "-O3",
                "-lineinfo",
                "--expt-relaxed-constexpr",
                "-Xptxas=-warn-spills",
            ],
        },
        py_limited_api=False,
    )
    return [ext], {"build_ext": BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = _extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
