"""``fastmax.provenance.git_state``: the working-tree hash names the commit whose files ran."""

from __future__ import annotations

import subprocess

import pytest

from fastmax.provenance import git_state


@pytest.fixture(autouse=True)
def _no_commit_override(monkeypatch):
    monkeypatch.delenv("FASTMAX_GIT_COMMIT", raising=False)


def _git(root, *args):
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "test@example.com")
    _git(root, "config", "user.name", "test")
    (root / ".gitignore").write_text("ignored/\n")
    (root / "code.py").write_text("x = 1\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_checkout_tree_is_the_commits_tree(tmp_path):
    root = _repo(tmp_path)
    (root / "ignored").mkdir()
    (root / "ignored" / "big.bin").write_bytes(b"\0" * 1000)
    state = git_state(root)
    assert state["commit"] == _git(root, "rev-parse", "HEAD")
    assert state["dirty"] is False
    assert state["tree"] == _git(root, "rev-parse", "HEAD^{tree}")
    assert _git(root, "diff", "--cached", "--name-only") == ""


def test_newer_files_on_an_older_head_name_the_newer_commit(tmp_path):
    """A copy of commit B's files over a clone at commit A: dirty, and the tree is B's."""
    root = _repo(tmp_path)
    first = _git(root, "rev-parse", "HEAD")
    (root / "code.py").write_text("x = 2\n")
    (root / "new.py").write_text("y = 3\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "second")
    second_tree = _git(root, "rev-parse", "HEAD^{tree}")
    _git(root, "reset", "-q", "--soft", first)
    _git(root, "reset", "-q")  # HEAD and index at the first commit, files of the second
    state = git_state(root)
    assert state["commit"] == first and state["dirty"] is True
    assert state["tree"] == second_tree
    assert _git(root, "diff", "--cached", "--name-only") == ""  # the real index is untouched


def test_no_checkout_gives_nones(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None, "tree": None}


def test_commit_override_for_a_copy_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMAX_GIT_COMMIT", "abc123")
    assert git_state(tmp_path) == {"commit": "abc123", "dirty": None, "tree": None}
