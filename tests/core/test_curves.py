"""Curves as data: growing series, truncation on resume, EMA, replay equals streaming."""
from __future__ import annotations

import numpy as np

from workbench.curves import RunCurves, Series, format_duration, summarize_event


def test_series_grows_past_its_capacity_and_truncates():
    s = Series(capacity=2)
    for i in range(10):
        s.append(i, i * i)
    x, y = s.data()
    assert list(x) == list(range(10)) and y[-1] == 81
    s.truncate_after(4)
    assert list(s.data()[0]) == [0, 1, 2, 3, 4]


def _steps(n):
    return [{"type": "step", "t": 1000.0 + i, "step": i + 1, "epoch": 0, "loss": 2.0 / (i + 1),
             "lr": 0.001, "img_s": 100.0, "logs": {"acc": i / n}} for i in range(n)]


def test_ema_starts_at_the_loss_and_stays_within_its_range():
    c = RunCurves()
    for ev in _steps(50):
        c.add_step(ev)
    _, ema = c.ema.data()
    _, raw = c.loss.data()
    assert ema[0] == raw[0]
    assert raw.min() <= ema.min() and ema.max() <= raw.max()
    assert set(c.terms) == {"acc"}


def test_replay_in_one_go_equals_streaming():
    events = _steps(30)
    streamed, replayed = RunCurves(), RunCurves()
    for ev in events:
        streamed.add_step(ev)
    replayed.add_steps(events)
    for a, b in ((streamed.loss, replayed.loss), (streamed.ema, replayed.ema), (streamed.terms["acc"], replayed.terms["acc"])):
        np.testing.assert_allclose(a.data()[1], b.data()[1])


def test_summaries_and_durations_read_well():
    line = summarize_event({"type": "failed", "t": 0, "step": 5, "epoch": 0, "message": "boom"})
    assert line is not None and "boom" in line[1]
    assert summarize_event({"type": "step", "t": 0, "step": 1, "epoch": 0}) is None
    assert format_duration(42) == "42 s" and format_duration(125) == "2 min 05 s"
    assert format_duration(3725) == "1 h 02 min"
