"""The ``fastmax`` command line: the command list, refusals, and lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fastmax.cli import COMMANDS, main

REPO = Path(__file__).resolve().parent.parent

REPRODUCTION_STACK = (
    "litgpt",
    "lightning",
    "lm_eval",
    "litdata",
    "snakemake",
    "pandas",
    "matplotlib",
)


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


@pytest.mark.parametrize(
    "statement",
    [
        "import fastmax",
        "from fastmax.cli import main\ntry:\n    main(['check', '--help'])\n"
        "except SystemExit:\n    pass",
    ],
    ids=["import fastmax", "fastmax check"],
)
def test_the_op_and_its_check_need_torch_alone(statement):
    """``import fastmax`` and ``fastmax check`` import none of the reproduction stack."""
    code = f"import sys\n{statement}\nprint(sorted(set({REPRODUCTION_STACK!r}) & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
