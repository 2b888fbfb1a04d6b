"""Where a result came from: code version, software, hardware and the command that made it."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PACKAGES = (
    "torch",
    "triton",
    "numpy",
    "fla-core",
    "litgpt",
    "lm-eval",
    "litdata",
    "snakemake",
)


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env=env,
    ).stdout.strip()


def working_tree_hash(root: Path = REPO_ROOT) -> str:
    """The git tree hash of the files as they are (tracked and untracked, not ignored).

    Equal to ``git rev-parse COMMIT^{tree}`` for the commit whose files these are, whatever the
    checkout's HEAD: a copy of a newer tree on top of an older clone still names its commit. The
    real index is left alone (a temporary one is used). Every file git would add is hashed, so
    keep large data in ignored folders (``results/<config>/`` is).
    """
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(root, "add", "--all", ".", env=env)
        return _git(root, "write-tree", env=env)


def git_state(root: Path = REPO_ROOT) -> dict[str, Any]:
    """Commit, dirtiness and working-tree hash of the checkout holding the code.

    ``FASTMAX_GIT_COMMIT`` overrides the commit where there is no git checkout (a container).
    """
    if os.environ.get("FASTMAX_GIT_COMMIT"):
        return {"commit": os.environ["FASTMAX_GIT_COMMIT"], "dirty": None, "tree": None}
    try:
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "tree": None}
    try:
        tree: str | None = working_tree_hash(root)
    except (OSError, subprocess.SubprocessError):
        tree = None
    return {"commit": commit, "dirty": bool(status), "tree": tree}


def package_versions(names: tuple[str, ...] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, None where absent."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def gpu_state() -> dict[str, Any]:
    """GPUs PyTorch sees, the CUDA runtime it was built with and the driver version."""
    import torch

    info: dict[str, Any] = {
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda,
        "gpus": [],
        "driver": None,
    }
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info["gpus"].append(
                {
                    "name": props.name,
                    "capability": f"{props.major}.{props.minor}",
                    "memory_bytes": props.total_memory,
                    "multiprocessors": props.multi_processor_count,
                }
            )
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.split()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            info["driver"] = None
    return info


def environment(extra_packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """Everything needed to say where a result came from."""
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "git": git_state(),
        "packages": package_versions(DEFAULT_PACKAGES + tuple(extra_packages)),
        **gpu_state(),
    }


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically: a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
