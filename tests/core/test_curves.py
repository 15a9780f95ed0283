"""Curves as data: growing series, truncation on resume, EMA, replay equals streaming."""
from __future__ import annotations

import numpy as np

from workbench.curves import RunCurves, Series, format_duration, scores_text, summarize_event


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


def _eval(step, scores, **fields):
    return {"type": "eval", "t": 1000.0 + step, "step": step, "epoch": 0, "knn_top1": 0.5, "knn_best": 0.5,
            "collapse_std_ratio": 0.3, "effective_rank": 12.0, "scores": scores, **fields}


def test_eval_scores_become_one_series_each_in_percent():
    c = RunCurves()
    c.add_other(_eval(10, {"analogy top-1": 0.41, "analogy top-1 · colour": 0.52}))
    c.add_other(_eval(20, {"analogy top-1": 0.45, "analogy top-1 · colour": "nan"}))
    c.add_other(_eval(30, {"wordsim353 ρ": -0.25}))
    assert list(c.scores) == ["analogy top-1", "analogy top-1 · colour", "wordsim353 ρ"]
    x, y = c.scores["analogy top-1"].data()
    np.testing.assert_allclose(x, [10, 20])
    np.testing.assert_allclose(y, [41.0, 45.0])  # ×100, on the kNN top-1 (%) axis
    assert list(c.scores["analogy top-1 · colour"].data()[0]) == [10]  # the unreadable value is skipped
    assert c.scores["wordsim353 ρ"].last() == -25.0
    c.add_other(_eval(40, ["not", "a", "dict"]))  # a malformed field is ignored, not fatal
    assert c.scores["analogy top-1"].n == 2


def test_scores_are_truncated_on_resume_and_cleared_on_reset():
    c = RunCurves()
    c.add_steps(_steps(30))
    for s in (10, 20, 30):
        c.add_other(_eval(s, {"analogy top-1": s / 100}))
    c.add_other({"type": "started", "t": 2000.0, "step": 20, "epoch": 0, "resumed": True})
    assert list(c.scores["analogy top-1"].data()[0]) == [10, 20]
    c.reset()
    assert c.scores == {} and c.all_series().count(c.loss) == 1


def test_eval_summary_mentions_scores():
    level, line = summarize_event(_eval(46, {"analogy top-1": 0.41, "analogy top-1 · colour": 0.5234}))
    assert level == "info" and line.startswith("eval at step 46: kNN 50.0% (best 50.0%)")
    assert line.endswith("· analogy top-1 41.0% (colour 52.3%)")  # grouped under their score, in percent
    _, line = summarize_event({"type": "eval", "t": 0, "step": 8, "epoch": 1, "scores": {"simlex999 ρ": 0.12}})
    assert line == "eval at step 8: simlex999 ρ 0.120"
    _, line = summarize_event(_eval(5, {}))
    assert "·" not in line and line.endswith("eff. rank 12.0")


def test_scores_text_groups_refinements_whatever_their_order():
    assert scores_text({"wordsim353 ρ": 0.31, "simlex999 ρ": 0.12}) == "wordsim353 ρ 0.310, simlex999 ρ 0.120"
    nested = {"a · b": 0.1, "a": 0.2, "a · b · c": 0.3, "x": "nan"}
    assert scores_text(nested) == "a 20.0% (b 10.0%, b · c 30.0%), x –"
    assert scores_text({"a · b": 0.1}) == "a · b 10.0%"  # nothing to refine: the label as it is


def test_from_events_replays_once_with_resume_truncation_and_status():
    from workbench.runs import RunStatus, run_status
    events = [{"type": "started", "step": 0, "total_steps": 20}]
    events += [{"type": "step", "step": s, "loss": 2.0 - 0.1 * s, "t": float(s)} for s in range(1, 11)]
    events += [{"type": "finished", "step": 10, "stopped": True}]
    events += [{"type": "started", "step": 6, "resumed": True}]  # resumed from an earlier checkpoint
    events += [{"type": "step", "step": s, "loss": 1.0, "t": 20.0 + s} for s in range(7, 9)]
    curves = RunCurves.from_events(events)
    assert curves.loss.data()[0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]  # 7..10 of the first go dropped
    assert curves.state is RunStatus.RUNNING == run_status(events, True)
    streamed = RunCurves()
    for ev in events:
        (streamed.add_step if ev["type"] == "step" else streamed.add_other)(ev)
    assert streamed.loss.data()[0].tolist() == curves.loss.data()[0].tolist()
    assert streamed.state is curves.state
    others = RunCurves().add_events(events)
    assert [e["type"] for e in others] == ["started", "finished", "started"]
