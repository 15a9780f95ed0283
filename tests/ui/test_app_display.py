"""Without a usable display the app says in one line what to do, instead of Qt's abort."""
from __future__ import annotations

import pytest

from ui.app import display_problem, main

FOUND = lambda name: f"lib{name}.so.0"  # noqa: E731
MISSING = lambda name: None  # noqa: E731


def test_no_display_names_offscreen_and_xvfb():
    line = display_problem({}, "linux", FOUND)
    assert "QT_QPA_PLATFORM=offscreen" in line and "xvfb-run" in line and "\n" not in line


def test_missing_xcb_cursor_names_the_package():
    line = display_problem({"DISPLAY": ":0"}, "linux", MISSING)
    assert "libxcb-cursor0" in line and "offscreen" in line


@pytest.mark.parametrize("env, platform", [({"DISPLAY": ":0"}, "linux"), ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
                                           ({"WAYLAND_DISPLAY": "wayland-0"}, "linux"), ({}, "darwin"), ({}, "win32")])
def test_a_usable_display_is_not_a_problem(env, platform):
    assert display_problem(env, platform, FOUND) is None


def test_main_exits_2_with_one_line(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ssl-workbench: No display") and len(err.splitlines()) == 1
