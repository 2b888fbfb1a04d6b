"""Whole folders or nothing: build output in a temporary folder, rename it into place at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


def ensure_absent(out: Path) -> None:
    """Raise FileExistsError if ``out`` exists: outputs are never overwritten or merged into."""
    if Path(out).exists():
        raise FileExistsError(f"--out {out}: already exists; remove it or choose another folder")


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out``; renamed to ``out`` if the block succeeds.

    ``out`` must not exist. On any exception, KeyboardInterrupt included, the temporary folder is
    removed and ``out`` is never created; so too when ``interrupts_raise`` recorded a signal, even
    one whose exception was swallowed where it landed. A process killed outright leaves at most a
    hidden ``.NAME.partial-*`` folder beside ``out``, never ``out`` itself.
    """
    out = Path(out)
    ensure_absent(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        if _received:
            raise KeyboardInterrupt(f"signal {_received[0]} arrived while {out} was being built")
        os.chmod(tmp, 0o755)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Ctrl-C and SIGTERM (what schedulers send) raise KeyboardInterrupt, so cleanup runs.

    Each signal is also recorded until the block ends: Python drops an exception raised inside a
    finalizer, and a recorded signal still stops ``staged_folder`` from publishing its output.
    """

    def interrupt(signum: int, frame: object) -> None:
        _received.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    _received.clear()
    previous = {signum: signal.signal(signum, interrupt) for signum in _INTERRUPTS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()
