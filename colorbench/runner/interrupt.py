"""How a run stops early: Ctrl-C or SIGTERM becomes one :class:`Interrupted` line.

A scheduler's SIGTERM unwinds exactly like Ctrl-C, so the chunk in flight is discarded and
every finished chunk stays on disk; the message names where they are and the command that
resumes them.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from colorbench.errors import Interrupted


@contextmanager
def interruptible(out: Path) -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM inside the block into :class:`Interrupted`."""
    try:
        with _sigterm_as_keyboard_interrupt():
            yield
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; finished chunks are kept in {out}; "
            f"resume with the same command{_resume_hint()}"
        ) from None


def _resume_hint() -> str:
    """The command that resumes: the one that ran, without ``--no-resume`` (following a
    hint that repeats it would discard the chunks just kept)."""
    if Path(sys.argv[0]).name in ("colorbench", "__main__.py"):
        args = [a for a in sys.argv[1:] if a != "--no-resume"]
        return ": " + shlex.join(["colorbench", *args])
    return ""


@contextmanager
def _sigterm_as_keyboard_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
