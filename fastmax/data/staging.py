"""Whole folders or nothing: build output in a temporary folder, rename it into place at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def ensure_absent(out: Path) -> None:
    """Raise FileExistsError if ``out`` exists: outputs are never overwritten or merged into."""
    if Path(out).exists():
        raise FileExistsError(f"--out {out}: already exists; remove it or choose another folder")


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out``; renamed to ``out`` if the block succeeds.

    ``out`` must not exist. On any exception, KeyboardInterrupt included, the temporary folder is
    removed and ``out`` is never created. A process killed outright leaves at most a hidden
    ``.NAME.partial-*`` folder beside ``out``, never ``out`` itself.
    """
    out = Path(out)
    ensure_absent(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
