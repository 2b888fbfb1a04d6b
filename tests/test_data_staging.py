"""Output folders appear whole or not at all."""

import os
import signal
import time

import pytest

from fastmax.data.staging import interrupts_raise, staged_folder


def test_success_renames_the_staged_folder_into_place(tmp_path):
    out = tmp_path / "nested" / "out"
    with staged_folder(out) as tmp:
        assert tmp.parent == out.parent
        assert tmp.name.startswith(".out.partial-")
        (tmp / "file").write_text("done")
    assert (out / "file").read_text() == "done"
    assert [path.name for path in out.parent.iterdir()] == ["out"]


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_error_or_interrupt_leaves_nothing(tmp_path, error):
    out = tmp_path / "out"
    with pytest.raises(type(error)), staged_folder(out) as tmp:
        (tmp / "half").write_text("half written")
        raise error
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FileExistsError, match=r"--out .*out: already exists"), staged_folder(out):
        pytest.fail("the block must not run")
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_swallowed_interrupt_still_stops_publishing(tmp_path, signum):
    """A signal whose KeyboardInterrupt is lost (as in a finalizer) must not let ``out`` appear."""
    out = tmp_path / "out"
    before = signal.getsignal(signum)
    with (
        pytest.raises(KeyboardInterrupt, match=f"signal {int(signum)} arrived"),
        interrupts_raise(),
        staged_folder(out) as tmp,
    ):
        (tmp / "file").write_text("done")
        try:
            os.kill(os.getpid(), signum)
            time.sleep(10)
            pytest.fail("the signal did not interrupt the sleep")
        except KeyboardInterrupt:
            pass
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signum) is before


def test_interrupts_are_forgotten_when_the_block_ends(tmp_path):
    with pytest.raises(KeyboardInterrupt), interrupts_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
    with interrupts_raise(), staged_folder(tmp_path / "out") as tmp:
        (tmp / "file").write_text("done")
    assert (tmp_path / "out" / "file").read_text() == "done"


def test_an_interrupt_replaced_by_another_error_leaves_as_an_interrupt(tmp_path):
    """Code that catches the KeyboardInterrupt and raises something else still reads as one."""
    out = tmp_path / "out"
    with (
        pytest.raises(KeyboardInterrupt, match="signal 15, then RuntimeError") as caught,
        interrupts_raise(),
        staged_folder(out),
    ):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        except KeyboardInterrupt:
            raise RuntimeError("cleanup failed half way") from None
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert list(tmp_path.iterdir()) == []


def test_an_error_without_a_signal_passes_unchanged():
    with pytest.raises(ValueError, match="bad row"), interrupts_raise():
        raise ValueError("bad row")


def test_an_interrupt_right_after_the_folder_is_made_leaves_nothing(tmp_path, monkeypatch):
    real_mkdir = os.mkdir

    def mkdir_then_interrupt(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if ".partial-" in os.fspath(path):
            raise KeyboardInterrupt("signal 15")

    monkeypatch.setattr(os, "mkdir", mkdir_then_interrupt)
    with pytest.raises(KeyboardInterrupt), staged_folder(tmp_path / "out"):
        pytest.fail("the block must not run")
    assert list(tmp_path.iterdir()) == []
