"""Train every image, sequence and text method under one CPU budget, score it against its floors, write docs/BENCHMARKS.md.

Each method registered for image, sequence or text data is trained through the real worker
(`python -m workbench.worker RUN_DIR`, the process the GUI and the CLI start) for the same
epochs, backbone, seed, device and threads, with the method's preferred batch size and learning
rate (what `ssl-workbench train` gives it). Colour-only methods (input_channels == (3,)) train on
`shapes`, the rest on `mnist5k`, sequence methods on `signals`, text methods on `lee`. Every
run is then scored by workbench.assess.evaluate_run, which measures the raw-pixel and
random-init floors in the same call (text: WordSim-353 / SimLex-999 ρ of the word vectors and
of random-init ones; sequences: the raw signal), and Method.measures (NLL, perplexity,
masked-word or zero-shot accuracy) with their floors. One figure decides whether a method beats
its floor (`verdict`): its own measure when it has one, else kNN against random init, else ρ
against random init outside ρ's noise band. A method that fails to load, train or evaluate gets
a "failed" row with the reason; the others go on. Exits 1 when a method failed or does not beat
its floor.

    python bench/methods.py --threads 1                       # every method, 2 epochs
    python bench/methods.py --methods autoencoder,rotation --epochs 1 --out /tmp/b.md
    python bench/methods.py --methods lstm_lm,bert_lite,word2vec --epochs 2 --threads 1
    python bench/methods.py --render-from a.json b.json  # one section from runs saved with --json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

import torch  # noqa: E402

from workbench.assess import evaluate_run  # noqa: E402
from workbench.config import new_run_config, validate  # noqa: E402
from workbench.events import read_events  # noqa: E402
from workbench.registry import discover  # noqa: E402
from workbench.verdict import (Verdict, judge, lower_is_better, own_floors,  # noqa: E402,F401
                               rho_noise)
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
    rho: float | None = None  # text: WordSim-353 Spearman ρ of the word vectors
    simlex: float | None = None
    random_rho: float | None = None
    rho_pairs: int = 0  # the WordSim-353 pairs in the vocabulary: how far ρ can be trusted
    measures: dict = field(default_factory=dict)  # Method.measures of the model, headline first
    random_measures: dict = field(default_factory=dict)  # the same of the random-init model
    seconds: float | None = None
    load: str = ""  # the 1-minute load average when the method's run ended
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


def measure_floors(measures: dict, random_measures: dict) -> tuple[str, float, tuple[str, float] | None,
                                                                   float | None, bool]:
    """(headline label, its value, the method's own floor as (label, value) or None, the random-init
    value of the headline, whether the headline beats its floor). The headline is the first
    measure; the own floor is the second when it is the same quantity (the labels end alike:
    "… perplexity", "… NLL (nats/image)") and the random-init model has the same value (it reads
    no weights: the unigram model, independent pixels, the most frequent word); a chance-level
    zero-shot factor equal in both models is no floor. A measure with a
    floor of its own is judged against that floor (the issue's "NLL below the independent-pixels
    baseline", "perplexity below the unigram baseline"), one without against random init."""
    (label, value), *rest = measures.items()
    own = rest[0] if (rest and random_measures.get(rest[0][0]) == rest[0][1]
                      and rest[0][0].split()[-1] == label.split()[-1]) else None
    random = random_measures.get(label)
    floor = own[1] if own else random
    if floor is None:
        return label, value, own, random, False
    return label, value, own, random, value < floor if lower_is_better(label) else value > floor


def verdict(row: Row) -> Verdict:
    """The shared judge (workbench.verdict.judge) on a row: the method's own measures, else kNN,
    else WordSim-353 ρ outside its noise band."""
    return judge(row.measures, row.random_measures, row.knn, row.random_knn, row.rho, row.random_rho,
                 row.rho_pairs)


def verdict_cell(v: Verdict) -> str:
    return {True: "yes", False: "**no**", None: "**within noise**"}[v.beats]


def scored_methods(wanted: list[str] | None) -> tuple[list[tuple[str, type]], list[Row]]:
    """(name, class) of every loadable image and text method (or of `wanted`), and failed rows for
    the plugins that did not load or were asked for but train on neither (e.g. sequences)."""
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
              or entry.cls.modality == "text"):
            ok.append((name, entry.cls))
        elif wanted:
            failed.append(Row(name, error="not an image, sequence or text method", stage="load"))
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
        # the per-factor probes are not in the table, and on shapes' raw pixels they cost minutes
        r = evaluate_run(run_dir, args.checkpoint, linear=True, floors=True, device=args.device, factors=False)
    except Exception as exc:  # one broken method must not stop the others; the row says why
        row.error = str(exc) or type(exc).__name__
        return row
    row.stage = ""
    row.load = load_average()
    row.measures = r.get("measures", {})
    row.random_measures = r.get("floor_random_init", {}).get("measures", {})
    if "floor_raw_pixels" not in r:  # text: word benchmarks, no kNN
        model, rnd = r["model"], r.get("floor_random_init", {})
        row.rho, row.simlex, row.random_rho = model.get("wordsim353_rho"), model.get("simlex999_rho"), \
            rnd.get("wordsim353_rho")
        row.rho_pairs = (model.get("wordsim353_pairs") or [0])[0]
        row.beats_floor = verdict(row).beats
        row.extra = {"checkpoint": r["checkpoint"], "epoch": r["epoch"], "model": model}
        return row
    model, raw, rnd = r["model"], r["floor_raw_pixels"], r["floor_random_init"]
    row.knn, row.linear = model["knn_top1"], model.get("linear_top1")
    row.raw_knn, row.raw_linear = raw["knn_top1"], raw.get("linear_top1")
    row.random_knn, row.random_linear = rnd["knn_top1"], rnd.get("linear_top1")
    row.beats_floor = verdict(row).beats
    row.extra = {"checkpoint": r["checkpoint"], "epoch": r["epoch"], "collapse": r["collapse"]}
    return row


def below_a_floor(row: Row) -> bool:
    """Whether a scored row does not beat its floor: below it, or within noise of it (verdict)."""
    return verdict(row).beats is not True


def pct(v: float | None) -> str:
    return "–" if v is None or v != v else f"{100 * v:.1f} %"


def num(v: float | None) -> str:
    return "–" if v is None or v != v else f"{v:.4g}"


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


def command_line(methods: str | None, epochs: int, threads: int) -> str:
    return (f"python bench/methods.py{' --methods ' + methods if methods else ''}"
            f" --epochs {epochs}{f' --threads {threads}' if threads else ''}")


def utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def run_info(args, machine: str, started: float, ended: float, load: str) -> dict:
    """What the JSON and the section's header say about one benchmark run: its command, settings,
    machine, start and end (Unix time, UTC) and the 1-minute load average at its start and end."""
    threads = getattr(args, "threads", 0)
    return {"command": command_line(args.methods, args.epochs, threads), "methods": args.methods,
            "epochs": args.epochs, "threads": threads, "backbone": args.backbone, "seed": args.seed,
            "checkpoint": args.checkpoint, "machine": machine, "started": started, "ended": ended,
            "seconds": round(ended - started, 1), "load": load}


def _run_line(run: dict) -> str:
    """'`command`: 2026-12-03 11:00 UTC – 11:40 UTC (40.0 min), 2 epochs, 1 thread, load 2.1 / 5.3; machine'."""
    threads = run.get("threads")
    settings = [f"{run['epochs']} epoch{'s' if run['epochs'] != 1 else ''}" if run.get("epochs") else
                "epochs not recorded",
                f"{threads} thread{'s' if threads != 1 else ''}" if threads else "torch's default threads"]
    span = f"{utc(run['started'])} – {utc(run['ended'])[11:]}" if run.get("started") else "time not recorded"
    return (f"`{run['command']}`: {span}{run.get('time_note', '')} ({run['seconds'] / 60:.1f} min), "
            f"{', '.join(settings)}, 1-minute load average at start and end {run.get('load') or 'unknown'}; "
            f"{run['machine']}")


def render(rows: list[Row], args, machine: str, total_s: float, load: str = "unknown",
           runs: list[dict] | None = None) -> str:
    """The Methods section (between the markers) as markdown; `runs` (run_info of each run the rows
    come from, --render-from) names every run in the header, else this one run is named."""
    if not runs:
        now = time.time()
        runs = [run_info(args, machine, now - total_s, now, load)]
    one = len(runs) == 1
    epochs = {r.get("epochs") for r in runs}
    epochs_text = (f"for {runs[0]['epochs']} epoch{'s' if runs[0]['epochs'] != 1 else ''}" if len(epochs) == 1
                   and runs[0].get("epochs") else "for the epochs named per run below")
    if one:
        run = runs[0]
        intro = (f"`{run['command']}` trained "
                 f"{'the methods below' if run.get('methods') else 'every image, sequence and text method in the registry'} ")
    else:
        intro = (f"The rows come from {len(runs)} runs of `bench/methods.py`, listed below (where two runs have a row "
                 f"for the same method, the later run's is shown), which trained the methods ")
    lines = [
        BEGIN,
        "## Methods",
        "",
        f"{intro}{epochs_text} on the `{args.backbone}` backbone (seed {args.seed}) "
        f"through the real worker, with each method's preferred batch size and learning rate; "
        f"methods that need colour on `{COLOUR_DATASET}` (label: the shape, 4 classes), the rest "
        f"on `{GREY_DATASET}` (10 digits), sequence methods on `{SEQUENCE_DATASET}` (6 waveforms; "
        f"its raw floor is the raw signal), text methods on `{TEXT_DATASET}`. Each run is scored with "
        f"`workbench.assess.evaluate_run` (what `ssl-workbench eval` prints) on its `{args.checkpoint}` checkpoint"
        f"{' (the end of training, not the epoch with the best test kNN that `eval` picks by default)' if args.checkpoint == 'last' else ''}"
        f": weighted cosine kNN top-1 (k = 20) and a logistic-regression linear probe on the frozen "
        f"features, next to two floors measured in the same call: the raw pixels, and "
        f"the same method and settings at random init (seed 0, the floor the dashboard draws) seen "
        f"through the method's own `embed`. \"Beats floor\" rests on the figures named in \"decided by\": a method's own "
        f"measures when it has them (test NLL below the independent-pixels model, perplexity below the "
        f"unigram model, masked-word accuracy above the most frequent word's, each one with a floor of "
        f"its own beaten; zero-shot accuracy above random init), otherwise kNN top-1 above random "
        f"init, and for text without a measure WordSim-353 ρ above random-init vectors by more than "
        f"ρ's 95 % noise band (\"within noise\" is not a pass). Seconds are the worker's wall time "
        f"(start, data, training, per-epoch kNN); img/s is the training throughput from its epoch "
        f"events; load is the 1-minute load average when the method's run ended.",
        "",
    ]
    if one:
        lines += [f"Machine: {runs[0]['machine']}. Measured {utc(runs[0]['ended'])}; the whole benchmark took "
                  f"{runs[0]['seconds'] / 60:.1f} min (1-minute load average at start and end: "
                  f"{runs[0].get('load') or 'unknown'}).", ""]
    else:
        lines += ["Runs:", ""] + [f"{i}. {_run_line(r)}" for i, r in enumerate(runs, 1)] + [""]
    lines += [
        "| method | dataset | batch | kNN top-1 | linear top-1 | raw pixels kNN / linear "
        "| random init kNN / linear | beats floor | decided by | seconds | img/s | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def failed(r: Row) -> str:
        reason = r.error.replace("|", "\\|").replace("\n", " ")
        return (f"| `{r.method}` | {r.dataset or '–'} | {r.batch_size or '–'} "
                f"| failed ({r.stage}): {reason} | | | | | | | | |")

    text = [r for r in rows if r.dataset == TEXT_DATASET]
    for r in rows:
        if r in text:
            continue  # in the text table below
        if r.error:
            lines.append(failed(r))
            continue
        v = verdict(r)
        lines.append(
            f"| `{r.method}` | {r.dataset} | {r.batch_size} | {pct(r.knn)} | {pct(r.linear)} "
            f"| {pct(r.raw_knn)} / {pct(r.raw_linear)} | {pct(r.random_knn)} / {pct(r.random_linear)} "
            f"| {verdict_cell(v)} | {v.decided_by} | {r.seconds:.0f} | {r.img_s:.0f} | {r.load or '–'} |")
    if text:
        lines += ["", f"Text methods on `{TEXT_DATASET}` (the word vectors are the representation): "
                  "Spearman ρ of their cosine similarities against WordSim-353 and SimLex-999 over the "
                  "pairs in the vocabulary, next to random-init vectors of the same method and seed; "
                  "± is ρ's 95 % noise band over that many pairs. words/s is the training throughput.", "",
                  "| method | dataset | batch | WordSim-353 ρ | random init ρ | SimLex-999 ρ | beats floor "
                  "| decided by | seconds | words/s | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in text:
            if r.error:
                lines.append(failed(r)[:-2])  # one column fewer than the image table
                continue
            v = verdict(r)
            band = f" ± {rho_noise(r.rho_pairs):.2f} ({r.rho_pairs} pairs)" if r.rho is not None and r.rho_pairs else ""
            lines.append(f"| `{r.method}` | {r.dataset} | {r.batch_size} | {num(r.rho)}{band} | {num(r.random_rho)} "
                         f"| {num(r.simlex)} | {verdict_cell(v)} | {v.decided_by} | {r.seconds:.0f} "
                         f"| {r.img_s:.0f} | {r.load or '–'} |")
    measured = [r for r in rows if not r.error and r.measures]
    if measured:
        lines += ["", "Methods with measures of their own (`Method.measures`: an exact likelihood or "
                  "perplexity, masked-word or zero-shot accuracy on the test split), the first of them "
                  "the headline, beside its floors: the method's own (a model that reads no weights: "
                  "independent pixels, unigram words, the most frequent word) and the same method with "
                  "random-init weights. NLL and perplexity: lower is better; accuracies: higher.", "",
                  "| method | dataset | measure | model | its own floor | random init | other measures |",
                  "|---|---|---|---|---|---|---|"]
        for r in measured:
            label, value, own, random, _ = measure_floors(r.measures, r.random_measures)
            others = ", ".join(f"{k} {v:.4g}" for k, v in r.measures.items()
                               if k != label and (own is None or k != own[0]))
            lines.append(f"| `{r.method}` | {r.dataset} | {label} | {value:.4g} "
                         f"| {f'{own[1]:.4g} ({own[0]})' if own else '–'} | {num(random)} | {others or '–'} |")
    lines += [END]
    return "\n".join(lines) + "\n"


def read_run(path: Path) -> tuple[dict, list[Row]]:
    """(run_info, rows) of a --json file. Files written before the run was recorded hold only the
    machine and the seconds: their end is the file's time, their threads come from the machine
    line, their epochs from the rows' checkpoints and their load from the rows' (said so)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(Row)}
    rows = [Row(**{k: v for k, v in r.items() if k in known}) for r in data.get("rows", [])]
    if "run" in data:
        return data["run"], rows
    ended = path.stat().st_mtime
    threads = re.search(r"with (\d+) thread", data.get("machine", ""))
    epochs = {r.extra.get("epoch") for r in rows if not r.error and r.extra.get("epoch")}
    loads = sorted(float(r.load) for r in rows if re.fullmatch(r"[\d.]+", r.load or ""))
    methods = ",".join(r.method for r in rows)
    run = {"command": command_line(methods, max(epochs) if epochs else 0, int(threads[1]) if threads else 0),
           "methods": methods, "epochs": max(epochs) if len(epochs) == 1 else None,
           "threads": int(threads[1]) if threads else 0, "machine": data.get("machine", "machine not recorded"),
           "started": ended - data.get("seconds", 0), "ended": ended, "seconds": data.get("seconds", 0),
           "time_note": " (end from the file's time)",
           "load": f"not recorded; {loads[0]:.1f}–{loads[-1]:.1f} when its methods ended" if loads else None}
    return run, rows


def merge_runs(runs: list[tuple[dict, list[Row]]], order: list[str]) -> list[Row]:
    """Every method's row from the runs, a later run's row replacing an earlier one's, in `order`
    (registry order; methods not in it last, by name)."""
    latest: dict[str, Row] = {}
    for _, rows in runs:
        for row in rows:
            latest[row.method] = row
    rank = {name: i for i, name in enumerate(order)}
    return sorted(latest.values(), key=lambda r: (rank.get(r.method, len(rank)), r.method))


def render_from(paths: list[Path], out: Path, order: list[str]) -> list[Row]:
    """Write the section from saved --json files (merge_runs), naming each run; returns the rows."""
    runs = sorted((read_run(p) for p in paths), key=lambda run: run[0].get("ended") or 0)
    rows = merge_runs(runs, order)
    first = runs[0][0] if runs else {}
    settings = argparse.Namespace(methods=None, epochs=first.get("epochs") or 0, threads=first.get("threads", 0),
                                  backbone=first.get("backbone", "small_cnn"), seed=first.get("seed", 0),
                                  checkpoint=first.get("checkpoint", "last"))
    infos = [info for info, _ in runs]
    write_section(out, render(rows, settings, first.get("machine", ""), 0.0, runs=infos))
    return rows


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
    p.add_argument("--methods", help="comma-separated subset (default: every image and text method)")
    p.add_argument("--epochs", type=int, default=2)
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
    p.add_argument("--render-from", type=Path, nargs="+", metavar="JSON",
                   help="train nothing: write the section from rows saved by earlier --json runs (registry "
                        "order; a later run's row for the same method replaces an earlier one's)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.render_from:
        missing = [str(f) for f in args.render_from if not f.is_file()]
        if missing:
            p.error(f"no such file: {', '.join(missing)}")
        rows = render_from(args.render_from, args.out, sorted(discover()))
        below = [r.method for r in rows if not r.error and below_a_floor(r)]
        failed = [r.method for r in rows if r.error]
        print(f"{len(rows)} rows from {len(args.render_from)} runs{', below floor: ' + ', '.join(below) if below else ''}"
              f"{', failed: ' + ', '.join(failed) if failed else ''}; wrote {args.out}", flush=True)
        return 1 if failed or below else 0
    if args.threads:  # the scoring runs here, in this process: it keeps to the same threads as training
        torch.set_num_threads(args.threads)
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    methods, rows = scored_methods(wanted)
    for r in rows:
        print(f"skip {r.method}: {r.error}", flush=True)
    machine = machine_line(args)
    print(f"{len(methods)} method(s), {args.epochs} epoch(s) each on {args.backbone}; {machine}", flush=True)
    t0, load_start, started = time.perf_counter(), load_average(), time.time()
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
            elif row.dataset == TEXT_DATASET:
                print(f"    WordSim ρ {num(row.rho)} (random init {num(row.random_rho)}), {row.measures or ''} "
                      f"{row.seconds:.0f} s, load {row.load}{'  BELOW A FLOOR' if below_a_floor(row) else ''}",
                      flush=True)
            else:
                print(f"    kNN {pct(row.knn)} (random init {pct(row.random_knn)}, pixels {pct(row.raw_knn)}), "
                      f"linear {pct(row.linear)}, {row.seconds:.0f} s, {row.img_s:.0f} img/s"
                      f"{'  BELOW A FLOOR' if below_a_floor(row) else ''}", flush=True)
    total = time.perf_counter() - t0
    order = {name: i for i, (name, _) in enumerate(methods)}
    rows.sort(key=lambda r: order.get(r.method, len(order)))  # registry order; unloadable ones last
    run = run_info(args, machine, started, time.time(), f"{load_start} / {load_average()}")
    write_section(args.out, render(rows, args, machine, total, run["load"], runs=[run]))
    if args.json:  # --render-from reads these back: the run (times, settings, load) and its rows
        args.json.write_text(json.dumps({"machine": machine, "seconds": round(total, 1), "run": run,
                                         "rows": [asdict(r) for r in rows]}, indent=2))
    below = [r.method for r in rows if not r.error and below_a_floor(r)]
    failed = [r.method for r in rows if r.error]
    print(f"done in {total / 60:.1f} min: {len(rows) - len(failed)} scored, {len(failed)} failed"
          f"{', below floor: ' + ', '.join(below) if below else ''}; wrote {args.out}", flush=True)
    return 1 if failed or below else 0


if __name__ == "__main__":
    sys.exit(main())
