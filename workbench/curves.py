"""Training curves as data: events to growing numpy series, EMA, ETA and one-line summaries."""
from __future__ import annotations

import math
from collections import deque
from typing import Iterable

import numpy as np

from .floors import accuracy_noise, rho_noise
from .runs import RunStatus

EMA_BETA = 0.9       # bold loss curve: ≈10-event window (a few seconds); bias-corrected so it starts at the loss
RATE_WINDOW = 20     # step events used for the ETA (≈5 s of training at 4 events/s)


def _num(value) -> float | None:
    """A finite float from an event field, or None (missing, "nan" strings, non-numbers)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _floats(values: list) -> np.ndarray:
    """Event values as float64; missing or non-numeric ones (None, "nan", text) become NaN."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return np.array([np.nan if _num(v) is None else float(v) for v in values], dtype=float)


def _column(events: list[dict], key: str) -> np.ndarray:
    return _floats([e.get(key) for e in events])


class Series:
    """x/y numpy buffers that grow by doubling (pyqtgraph's scrollingPlots), so appends are O(1)."""

    __slots__ = ("x", "y", "n", "version")

    def __init__(self, capacity: int = 256):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.n = 0
        self.version = 0  # bumped on every change so the redraw only touches changed curves

    def _grow(self, need: int) -> None:
        cap = max(2 * len(self.x), need)
        for name in ("x", "y"):
            new = np.empty(cap)
            new[:self.n] = getattr(self, name)[:self.n]
            setattr(self, name, new)

    def append(self, x: float, y: float) -> None:
        n = self.n
        if n == len(self.x):
            self._grow(n + 1)
        self.x[n] = x
        self.y[n] = y
        self.n = n + 1
        self.version += 1

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        need = self.n + len(xs)
        if need == self.n:
            return
        if need > len(self.x):
            self._grow(need)
        self.x[self.n:need] = xs
        self.y[self.n:need] = ys
        self.n = need
        self.version += 1

    def truncate_after(self, step: float) -> None:
        keep = self.x[:self.n] <= step
        k = int(keep.sum())
        if k == self.n:
            return
        self.x[:k] = self.x[:self.n][keep]
        self.y[:k] = self.y[:self.n][keep]
        self.n = k
        self.version += 1

    def reset(self) -> None:
        self.n = 0
        self.version += 1

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:self.n], self.y[:self.n]

    def last(self) -> float | None:
        return float(self.y[self.n - 1]) if self.n else None


# Step-event fields of a CUDA run shown as they are now (workbench.gpu_stats writes them).
GPU_NOW_KEYS = ("gpu_mem_alloc_mb", "gpu_mem_reserved_mb", "gpu_util")


class RunCurves:
    """What the dashboard shows of one run, built from its events; plain data, no Qt."""

    def __init__(self):
        self.loss, self.ema, self.lr, self.img_s, self.gpu_mem = (Series() for _ in range(5))
        self.knn, self.knn_best, self.std_ratio, self.eff_rank = (Series() for _ in range(4))
        self.terms: dict[str, Series] = {}   # the method's own logged terms, one series per key
        self.scores: dict[str, Series] = {}  # eval events' `scores` (human label -> value in [-1, 1]), ×100
        self.reset()

    def reset(self) -> None:
        for s in self.all_series():
            s.reset()
        self.terms.clear()
        self.scores.clear()
        self.measure_keys: set[str] = set()  # terms that are eval events' `measures` (one point per evaluation)
        self.linear: tuple[float, float] | None = None  # (step, top-1 fraction)
        self.coverage: dict = {}                        # the last eval's word-benchmark coverage {key: [found, total]}
        self._ema_raw, self._ema_decay = 0.0, 1.0      # running EMA and beta**k for bias correction
        self.info: dict = {}                            # the started event's fields
        self.step = self.epoch = 0
        self.progress: float | None = None
        self.img_s_now: float | None = None
        self.gpu_now: dict[str, float] = {}             # the last step's GPU memory / utilisation
        self.state = RunStatus.NEW                      # from RunStatus.after, as everywhere
        self.rate: deque = deque(maxlen=RATE_WINDOW)    # (t, step) of recent step events
        self.version = 0                                # header changes

    def all_series(self) -> list[Series]:
        return [self.loss, self.ema, self.lr, self.img_s, self.gpu_mem, self.knn, self.knn_best,
                self.std_ratio, self.eff_rank, *self.terms.values(), *self.scores.values()]

    # --- step events: the hot path (≈4/s live, 100k+ on replay) --------------------------------
    def add_step(self, ev: dict) -> None:
        s = ev.get("step", 0)
        loss = _num(ev.get("loss"))
        if loss is not None:
            self.loss.append(s, loss)
            b = EMA_BETA
            self._ema_raw = b * self._ema_raw + (1.0 - b) * loss
            self._ema_decay *= b
            self.ema.append(s, self._ema_raw / (1.0 - self._ema_decay))
        for key, series in (("lr", self.lr), ("img_s", self.img_s), ("gpu_mem_mb", self.gpu_mem)):
            v = ev.get(key)
            if v is not None and (v := _num(v)) is not None:
                series.append(s, v)
        logs = ev.get("logs")
        if logs:
            for key, value in logs.items():
                v = _num(value)
                if v is not None and key != "loss":  # the loss already has its own plot
                    series = self.terms.get(key)
                    if series is None:
                        series = self.terms[key] = Series()
                    series.append(s, v)
        self._step_header(ev)
        self.rate.append((ev.get("t"), s))

    def add_steps(self, events: list[dict]) -> None:
        """Many step events at once (replay): numpy columns instead of per-event appends."""
        if not events:
            return
        steps = _column(events, "step")
        loss = _column(events, "loss")
        ok = np.isfinite(loss) & np.isfinite(steps)
        xs, ys = steps[ok], loss[ok]
        self.loss.extend(xs, ys)
        ema = np.empty(len(ys))
        raw, decay, b = self._ema_raw, self._ema_decay, EMA_BETA
        for i, v in enumerate(ys.tolist()):
            raw = b * raw + (1.0 - b) * v
            decay *= b
            ema[i] = raw / (1.0 - decay)
        self._ema_raw, self._ema_decay = raw, decay
        self.ema.extend(xs, ema)
        for key, series in (("lr", self.lr), ("img_s", self.img_s), ("gpu_mem_mb", self.gpu_mem)):
            col = _column(events, key)
            ok = np.isfinite(col) & np.isfinite(steps)
            series.extend(steps[ok], col[ok])
        terms: dict[str, tuple[list, list]] = {}  # one pass over the logs, whatever keys they carry
        for e in events:
            logs = e.get("logs")
            if logs:
                s = e.get("step", 0)
                for key, value in logs.items():
                    col = terms.get(key)
                    if col is None:
                        col = terms[key] = ([], [])
                    col[0].append(s)
                    col[1].append(value)
        terms.pop("loss", None)  # the loss already has its own plot
        for key, (xs, vs) in terms.items():
            x, y = _floats(xs), _floats(vs)
            ok = np.isfinite(x) & np.isfinite(y)
            if key not in self.terms:
                self.terms[key] = Series(max(256, int(ok.sum())))
            self.terms[key].extend(x[ok], y[ok])
        self._step_header(events[-1])
        self.rate.extend((e.get("t"), e.get("step", 0)) for e in events[-RATE_WINDOW:])

    def _step_header(self, ev: dict) -> None:
        self.step = ev.get("step", self.step)
        self.epoch = ev.get("epoch", self.epoch)
        self.progress = _num(ev.get("progress"))
        self.img_s_now = _num(ev.get("img_s"))
        self.gpu_now = {k: v for k in GPU_NOW_KEYS if (v := _num(ev.get(k))) is not None}
        self.state = self.state.after(ev)
        self.version += 1

    # --- everything else ---------------------------------------------------------------------
    def add_other(self, ev: dict) -> None:
        kind = ev.get("type")
        s = ev.get("step", self.step)
        self.state = self.state.after(ev)
        if kind == "started":
            self.info = ev
            if ev.get("resumed"):
                self.truncate_after(s)
            self.rate.clear()
        elif kind == "eval":
            for key, series, scale in (("knn_top1", self.knn, 100.0), ("knn_best", self.knn_best, 100.0),
                                       ("collapse_std_ratio", self.std_ratio, 1.0),
                                       ("effective_rank", self.eff_rank, 1.0)):
                v = _num(ev.get(key))
                if v is not None:
                    series.append(s, v * scale)
            v = _num(ev.get("linear_top1"))
            if v is not None:
                self.linear = (s, v)
            if isinstance(ev.get("coverage"), dict):
                self.coverage = ev["coverage"]
            scores = ev.get("scores")
            for key, value in (scores.items() if isinstance(scores, dict) else ()):
                v = _num(value)
                if v is not None:  # ×100, on the same axis as kNN top-1 (%)
                    series = self.scores.get(str(key))
                    if series is None:
                        series = self.scores[str(key)] = Series(64)
                    series.append(s, 100.0 * v)
            measures = ev.get("measures")
            for key, value in (measures.items() if isinstance(measures, dict) else ()):
                v = _num(value)
                if v is not None:  # in the label's own unit, beside the method's terms of that unit
                    series = self.terms.get(str(key))
                    if series is None:
                        series = self.terms[str(key)] = Series(64)
                        self.measure_keys.add(str(key))
                    series.append(s, v)
        elif kind == "resumed":
            self.rate.clear()  # the pause would otherwise make the ETA far too long
        elif kind == "finished":
            v = _num(ev.get("linear_top1"))
            if v is not None and self.linear is None:
                self.linear = (s, v)
        elif kind not in ("paused", "failed"):
            return
        if kind != "eval":
            self.step = s
            self.epoch = ev.get("epoch", self.epoch)
        self.version += 1

    def add_events(self, events: Iterable[dict]) -> list[dict]:
        """Replay many events: steps in numpy chunks, the rest one by one, in order. Returns the
        events other than steps (for the log pane)."""
        others: list[dict] = []
        chunk: list[dict] = []
        for ev in events:
            kind = ev.get("type")
            if kind == "step":
                chunk.append(ev)
                continue
            if kind == "started" and ev.get("resumed"):
                self.add_steps(chunk)  # truncation must see the steps that came before
                chunk = []
            self.add_other(ev)
            others.append(ev)
        self.add_steps(chunk)
        return others

    @classmethod
    def from_events(cls, events: Iterable[dict]) -> RunCurves:
        """A run's curves from all its events (e.g. `read_events(run_dir)`), replayed once."""
        curves = cls()
        curves.add_events(events)
        return curves

    def truncate_after(self, step: float) -> None:
        """A resumed run restarts at its checkpoint: forget points past it so curves don't zigzag."""
        for series in self.all_series():
            series.truncate_after(step)
        if self.linear is not None and self.linear[0] > step:
            self.linear = None
        last = self.ema.last()
        k = self.ema.n
        self._ema_decay = EMA_BETA ** k
        self._ema_raw = (last or 0.0) * (1.0 - self._ema_decay)

    def eta_seconds(self) -> float | None:
        total = self.info.get("total_steps")
        if self.state is not RunStatus.RUNNING or not total or len(self.rate) < 2:
            return None
        (t0, s0), (t1, s1) = self.rate[0], self.rate[-1]
        if t0 is None or t1 is None or t1 <= t0 or s1 <= s0:
            return None
        return max(0.0, (total - s1) / ((s1 - s0) / (t1 - t0)))


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _pct(v) -> str:
    v = _num(v)
    return "–" if v is None else f"{100 * v:.1f}%"


def format_score(label: str, v) -> str:
    """A score as people read it: correlations (ρ) to 3 decimals, accuracies in percent."""
    v = _num(v)
    if v is None:
        return "–"
    return f"{v:.3f}" if "ρ" in label else f"{100 * v:.1f}%"


SCORE_PART = " · "  # "analogy top-1 · colour" refines "analogy top-1"


def score_parent(label: str, labels) -> str | None:
    """The longest other label that `label` refines ("<parent> · <part>"), or None."""
    parents = [p for p in labels if p != label and label.startswith(p + SCORE_PART)]
    return max(parents, key=len) if parents else None


def scores_text(scores: dict) -> str:
    """Scores for one line: "analogy top-1 41.0% (colour 52.0%, shape 31.0%), wordsim353 ρ 0.310"."""
    labels = [str(k) for k in scores]
    values = dict(zip(labels, scores.values()))
    top: dict[str, list[str]] = {k: [] for k in labels if score_parent(k, labels) is None}
    for label in labels:
        if label not in top:
            root = label
            while (up := score_parent(root, labels)) is not None:
                root = up
            top[root].append(label)
    out = []
    for label, parts in top.items():
        text = f"{label} {format_score(label, values[label])}"
        if parts:
            text += " (" + ", ".join(f"{p[len(label) + len(SCORE_PART):]} {format_score(p, values[p])}"
                                     for p in parts) + ")"
        out.append(text)
    return ", ".join(out)


NOISY_RHO = 0.1       # say so when a ρ's 95 % interval is wider than ±this (fewer than ~380 pairs)
NOISY_POINTS = 3.0    # likewise an accuracy's, in points (a test split of fewer than ~1,000 items)


def coverage_notes(coverage: dict) -> list[str]:
    """'wordsim353 on 60 pairs: ±0.26 is noise' for each word benchmark that rests on few pairs."""
    notes = []
    for key, found_total in (coverage or {}).items():
        try:
            pairs = int(found_total[0])
        except (TypeError, ValueError, IndexError):
            continue
        half = rho_noise(pairs)
        if half is None:
            notes.append(f"{key} on {pairs} pairs: too few to mean anything")
        elif half > NOISY_RHO:
            notes.append(f"{key} on {pairs} pairs: ±{half:.2f} is noise")
    return notes


def test_size_note(n) -> str:
    """'±5 pts is noise (359 test items)' when the test split is small enough for that to matter, else ''."""
    half = accuracy_noise(n) if isinstance(n, int) else None
    return f"±{100 * half:.0f} pts is noise ({n:,} test items)" if half and 100 * half >= NOISY_POINTS else ""


def summarize_event(ev: dict) -> tuple[str, str] | None:
    """(level, one line) for the log pane, or None for events that are only plotted."""
    kind, s = ev.get("type"), ev.get("step", 0)
    if kind == "log":
        return ev.get("level", "info"), str(ev.get("message", ""))
    if kind == "started":
        what = "resumed" if ev.get("resumed") else "started"
        params = ev.get("parameters")
        extra = f", {params:,} parameters" if isinstance(params, int) else ""
        start = f" from step {s}" if ev.get("resumed") else ""
        noise = test_size_note(ev.get("test_size"))
        return "info", (f"{what} {ev.get('title') or ev.get('method', '')} on {ev.get('dataset', '')}"
                        f"{start} · {ev.get('device', '')} · {ev.get('total_steps', '?')} steps{extra}"
                        + (f" · kNN {noise}" if noise else ""))
    if kind == "finished":
        seconds = _num(ev.get("seconds"))
        took = f" in {format_duration(seconds)}" if seconds is not None else ""
        parts = [f"{'stopped' if ev.get('stopped') else 'finished'}{took} at step {s}"]
        if "knn_top1" in ev:
            parts.append(f"kNN {_pct(ev['knn_top1'])} (best {_pct(ev.get('knn_best'))})")
        if "linear_top1" in ev:
            parts.append(f"linear probe {_pct(ev['linear_top1'])}")
        if ev.get("message"):
            parts.append(str(ev["message"]))
        return "info", " · ".join(parts)
    if kind == "failed":
        detail = str(ev.get("detail") or "").strip()
        last = f" ({detail.splitlines()[-1]})" if detail else ""
        return "error", f"failed at step {s}: {ev.get('message', '')}{last}"
    if kind == "checkpoint":
        return "info", f"checkpoint {ev.get('path', '')} at step {s}"
    if kind == "paused":
        return "info", f"paused at step {s}"
    if kind == "resumed":
        return "info", f"resumed at step {s}"
    if kind == "eval":
        scores = ev.get("scores") if isinstance(ev.get("scores"), dict) else {}
        measures = ev.get("measures") if isinstance(ev.get("measures"), dict) else {}
        scored = ", ".join(filter(None, [scores_text(scores),
                                         ", ".join(f"{k} {_num(v):.4g}" for k, v in measures.items()
                                                   if _num(v) is not None)]))
        notes = coverage_notes(ev.get("coverage") if isinstance(ev.get("coverage"), dict) else {})
        if notes:
            scored += " (" + "; ".join(notes) + ")"
        if "linear_top1" in ev and "knn_top1" not in ev:
            return "info", f"linear probe top-1 {_pct(ev['linear_top1'])}" + (f" · {scored}" if scored else "")
        if "knn_top1" not in ev and "collapse_std_ratio" not in ev and scored:
            return "info", f"eval at step {s}: {scored}"
        if "knn_top1" not in ev:  # text: word scores and collapse, no labels for kNN
            return "info", (f"eval at step {s}: {scored + ', ' if scored else ''}std ratio "
                            f"{ev.get('collapse_std_ratio', '–')}, eff. rank {ev.get('effective_rank', '–')}")
        return "info", (f"eval at step {s}: kNN {_pct(ev.get('knn_top1'))} (best {_pct(ev.get('knn_best'))}),"
                        f" std ratio {ev.get('collapse_std_ratio', '–')},"
                        f" eff. rank {ev.get('effective_rank', '–')}" + (f" · {scored}" if scored else "")
                        + _diagnostics_text(ev.get("diagnostics")))
    return None


def _diagnostics_text(diag) -> str:
    """RankMe, alignment and uniformity of an eval event (workbench.diagnostics), for its log line."""
    if not isinstance(diag, dict):
        return ""
    names = (("rankme", "RankMe"), ("alignment", "alignment"), ("uniformity", "uniformity"))
    return "".join(f" · {label} {diag[key]}" for key, label in names if key in diag)
