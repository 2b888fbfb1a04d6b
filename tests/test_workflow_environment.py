"""The pinned environment (lock check) and the two commands README.md and CI promise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECK = REPO / "environment" / "check_lock.py"
LOCK = """\
torch==2.14.1 \\
    --hash=sha256:{h1} \\
    --hash=sha256:{h2}
    # via -r requirements.in
pyyaml==6.0.4 \\
    --hash=sha256:{h1}
""".format(h1="a" * 64, h2="b" * 64)


def check_lock(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECK), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def project(tmp_path: Path, dependencies: list[str], lock: str = LOCK) -> list[str]:
    """A pyproject.toml, requirements.in and lock in tmp_path; the check_lock arguments."""
    listed = ", ".join(f'"{d}"' for d in dependencies)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "fastmax"\ndependencies = [{listed}]\n'
        '[project.optional-dependencies]\nself = ["fastmax[other]"]\n'
    )
    (tmp_path / "requirements.in").write_text("# top level\ntorch==2.14.1  # the op\n")
    (tmp_path / "requirements.lock").write_text(lock)
    return [
        "--pyproject",
        str(tmp_path / "pyproject.toml"),
        "--requirements",
        str(tmp_path / "requirements.in"),
        "--lock",
        str(tmp_path / "requirements.lock"),
    ]


def test_the_repository_lock_pins_everything_pyproject_names():
    result = check_lock()
    assert result.returncode == 0, result.stderr
    assert re.search(r"\d+ requirements satisfied by requirements.lock", result.stdout)


def test_ranges_and_markers_that_the_lock_satisfies_pass(tmp_path):
    args = project(tmp_path, ["torch>=2.4,<3", "PyYAML>=6", "pywin32>=1; sys_platform == 'win32'"])
    result = check_lock(*args)
    assert result.returncode == 0, result.stderr
    assert "3 requirements satisfied" in result.stdout


@pytest.mark.parametrize(
    ("dependency", "message"),
    [
        ("torch>=2.15", "'torch>=2.15' but the lock pins torch==2.14.1"),
        ("numpy>=2", "'numpy>=2' is not pinned in the lock"),
        ("torch[", "'torch[' is not a valid requirement"),
    ],
)
def test_a_dependency_the_lock_does_not_satisfy_is_named(tmp_path, dependency, message):
    result = check_lock(*project(tmp_path, [dependency]))
    assert result.returncode == 1
    assert f"project.dependencies: {message}" in result.stderr


def test_a_pin_without_hashes_is_named(tmp_path):
    lock = LOCK + "ninja==1.13.2\n    # via -r requirements.in\n"
    result = check_lock(*project(tmp_path, ["ninja"], lock=lock))
    assert result.returncode == 1
    assert "ninja==1.13.2 has no sha256 hash in the lock" in result.stderr


def test_a_missing_lock_is_named(tmp_path):
    args = project(tmp_path, [])
    (tmp_path / "requirements.lock").unlink()
    result = check_lock(*args)
    assert result.returncode == 2
    assert "requirements.lock does not exist" in result.stderr


def test_readme_opens_with_the_workflow_and_the_test_command():
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S)[1]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["./run.sh workflow", "./run.sh test"]
    assert readme.index("```sh") < readme.index("\n## ")


def test_ci_builds_the_cuda_op_and_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert (REPO / ".ci" / "run").stat().st_mode & 0o111
    assert "FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=2" in ci
    commands = [line for line in ci.splitlines() if line and not line.startswith(("#", "export"))]
    # The README's test command, then the proofs against real SLURM and Docker engines.
    assert commands[-3:] == ["./run.sh test", "bash .ci/slurm.sh", "bash .ci/docker.sh"]
