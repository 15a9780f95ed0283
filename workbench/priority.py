"""A worker's CPU priority below the window's: its own nice value and, when it leads its own session, its
scheduling group's."""
from __future__ import annotations

import os
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(niceness: int, autogroup: Path = AUTOGROUP) -> bool:
    """Nice this process (and the processes it starts) by `niceness`; when it leads a session of its own, set
    that session's scheduling group to the same nice value. True when the group's was set.

    The GUI starts its worker in a session of its own (so that it outlives the GUI's terminal). Linux's
    autogroup scheduling makes each session a group with an equal share of the CPU, whatever the nice
    values of its processes: niced alone, a worker kept the GUI thread waiting on the run queue for 59 ms of
    a 113 ms stall on two cores. The group's own nice value is what weighs against the window's session.
    A process in someone else's session (a worker started in a terminal) leaves the group alone: niceing it
    would slow the terminal's shell and everything else started there.
    """
    if niceness <= 0 or not hasattr(os, "nice"):
        return False
    os.nice(niceness)
    if os.getsid(0) != os.getpid():
        return False
    try:
        autogroup.write_text(f"{min(niceness, 19)}\n")
    except OSError:  # no autogroups (not Linux, or the kernel has them off) or not allowed: the nice alone
        return False
    return True
