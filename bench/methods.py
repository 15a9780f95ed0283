"""Train every image method under one CPU budget, score it against its floors, write docs/BENCHMARKS.md.

Each method registered for image data is trained through the real worker
(`python -m workbench.worker RUN_DIR`, the process the GUI and the CLI start) for the same
epochs, backbone, seed, device and threads, with the method's preferred batch size and learning
rate (what `ssl-workbench train` gives it). Colour-only methods (input_channels == (3,)) train on
`shapes`, the rest on `mnist5k`; sequence methods on `signals`. Every run is then scored by workbench.assess.evaluate_run, which
measures the raw-pixel and random-init floors in the same call. A method that fails to load,
train or evaluate gets a "failed" row with the reason; the others go on.

    python bench/methods.py                                   # every image method, 3 epochs
    python bench/methods.py --methods autoencoder,rotation --epochs 1 --out /tmp/b.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

import torch  # noqa: E402

from workbench.api import Method  # noqa: E402
from workbench.assess import evaluate_run  # noqa: E402
from workbench.config import new_run_config, validate  # noqa: E402
from workbench.events import read_events  # noqa: E402
from workbench.registry import discover  # noqa: E402
from workbench.runs import create_run_dir  # noqa: E402

BEGIN = "<!-- bench/methods.py: begin (generated; edit the script, not this section) -->"
END = "<!-- bench/methods.py: end -->"
GREY_DATASET, COLOUR_DATASET, TEXT_DATASET = "mnist5k", "shapes", "lee"
SEQUENCE_DATASET = "signals"  # sequence methods (label: the waveform, 6 classes)


@dataclass
class Row:
    """One method's line of the table; `error` set means it failed at `stage`."""

    method: str
    dataset: str = ""
    batch_size: int | None = None
    knn: float | None = None
    linear: float | None = None
    raw_knn: float | None = None
    raw_linear: float | None = None
    random_knn: float | None = None
    random_linear: float | None = None
    beats_floor: bool | None = None
    seconds: float | None = None
    img_s: float | None = None
    run_dir: str = ""
    error: str = ""
    stage: str = ""
    extra: dict = field(default_factory=dict)


def dataset_for(cls) -> str:
    """shapes for methods that need colour, mnist5k for every other image method, signals for
    sequences, lee for text."""
    if cls.modality == "text":
        return TEXT_DATASET
    if cls.modality == "sequence":
        return SEQUENCE_DATASET
    return COLOUR_DATASET if 1 not in tuple(cls.input_channels) else GREY_DATASET


def has_measures(cls) -> bool:
    """Whether the method reports its own measures (a likelihood beside its floor)."""
    return cls.measures is not Method.measures


def lower_is_better(label: str) -> bool:
    return "NLL" in label or "perplexity" in label


def image_methods(wanted: list[str] | None) -> tuple[list[tuple[str, type]], list[Row]]:
    """(name, class) of every loadable image method (or of `wanted`), and failed rows for
    the plugins that did not load or were asked for but are not image methods."""
    entries = discover(refresh=True)
    names = wanted if wanted else sorted(entries)
    ok, failed = [], []
    for name in names:
        entry = entries.get(name)
        if entry is None:
            failed.append(Row(name, error="not registered", stage="load"))
        elif entry.cls is None:
            failed.append(Row(name, error=entry.error or "failed to load", stage="load"))
        elif (entry.cls.accepts("image") or entry.cls.modality == "sequence"
              or (entry.cls.modality == "text" and has_measures(entry.cls))):
            ok.append((name, entry.cls))  # text methods with measures: scored on them alone
        elif wanted:
            failed.append(Row(name, error="not an image method", stage="load"))
    return ok, failed


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def train(name: str, cls, dataset: str, args, runs_root: Path) -> tuple[Path, dict]:
    """Train one method in a worker process; returns (run dir, timing) or raises RuntimeError."""
    explicit = dict(epochs=args.epochs, backbone=args.backbone, seed=args.seed, device=args.device,
                    threads=args.threads, batch_size=args.batch_size, linear_probe=False)
    run = new_run_config(name, dataset, cls.run_defaults, **explicit)  # linear probe: evaluate_run does it
    validate(run)
    run_dir = create_run_dir(run, path=runs_root / f"{name}-{dataset}")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "workbench.worker", str(run_dir)], cwd=ROOT,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, timeout=args.timeout or None)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {args.timeout:.0f} s") from None
    wall = time.perf_counter() - start
    events = list(read_events(run_dir))
    failed = [e for e in events if e["type"] == "failed"]
    if failed:
        raise RuntimeError(failed[-1].get("message", "training failed"))
    if proc.returncode != 0 or not any(e["type"] == "finished" for e in events):
        raise RuntimeError(last_line(proc.stderr) or f"worker exited with code {proc.returncode}")
    epochs = [e for e in events if e["type"] == "epoch"]
    train_s = sum(e["seconds"] for e in epochs)
    images = sum(e["img_s"] * e["seconds"] for e in epochs)
    return run_dir, {"seconds": round(wall, 1), "img_s": round(images / max(train_s, 1e-9), 1),
                     "batch_size": run.batch_size}


def bench_one(name: str, cls, args, runs_root: Path) -> Row:
    row = Row(name, dataset=dataset_for(cls))
    try:
        row.stage = "train"
        run_dir, timing = train(name, cls, row.dataset, args, runs_root)
        row.run_dir, row.seconds, row.img_s = str(run_dir), timing["seconds"], timing["img_s"]
        row.batch_size = timing["batch_size"]
        row.stage = "eval"
        r = evaluate_run(run_dir, args.checkpoint, linear=True, floors=True, device=args.device)
    except Exception as exc:  # one broken method must not stop the others; the row says why
        row.error = str(exc) or type(exc).__name__
        return row
    row.stage = ""
    if r.get("measures"):  # (model, floor) of the method's own measure: the first two entries
        (label, value), (floor_label, floor) = list(r["measures"].items())[:2]
        row.extra["measures"] = r["measures"]
        row.beats_floor = value < floor if lower_is_better(label) else value > floor
    if "floor_raw_pixels" not in r:  # text: word benchmarks, no kNN
        row.extra["model"] = r.get("model")
        return row
    model, raw, rnd = r["model"], r["floor_raw_pixels"], r["floor_random_init"]
    row.knn, row.linear = model["knn_top1"], model.get("linear_top1")
    row.raw_knn, row.raw_linear = raw["knn_top1"], raw.get("linear_top1")
    row.random_knn, row.random_linear = rnd["knn_top1"], rnd.get("linear_top1")
    if "measures" not in row.extra:
        row.beats_floor = bool(r["beats_random_init"])
    row.extra = {"checkpoint": r["checkpoint"], "epoch": r["epoch"], "collapse": r["collapse"]}
    # the method's own measures (Method.extra_metrics, e.g. CLIP's zero-shot), beside their floor
    row.extra["own"] = {k: (v, rnd.get(k)) for k, v in model.items() if k.startswith("zero_shot")}
    return row


def pct(v: float | None) -> str:
    return "–" if v is None or v != v else f"{100 * v:.1f} %"


def machine_line(args) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = args.threads or torch.get_num_threads()
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} on {args.device} "
            f"with {threads} thread{'s' if threads != 1 else ''}, Python {platform.python_version()}")


def load_average() -> str:
    """The 1-minute load average: timings taken on a busy machine are slower and noisier."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # not available on this platform
        return "unknown"


def render(rows: list[Row], args, machine: str, total_s: float, load: str = "unknown") -> str:
    """The Methods section (between the markers) as markdown."""
    when = time.strftime("%Y-%m-%d")
    lines = [
        BEGIN,
        "## Methods",
        "",
        f"`python bench/methods.py{' --methods ' + args.methods if args.methods else ''}"
        f"{' --epochs ' + str(args.epochs) if args.epochs != 3 else ''}` trained "
        f"{'the image methods below' if args.methods else 'every image method in the registry'} "
        f"for {args.epochs} epoch"
        f"{'s' if args.epochs != 1 else ''} on the `{args.backbone}` backbone (seed {args.seed}) "
        f"through the real worker, with each method's preferred batch size and learning rate; "
        f"methods that need colour on `{COLOUR_DATASET}` (label: the shape, 4 classes), the rest "
        f"on `{GREY_DATASET}` (10 digits), sequence methods on `{SEQUENCE_DATASET}` (6 waveforms; "
        f"its raw floor is the raw signal). Each run is scored with `workbench.assess.evaluate_run` "
        f"(what `ssl-workbench eval` prints) on its `{args.checkpoint}` checkpoint"
        f"{' (the end of training, not the epoch with the best test kNN that `eval` picks by default)' if args.checkpoint == 'last' else ''}"
        f": weighted "
        f"cosine kNN top-1 (k = 20) and a logistic-regression linear probe on the frozen "
        f"features, next to two floors measured in the same call: the raw pixels, and a "
        f"random-init encoder of the same architecture and seed seen through the method's own "
        f"`embed`. \"Beats floor\" compares kNN with the random-init floor. Seconds are the "
        f"worker's wall time (start, data, training, per-epoch kNN); img/s is the training "
        f"throughput from its epoch events.",
        "",
        f"Machine: {machine}. Measured {when}; the whole benchmark took {total_s / 60:.1f} min "
        f"(1-minute load average at start and end: {load}).",
        "",
        "| method | dataset | batch | kNN top-1 | linear top-1 | raw pixels kNN / linear "
        "| random init kNN / linear | beats floor | seconds | img/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r.error and "measures" in r.extra:
            continue  # in the likelihood table below
        if r.error:
            reason = r.error.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{r.method}` | {r.dataset or '–'} | {r.batch_size or '–'} "
                         f"| failed ({r.stage}): {reason} | | | | | | |")
            continue
        beats = "yes" if r.beats_floor else "**no**"
        lines.append(
            f"| `{r.method}` | {r.dataset} | {r.batch_size} | {pct(r.knn)} | {pct(r.linear)} "
            f"| {pct(r.raw_knn)} / {pct(r.raw_linear)} | {pct(r.random_knn)} / {pct(r.random_linear)} "
            f"| {beats} | {r.seconds:.0f} | {r.img_s:.0f} |")
    own = [f"`{r.method}` {k} {pct(v)} (random init {pct(f)})"
           for r in rows if not r.error for k, (v, f) in r.extra.get("own", {}).items()]
    if own:
        lines += ["", "Methods' own measures: " + "; ".join(own) + "."]
    measured = [r for r in rows if not r.error and "measures" in r.extra]
    if measured:
        lines += ["", "Methods with their own measure (an exact likelihood or perplexity on the test "
                  "split) are scored on it against their floor (independent pixels, unigram words), "
                  "lower is better; kNN is shown where the data has labels.", "",
                  "| method | dataset | batch | measure | model | floor | beats floor | kNN top-1 | seconds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in measured:
            (label, value), (floor_label, floor) = list(r.extra["measures"].items())[:2]
            lines.append(f"| `{r.method}` | {r.dataset} | {r.batch_size} | {label} | {value:.4g} "
                         f"| {floor:.4g} ({floor_label}) | {'yes' if r.beats_floor else '**no**'} "
                         f"| {pct(r.knn)} | {r.seconds:.0f} |")
    lines += [
        "",
        "Image and sequence methods, and text methods with a measure of their own, are in these "
        "tables: the other text methods (e.g. word2vec) are scored on word benchmarks and are "
        "out of their scope.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the text between our markers (or append it), keeping the rest of the file."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        text = text[:start] + section.rstrip("\n") + text[end + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", help="comma-separated subset (default: every image method)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--backbone", default="small_cnn", choices=("small_cnn", "resnet18", "mlp"))
    p.add_argument("--batch-size", type=int, default=None,
                   help="one batch size for all (default: each method's preferred one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--checkpoint", default="last", help="which checkpoint to score: last (default) or best")
    p.add_argument("--timeout", type=float, default=0, help="seconds per method before it counts as failed (0 = none)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    p.add_argument("--json", type=Path, help="also write every row as JSON here")
    p.add_argument("--runs-root", type=Path, help="keep the runs here (default: a temporary folder)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    methods, rows = image_methods(wanted)
    for r in rows:
        print(f"skip {r.method}: {r.error}", flush=True)
    machine = machine_line(args)
    print(f"{len(methods)} image method(s), {args.epochs} epoch(s) each on {args.backbone}; {machine}", flush=True)
    t0, load_start = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory(prefix="bench-methods-") as tmp:
        # a fresh folder per benchmark, so kept runs never collide with an earlier one's
        runs_root = args.runs_root / time.strftime("%Y%m%d-%H%M%S") if args.runs_root else Path(tmp)
        runs_root.mkdir(parents=True, exist_ok=True)
        for i, (name, cls) in enumerate(methods, 1):
            print(f"[{i}/{len(methods)}] {name} on {dataset_for(cls)} ...", flush=True)
            row = bench_one(name, cls, args, runs_root)
            rows.append(row)
            if row.error:
                print(f"    failed ({row.stage}): {row.error}", flush=True)
            else:
                print(f"    kNN {pct(row.knn)} (random init {pct(row.random_knn)}, pixels {pct(row.raw_knn)}), "
                      f"linear {pct(row.linear)}, {row.seconds:.0f} s, {row.img_s:.0f} img/s"
                      f"{'' if row.beats_floor else '  BELOW THE RANDOM-INIT FLOOR'}", flush=True)
    total = time.perf_counter() - t0
    order = {name: i for i, (name, _) in enumerate(methods)}
    rows.sort(key=lambda r: order.get(r.method, len(order)))  # registry order; unloadable ones last
    write_section(args.out, render(rows, args, machine, total, f"{load_start} / {load_average()}"))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "seconds": round(total, 1),
                                         "rows": [asdict(r) for r in rows]}, indent=2))
    below = [r.method for r in rows if not r.error and not r.beats_floor]
    failed = [r.method for r in rows if r.error]
    print(f"done in {total / 60:.1f} min: {len(rows) - len(failed)} scored, {len(failed)} failed"
          f"{', below floor: ' + ', '.join(below) if below else ''}; wrote {args.out}", flush=True)
    return 1 if failed or below else 0


if __name__ == "__main__":
    sys.exit(main())
