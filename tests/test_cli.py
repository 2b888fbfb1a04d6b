"""The ``fastmax`` command line: the command list, refusals, and lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fastmax.cli import COMMANDS, main

REPO = Path(__file__).resolve().parent.parent

REPRODUCTION_STACK = ("litgpt", "lm_eval", "litdata", "snakemake", "pandas", "matplotlib")


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "linear-time attention" in out
    for name, (_, summary) in COMMANDS.items():
        assert f"{name} {summary}" in out


def test_an_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["chek"])
    assert stopped.value.code == 2
    assert "invalid choice: 'chek'" in capsys.readouterr().err


def test_the_correctness_check_needs_torch_alone():
    """``fastmax check`` imports its own module only, not the reproduction stack."""
    code = (
        "import sys\n"
        "from fastmax.cli import main\n"
        "try:\n"
        "    main(['check', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(set({REPRODUCTION_STACK!r}) & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
