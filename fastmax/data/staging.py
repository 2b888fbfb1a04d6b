"""Whole folders or nothing: build output in a temporary folder, rename it into place at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
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
    # Created inside the try, so that an interrupt landing just after the mkdir still removes it.
    tmp = out.parent / f".{out.name}.partial-{secrets.token_hex(8)}"
    mine = True
    try:
        try:
            tmp.mkdir(mode=0o700)
        except FileExistsError:
            mine = False  # another run's folder: not this block's to remove
            raise
        yield tmp
        if _received:
            raise KeyboardInterrupt(f"signal {_received[0]} arrived while {out} was being built")
        os.chmod(tmp, 0o755)
        os.rename(tmp, out)
    except BaseException:
        if mine:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Ctrl-C and SIGTERM (what schedulers send) raise KeyboardInterrupt, so cleanup runs.

    Each signal is also recorded until the block ends: Python drops an exception raised inside a
    finalizer, and a recorded signal still stops ``staged_folder`` from publishing its output.
    Code that catches the KeyboardInterrupt where it lands (an import's bare ``except``, a
    library's cleanup) may raise another error in its place; once a signal was recorded, any
    error leaving the block leaves it as a KeyboardInterrupt caused by that error.
    """

    def interrupt(signum: int, frame: object) -> None:
        _received.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    _received.clear()
    previous = {signum: signal.signal(signum, interrupt) for signum in _INTERRUPTS}
    try:
        yield
    except Exception as error:
        if _received:
            raise KeyboardInterrupt(f"signal {_received[0]}, then {error!r}") from error
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()
