"""workflow/scripts/record.py: runs a workflow command, then stamps its provenance sidecars."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from snakemake.benchmark import BenchmarkRecord, write_benchmark_records

REPO = Path(__file__).resolve().parent.parent
RECORD = REPO / "workflow" / "scripts" / "record.py"
STATE = {"config": "smoke", "config_hash": "ab" * 32}


def record(*args: str, cwd: Path, state: dict | None = STATE) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("FASTMAX_WORKFLOW", None)
    if state is not None:
        env["FASTMAX_WORKFLOW"] = json.dumps(state)
    return subprocess.run(
        [sys.executable, str(RECORD), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_stamps_the_sidecar_the_command_wrote(tmp_path):
    (tmp_path / "fig.png").write_bytes(b"png bytes")
    (tmp_path / "fig.tmp.png").write_bytes(b"left over")
    timing = tmp_path / "bench.tsv"
    write_benchmark_records([BenchmarkRecord(running_time=12.5)], str(timing), False)
    command = python(
        "import json; json.dump({'csv_sha256': 'x', 'environment': {'torch': '2.14.1'}}, "
        "open('fig.json', 'w'))"
    )
    result = record(
        "--sidecar", "fig.json", "--timing", f"bench={timing}", "--", *command, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "fig.json").read_text())
    assert sidecar["csv_sha256"] == "x" and sidecar["environment"] == {"torch": "2.14.1"}
    assert sidecar["config"] == "smoke"
    stamp = sidecar["workflow"]
    assert stamp["config"] == "smoke" and stamp["config_hash"] == STATE["config_hash"]
    assert stamp["command"].startswith(sys.executable) and stamp["wall_seconds"] > 0
    assert stamp["artifacts"] == {"fig.png": hashlib.sha256(b"png bytes").hexdigest()}
    assert stamp["timings"]["bench"]["s"] == 12.5
    assert stamp["timings"]["bench"]["max_rss"] is None
    assert "commit" in stamp["git"]


def test_new_sidecar_holds_the_environment_and_the_hashes_of_the_table(tmp_path):
    command = python("open('table.md', 'w').write('| a |'); open('table.csv', 'w').write('a')")
    result = record("--new-sidecar", "table.json", "--", *command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "table.json").read_text())
    assert sidecar["config"] == "smoke"
    assert sidecar["environment"]["python"] == sys.version.split()[0]
    assert sorted(sidecar["workflow"]["artifacts"]) == ["table.csv", "table.md"]


def test_a_failed_command_returns_its_status_and_stamps_nothing(tmp_path):
    (tmp_path / "fig.json").write_text('{"before": true}')
    result = record("--sidecar", "fig.json", "--", *python("raise SystemExit(7)"), cwd=tmp_path)
    assert result.returncode == 7
    assert json.loads((tmp_path / "fig.json").read_text()) == {"before": True}


def test_a_sidecar_the_command_did_not_write_is_an_error(tmp_path):
    result = record("--sidecar", "fig.json", "--", *python("pass"), cwd=tmp_path)
    assert result.returncode == 2
    assert "did not write its sidecar fig.json" in result.stderr
    assert not (tmp_path / "fig.json").exists()


def test_the_command_s_own_config_field_moves_to_command_config(tmp_path):
    command = python("import json; json.dump({'config': {'contexts': [128]}}, open('f.json', 'w'))")
    result = record("--sidecar", "f.json", "--", *command, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((tmp_path / "f.json").read_text())
    assert sidecar["config"] == "smoke"
    assert sidecar["command_config"] == {"contexts": [128]}


@pytest.mark.parametrize("field", ["workflow", "command_config"])
def test_a_sidecar_that_already_has_a_stamped_field_is_an_error(tmp_path, field):
    command = python(f"import json; json.dump({{'{field}': 1}}, open('fig.json', 'w'))")
    result = record("--sidecar", "fig.json", "--", *command, cwd=tmp_path)
    assert result.returncode == 2
    assert f"already has a '{field}' field" in result.stderr
    assert json.loads((tmp_path / "fig.json").read_text()) == {field: 1}


def test_outside_the_workflow_it_refuses_before_running_the_command(tmp_path):
    command = python("open('ran', 'w')")
    result = record("--new-sidecar", "t.json", "--", *command, cwd=tmp_path, state=None)
    assert result.returncode == 2
    assert "FASTMAX_WORKFLOW is not set" in result.stderr
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timing", "bench", "--", "true"], "--timing expects NAME=BENCHMARK.tsv"),
        (["--sidecar", "x.json", "true"], "usage: record.py [options] -- COMMAND"),
        (["--timing", "b=missing.tsv", "--", "true"], "missing.tsv"),
    ],
)
def test_bad_arguments_are_named(tmp_path, args, message):
    result = record(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
