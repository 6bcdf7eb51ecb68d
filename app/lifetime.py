"""Child processes that end with the process that started them, however that one ends."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def end_with_parent(parent: int) -> None:
    """Have Linux send this process SIGTERM when its parent dies, and exit at once if
    `parent` (the process that started it) is already gone. Elsewhere, nothing.

    Call it first thing in a child (a pool's initializer). A SIGKILL gives the parent no
    chance to stop its children: without this they would run on, orphaned, for good."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    try:
        os.kill(parent, 0)  # it may have died before the request above: then nobody signals
    except ProcessLookupError:
        os._exit(1)
