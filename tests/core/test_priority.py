"""A worker that leads its own session lowers its scheduling group's priority with its own; one started in
someone else's session (a terminal's) leaves the group alone."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workbench.priority import AUTOGROUP

CALL = ("import sys; from pathlib import Path; from workbench.priority import lower_priority; "
        "print(lower_priority(5, Path(sys.argv[1]))); import os; print(os.nice(0))")


def run(autogroup: Path, own_session: bool) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CALL, str(autogroup)], capture_output=True, text=True,
                          start_new_session=own_session, check=True, timeout=60)
    return done.stdout.split()


def test_a_session_leader_sets_its_group_and_its_own_nice(tmp_path):
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")
    assert run(group, own_session=True) == ["True", "5"]
    assert group.read_text() == "5\n"


def test_a_process_in_another_session_leaves_the_group_alone(tmp_path):
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")
    assert run(group, own_session=False) == ["False", "5"]
    assert group.read_text() == "/autogroup-1 nice 0\n"


def test_no_autogroup_file_is_only_the_nice(tmp_path):
    assert run(tmp_path / "absent" / "autogroup", own_session=True) == ["False", "5"]


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="this kernel has no autogroups")
def test_the_kernel_takes_the_groups_nice_value():
    script = ("from workbench.priority import lower_priority; lower_priority(7); "
              "print(open('/proc/self/autogroup').read())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          start_new_session=True, check=True, timeout=60)
    assert done.stdout.split()[-1] == "7"
