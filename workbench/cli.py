"""The `ssl-workbench` command: methods, datasets, validate, train, resume, eval, export, compare, health, floors, sweep, gui."""
from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .config import ConfigError, RunConfig, absolute_data_root, apply_overrides, load_run_config, \
    new_run_config, save_run_config, validate, method_config
from .backbone_rules import BACKBONES
from .data import DataError

USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, DataError, CheckpointError)


class UserError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + error
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _user_errors() -> tuple[type[Exception], ...]:
    from .export import ExportError
    from .registry import UnknownMethod
    from .rundir import RunDirError
    return USER_ERRORS + (ExportError, UnknownMethod, RunDirError)


# --- listing -----------------------------------------------------------------------------
def cmd_methods(args) -> int:
    from .registry import discover
    rows = discover()
    if not rows:
        print("no methods are registered (is the package installed? try `pip install -e .`)")
        return 1
    width = max(len(n) for n in rows)
    for name, entry in rows.items():
        if entry.ok:
            c = entry.cls
            print(f"{name:<{width}}  {c.family:<15}  {c.title} — {c.summary}  [{c.reference}]")
        else:
            print(f"{name:<{width}}  BROKEN           {entry.error}")
    return 0


def cmd_datasets(args) -> int:
    from .data import list_datasets
    for info in list_datasets():
        where = "embedded" if info.embedded else "needs --data-root" if info.needs_root else ""
        print(f"{info.name:<13} {info.modality:<8} {where:<17} {info.title} — {info.description}")
    return 0


def cmd_validate(args) -> int:
    from .registry import discover, get_method
    from .validate import validate_method
    found = discover()
    names = list(found) if args.all else args.names
    if not names:
        raise UserError("name a method to validate, or pass --all")
    for name in names:
        if name not in found:
            get_method(name)  # raises UnknownMethod listing the methods that exist
    failed = 0
    for name in names:
        entry = found[name]
        if not entry.ok:  # a broken or refused plugin fails here; the others still run
            failed += 1
            print(f"FAIL {name}: {entry.error.removeprefix(f'{entry.name}: ')}")
            continue
        try:
            v = validate_method(name)
        except KeyboardInterrupt:
            raise
        except (Exception, SystemExit) as exc:  # a plugin exiting mid-step fails only itself
            failed += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
            continue
        previews = ", ".join(f"{k} {s[1]}×{s[0]}" for k, s in v.previews.items()) or "none"
        print(f"ok   {name}: loss {v.loss:.4f}, embedding {v.embed_shape[1]}-d, "
              f"previews: {previews} ({v.seconds:.1f} s)")
    return 1 if failed else 0


# --- training ----------------------------------------------------------------------------
class ProgressPrinter:
    """Turns events into a tqdm bar and a few readable lines on stderr."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.bar = None
        self.last = {}

    def __call__(self, ev: dict) -> None:
        from tqdm import tqdm
        kind = ev["type"]
        if kind == "started":
            if not self.quiet:
                self.bar = tqdm(total=ev["total_steps"], initial=ev["step"], unit="step",
                                desc=f"{ev['method']} on {ev['dataset']}", file=sys.stderr,
                                dynamic_ncols=True)
                processes = ev.get("world_size", 1)
                device = f"{ev['device']} × {processes} processes" if processes > 1 else ev["device"]
                self.bar.write(f"{ev['title']} on {ev['dataset']} · {device} · "
                               f"{ev['parameters']:,} parameters · {ev['epochs']} epochs × "
                               f"{ev['steps_per_epoch']} steps", file=sys.stderr)
        elif kind == "step" and self.bar is not None:
            self.bar.update(ev["step"] - self.bar.n)
            self.last.update(loss=f"{ev['loss']:.3f}", img_s=f"{ev['img_s']:.0f}")
            self.bar.set_postfix(self.last, refresh=False)
        elif kind == "eval":
            if "knn_top1" in ev:
                self.last["knn"] = f"{ev['knn_top1']:.3f}"
                self._write(f"epoch {ev['epoch']}: kNN top-1 {ev['knn_top1']:.4f} (best "
                            f"{ev['knn_best']:.4f}), effective rank {ev['effective_rank']}")
            if ev.get("scores"):
                self._write(f"epoch {ev['epoch']}: " + ", ".join(f"{k} {v:.3f}" for k, v in ev["scores"].items()))
            if "linear_top1" in ev:
                self._write(f"linear probe top-1 {ev['linear_top1']:.4f}")
            if ev.get("measures"):
                self._write(f"epoch {ev['epoch']}: " + ", ".join(f"{k} {v:.4g}" for k, v in ev["measures"].items()))
        elif kind == "log":
            self._write(f"{ev.get('level', 'info')}: {ev['message']}")
        elif kind in ("finished", "failed"):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    def _write(self, text: str) -> None:
        if self.quiet:
            return
        (self.bar.write if self.bar is not None else print)(text, file=sys.stderr)


def _run(run_dir: Path, resume: bool, quiet: bool, processes: int = 1) -> int:
    from .allocator import tune_allocator
    from .worker import run_worker
    if processes > 1:
        return _report(run_dir, _run_processes(run_dir, resume, quiet, processes))
    commands: queue.Queue = queue.Queue()

    def on_interrupt(signum, frame):
        print("\nstopping: saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)
        commands.put({"type": "stop"})
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    tune_allocator()  # this process trains: as in the worker process
    try:
        code = run_worker(run_dir, resume=resume, commands=commands, listeners=[ProgressPrinter(quiet)])
    finally:
        signal.signal(signal.SIGINT, previous)
    return _report(run_dir, code)


def _run_processes(run_dir: Path, resume: bool, quiet: bool, processes: int) -> int:
    """Train through the launcher (torch.distributed.run) and show rank 0's events, which
    arrive on its stdout; Ctrl-C sends rank 0 a stop command, which every rank obeys."""
    import os
    import subprocess
    from .events import command, decode
    from .launch import worker_command
    printer = ProgressPrinter(quiet)
    # its own session: the terminal's Ctrl-C reaches only us, and we turn it into `stop`
    proc = subprocess.Popen([sys.executable, *worker_command(run_dir, processes, resume)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def on_interrupt(signum, frame):
        print("\nstopping: saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)
        try:
            proc.stdin.write(command("stop"))
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        for line in proc.stdout:
            event = decode(line)
            if event is not None:
                printer(event)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()  # the launcher stops every rank
        proc.wait()
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)


def _report(run_dir: Path, code: int) -> int:
    """After a run: its outcome in a line or two, from its events."""
    from .events import read_events
    last = None
    for ev in read_events(run_dir):
        if ev["type"] in ("finished", "failed"):
            last = ev
    if last and last["type"] == "failed":
        print(f"error: {last['message']}", file=sys.stderr)
    elif last:
        parts = [f"{k.replace('_', ' ')} {last[k]:.4f}" for k in ("knn_top1", "knn_best", "linear_top1")
                 if isinstance(last.get(k), (int, float))]
        parts += [f"{k} {v:.4f}" for k, v in (last.get("scores") or {}).items()]  # text: word similarity
        print(f"{last['message']} in {last['seconds']:.0f} s: {run_dir}")
        if parts:
            print("  " + ", ".join(parts))
        print(f"  next: ssl-workbench eval {run_dir}   ·   ssl-workbench export {run_dir} --out emb.h5")
    return code


def _check_dataset(run: RunConfig, cls) -> None:
    from .build import check_data
    from .data import load_dataset
    from .data.prepare import progress_bar
    check_data(cls, run, load_dataset(run.dataset, root=run.data_root, image_size=run.image_size,
                                      download=run.download, progress=progress_bar()))


def cmd_train(args) -> int:
    from .registry import get_method
    from .runs import create_run_dir
    cls = get_method(args.method)
    from .recipes import find_recipe, recipe_defaults
    recipe = find_recipe(args.recipe, args.method, args.dataset) if args.recipe else None
    run_defaults, recipe_method = recipe_defaults(recipe, cls.run_defaults, {}, cls.Config)
    run = new_run_config(args.method, args.dataset, run_defaults, epochs=args.epochs,
                         batch_size=args.batch_size, device=args.device, seed=args.seed,
                         backbone=args.backbone, lr=args.lr, data_root=args.data_root,
                         image_size=args.image_size, download=args.download or None, processes=args.nproc)
    run.method_config = recipe_method  # the recipe's method settings; --set below wins over them
    apply_overrides(run, cls.Config, args.set or [])
    absolute_data_root(run)
    validate(run)
    method_config(run, cls.Config)
    from .build import pick_device
    pick_device(run.device)
    from .distributed import check_launch
    check_launch(run)
    _check_dataset(run, cls)
    for flag, folder in (("--run-dir", args.run_dir), ("--runs-root", args.runs_root)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise UserError(f"{flag} {folder} is a file, not a folder")
    try:
        run_dir = create_run_dir(run, root=args.runs_root, path=args.run_dir)
    except OSError as exc:  # permission denied, read-only or full disk: say where, in one line
        raise UserError(f"cannot create the run directory: {exc.filename or args.run_dir or args.runs_root}: "
                        f"{(exc.strerror or str(exc)).lower()}") from None
    if args.create_only:  # e.g. to train it under your own torchrun or SLURM line
        print(run_dir)
        return 0
    print(f"run directory: {run_dir}", file=sys.stderr)
    return _run(run_dir, resume=False, quiet=args.quiet, processes=run.processes)


def cmd_resume(args) -> int:
    from .runs import RunDir, is_run_dir, summarize, worker_alive
    if not is_run_dir(args.run_dir):
        raise UserError(f"{args.run_dir} is not a run directory (no config.json)")
    layout = RunDir(args.run_dir)
    layout.check_contained()
    if worker_alive(args.run_dir):  # the worker takes the lock itself; this only spares the config
        raise UserError(layout.busy_message())
    run = load_run_config(layout.config)
    if args.epochs is not None:
        done = summarize(args.run_dir).epoch
        if args.epochs < max(done, 1):
            raise UserError(f"--epochs {args.epochs} is less than the {done} epochs already trained")
        run.epochs = args.epochs
        validate(run)
        save_run_config(run, layout.config)
    if args.nproc is not None and args.nproc != run.processes:
        run.processes = args.nproc
        validate(run)
        save_run_config(run, layout.config)
    from .distributed import check_launch
    check_launch(run)
    return _run(args.run_dir, resume=True, quiet=args.quiet, processes=run.processes)


def cmd_eval(args) -> int:
    from .assess import evaluate_run
    from .runs import is_run_dir
    if not is_run_dir(args.run_dir):
        raise UserError(f"{args.run_dir} is not a run directory (no config.json)")
    result = evaluate_run(args.run_dir, args.checkpoint, linear=not args.no_linear,
                          floors=not args.no_floors, device=args.device)
    print(json.dumps(result, indent=2))
    if "analogies" in result:  # the JSON stays the whole of stdout; the table is for the person reading
        from .analogies import format_report
        print(format_report(result["analogies"]), file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from tqdm import tqdm
    from .embeddings import PROJECTIONS, Cancelled
    from .export import check_destination
    from .run_export import export_run
    from .runs import is_run_dir

    def say(**line) -> None:  # --json: one JSON object per line on stdout, for the GUI
        if args.json:
            print(json.dumps(line), flush=True)

    try:
        if not is_run_dir(args.run_dir):
            raise UserError(f"{args.run_dir} is not a run directory (no config.json)")
        projections = [p.strip() for p in args.projection.split(",") if p.strip()] if args.projection else []
        bad = [p for p in projections if p not in PROJECTIONS]
        if bad:
            raise UserError(f"unknown projection {', '.join(bad)}; choose from {', '.join(PROJECTIONS)}")
        check_destination(args.out, force=args.force)  # before minutes of work, not after
    except (UserError, *_user_errors()) as exc:
        say(type="failed", message=str(exc))
        raise
    bar = tqdm(total=100, unit="%", desc="export", file=sys.stderr, disable=args.quiet or args.json)

    def progress(fraction: float, stage: str = "") -> None:
        bar.set_description(f"export: {stage}" if stage else "export")
        bar.update(round(fraction * 100) - bar.n)
        say(type="progress", fraction=round(float(fraction), 4), stage=stage)

    # SIGTERM (the GUI's Cancel) and Ctrl-C ask the export to stop; the temporary file is removed
    stop = []
    previous = {}

    def on_signal(signum, frame) -> None:
        if stop:  # asked twice: stop now, even inside work that does not check for cancel
            raise KeyboardInterrupt
        stop.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread (tests calling main() from a thread)
            pass
    try:
        path = export_run(args.run_dir, args.out, split=args.split, projections=projections,
                          checkpoint=args.checkpoint, device=args.device, progress=progress,
                          cancel=lambda: bool(stop), force=args.force, compression=args.compression)
    except (Cancelled, KeyboardInterrupt):
        say(type="cancelled")
        print("ssl-workbench: export cancelled; nothing was written", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        say(type="failed", message=str(exc))
        raise
    finally:
        bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say(type="done", path=str(path))
    if not args.json:
        print(f"wrote {path}")
    return 0


def _analysis_source(run_dir: Path, checkpoint: str, snapshot: int | None):
    """The SourceRef a `compare` / `health` argument pair names: a probe snapshot by step, else a checkpoint."""
    from .analysis import SourceRef, snapshot_ref
    from .runs import is_run_dir
    if not is_run_dir(run_dir):
        raise UserError(f"{run_dir} is not a run directory (no config.json)")
    if snapshot is None:
        return SourceRef.of_checkpoint(run_dir, checkpoint)
    try:
        return snapshot_ref(run_dir, snapshot)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _print_json(result: dict) -> None:
    print(json.dumps(result, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def cmd_compare(args) -> int:
    from .analysis import compare
    run_b = args.run_b or args.run_a
    a = _analysis_source(args.run_a, args.checkpoint_a, args.snapshot_a)
    b = _analysis_source(run_b, args.checkpoint_b, args.snapshot_b)
    if a == b:
        raise UserError("A and B are the same embeddings; name two runs, or two checkpoints or snapshots of one "
                        "run (--checkpoint-a / --checkpoint-b, --snapshot-a / --snapshot-b)")
    if args.k < 1:
        raise UserError(f"--k must be at least 1, not {args.k}")
    try:
        result = compare(a, b, k=args.k, projection=None)
    except ValueError as exc:  # different data, too few shared items
        raise UserError(str(exc)) from None
    out = {"run_a": str(args.run_a), "run_b": str(run_b), **result.summary(),
           "source_a": result.a.label, "source_b": result.b.label}
    _print_json(out)
    print(f"A  {args.run_a} · {result.a.label}\nB  {run_b} · {result.b.label}\n"
          f"neighbour change A → B: mean {result.mean_change:.3f} (k = {result.k}, cosine, {len(result.change):,} "
          f"shared items; {result.changed_share:.0%} changed at least one neighbour)", file=sys.stderr)
    return 0


def cmd_health(args) -> int:
    from .analysis import PROJECTION_NAMES, health_report, load_source
    if args.projection not in PROJECTION_NAMES:
        raise UserError(f"unknown projection {args.projection}; choose from {', '.join(PROJECTION_NAMES)}")
    source = _analysis_source(args.run_dir, args.checkpoint, args.snapshot)
    try:
        report = health_report(load_source(source), args.projection)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _print_json({"run": str(args.run_dir), **report})
    lines = [f"source      {report['source']} · {report['n']:,} items · {report['dim']}-d"]
    name = f"{'map (' + PROJECTION_NAMES[args.projection] + ')':<12}"
    if "trustworthiness" in report:
        lines.append(f"{name}trustworthiness {report['trustworthiness']:.3f} · continuity "
                     f"{report['continuity']:.3f} (k = {report['k']}) · false neighbours "
                     f"{report['false_neighbours']:.0%}")
    else:
        lines.append(f"{name}too few points to judge")
    knn = "" if report["knn_correct"] is None else f" · neighbour-label agreement {report['knn_correct']:.0%} (k = {report['knn_k']}, leave-one-out)"
    lines.append(f"embeddings  std ratio {report['std_ratio']:.2f} · effective rank {report['effective_rank']:.1f} "
                 f"of {report['dim']}{knn}")
    lines.append(f"reading     {report['verdict']}")
    print("\n".join(lines), file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    try:
        import optuna  # noqa: F401  the search itself
    except ImportError:
        raise UserError("the sweep needs Optuna: pip install optuna") from None
    from .sweep import format_table, run_sweep
    if args.budget <= 0 or args.trials < 1 or args.epochs < 1:
        raise UserError("--budget must be above 0 seconds, --trials and --epochs at least 1")
    names = [n.strip() for n in args.params.split(",") if n.strip()] if args.params else None

    def report(trial) -> None:
        knn = "–" if trial.knn is None else f"{trial.knn:.4f}"
        print(f"trial {trial.number}: kNN {knn} in {trial.seconds or 0:.0f} s ({trial.status}) · "
              f"{trial.run_dir}", file=sys.stderr)

    ranked = run_sweep(args.method, args.dataset, args.budget, args.trials, args.runs_root or Path("runs"),
                       fixed=args.set, names=names, epochs=args.epochs, device=args.device or "auto",
                       seed=args.seed, sampler=args.sampler, on_trial=report)
    print(format_table(ranked))
    return 0


def cmd_gui(args) -> int:
    try:
        from ui.app import main as gui_main
    except ImportError as exc:
        raise UserError(f"the GUI cannot start: {exc}") from None
    return gui_main(args.runs_root)


# --- parser ------------------------------------------------------------------------------
def build_parser() -> Parser:
    p = Parser(prog="ssl-workbench",
               description="Train self-supervised models and see what they learn. "
                           "With no command, opens the desktop app.")
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    s = sub.add_parser("gui", help="open the desktop app")
    s.add_argument("--runs-root", type=Path, help="folder of runs (default ./runs)")
    s.set_defaults(func=cmd_gui)

    sub.add_parser("methods", help="list registered methods (and broken plugins)").set_defaults(func=cmd_methods)
    sub.add_parser("datasets", help="list datasets").set_defaults(func=cmd_datasets)

    s = sub.add_parser("validate", help="build a method on a tiny backbone and run one step")
    s.add_argument("names", nargs="*", metavar="NAME")
    s.add_argument("--all", action="store_true", help="validate every registered method")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("train", help="train a method on a dataset in a new run directory",
                       description="Train METHOD on DATASET. Settings not given come from the "
                                   "method's preferred defaults. Ctrl-C stops with a checkpoint.")
    s.add_argument("--method", default="simclr", help="method name (default simclr)")
    s.add_argument("--dataset", default="mnist5k", help="dataset name (default mnist5k)")
    s.add_argument("--epochs", type=int)
    s.add_argument("--batch-size", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--backbone", choices=tuple(BACKBONES))
    s.add_argument("--image-size", type=int, metavar="PX",
                   help="square image side the data is resized to (image folders: default 32, up to 256)")
    s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    s.add_argument("--seed", type=int)
    s.add_argument("--data-root", help="folder for image-folder and torchvision datasets "
                                       "(stored as an absolute path)")
    s.add_argument("--download", action="store_true", help="allow downloading torchvision datasets")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any run or method setting, e.g. --set temperature=0.2 (repeatable)")
    s.add_argument("--recipe", metavar="NAME",
                   help="start from a named recipe for this method and dataset (quick or best; "
                        "docs/BENCHMARKS.md); flags and --set given here still win")
    s.add_argument("--nproc", type=int, metavar="N",
                   help="train on N processes, one per GPU (or CPU processes), through "
                        "torch.distributed.run; --batch-size is the global batch (default 1)")
    s.add_argument("--run-dir", type=Path, help="exact run directory to create")
    s.add_argument("--create-only", action="store_true",
                   help="create the run directory, print it and stop (train it later, e.g. "
                        "with `torchrun … -m workbench.worker RUN_DIR`)")
    s.add_argument("--runs-root", type=Path, help="folder to create the run in (default ./runs)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("resume", help="continue a stopped, crashed or finished run")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--epochs", type=int, help="train up to this many epochs in total")
    s.add_argument("--nproc", type=int, metavar="N",
                   help="processes to train on (default: as the run was trained; the same "
                        "number resumes exactly)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_resume)

    s = sub.add_parser("eval", help="kNN / linear probe (and analogies on data with factors; word ρ on "
                                    "text; the method's own measures) of a run against floors, as JSON")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file")
    s.add_argument("--no-linear", action="store_true", help="skip the linear probe")
    s.add_argument("--no-floors", action="store_true",
                   help="skip the raw-pixel and random-init floors (random init: the run's method at seed 0, "
                        "the floor the dashboard and `floors` show); their scores are measured once per "
                        "data, method and seed and then read from the cache")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("export", help="write a run's embeddings to HDF5",
                       description="Write a run's embeddings, labels and projections to HDF5 "
                                   "(docs/HDF5.md). Inside a run folder only a new *.h5/*.hdf5 file "
                                   "or an earlier export is written; links, folders and devices are "
                                   "refused.")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--out", type=Path, required=True, help="target .h5 file")
    s.add_argument("--force", action="store_true",
                   help="replace an existing file at --out that is not an SSL Workbench export "
                        "(never a run's own file, a link or a device)")
    s.add_argument("--json", action="store_true",
                   help="report progress and the result as JSON lines on stdout (for programs)")
    s.add_argument("--split", default="test", choices=("test", "train", "all"))
    s.add_argument("--projection", default="pca", help="comma list of pca,tsne,umap (or '')")
    s.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    s.add_argument("--compression", default="none", choices=("none", "lzf", "gzip", "gzip-9"),
                   help="HDF5 filter: none (default: about the cost of a plain h5py write), lzf "
                        "(fast), gzip (level 4) or gzip-9 (smallest, for archives); all but none "
                        "with shuffle (docs/HDF5.md)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("compare", help="neighbour change between two embeddings of the same items, as JSON",
                       description="How much each item's k nearest neighbours change from A to B (1 − Jaccard, "
                                   "cosine): two checkpoints or snapshots of one run (give RUN once, or twice), "
                                   "or two runs on the same data.")
    s.add_argument("run_a", type=Path, metavar="RUN_A")
    s.add_argument("run_b", type=Path, nargs="?", metavar="RUN_B", help="default: RUN_A")
    s.add_argument("--checkpoint-a", default="best", help="A's checkpoint: best, last, or a file (default best)")
    s.add_argument("--checkpoint-b", default="best", help="B's checkpoint: best, last, or a file (default best)")
    s.add_argument("--snapshot-a", type=int, metavar="STEP", help="A is the probe snapshot at STEP instead")
    s.add_argument("--snapshot-b", type=int, metavar="STEP", help="B is the probe snapshot at STEP instead")
    s.add_argument("--k", type=int, default=10, help="neighbourhood size (default 10)")
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("health", help="map quality and collapse metrics of a run's embeddings, as JSON",
                       description="Trustworthiness and continuity of the 2-D map, false neighbours, std ratio, "
                                   "effective rank and leave-one-out kNN, with a one-line reading: the "
                                   "explorer's Health panel.")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file (default best)")
    s.add_argument("--snapshot", type=int, metavar="STEP", help="the probe snapshot at STEP instead")
    s.add_argument("--projection", default="pca", help="pca, tsne or umap (default pca)")
    s.set_defaults(func=cmd_health)

    s = sub.add_parser("floors", help="raw-pixel and random-init floors of a run's data, method and backbone",
                       description="kNN top-1 (k = 20, as the trainer's eval) of the raw data and of the run's "
                                   "method at random init (seed 0, read through the method's own embedding: "
                                   "the random-init floor `eval` reports; on text: word-similarity ρ of "
                                   "random-init vectors), measured once per data, method, method settings "
                                   "and backbone and cached under the cache folder; the dashboard draws them.")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--refresh", action="store_true", help="measure again even when cached")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    s.set_defaults(func=cmd_floors)
    s = sub.add_parser("sweep", help="search a method's settings within a time budget; prints a ranked table",
                       description="Optuna search (TPE, or random) over a method's settings: every trial is a "
                                   "normal run folder under --runs-root (compare them in the Runs tab), scored "
                                   "by its last kNN; the ranked table (kNN, linear probe, analogy, seconds) goes "
                                   "to stdout and runs-root/sweeps/*.json. The budget is checked between trials.")
    s.add_argument("--method", default="simclr", help="method name (default simclr)")
    s.add_argument("--dataset", default="mnist5k", help="dataset name (default mnist5k)")
    s.add_argument("--budget", type=float, default=600, metavar="SECONDS",
                   help="start no trial after this many seconds (default 600)")
    s.add_argument("--trials", type=int, default=20, help="at most this many trials (default 20)")
    s.add_argument("--epochs", type=int, default=1, help="epochs per trial (default 1)")
    s.add_argument("--params", metavar="A,B", help="settings to vary (default: every sweepable one the "
                                                   "method has: lr, batch_size, temperature, crop_min, shift, …)")
    s.add_argument("--sampler", choices=("tpe", "random"), default="tpe")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting every trial shares (repeatable)")
    s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--runs-root", type=Path, help="folder for the trial runs (default ./runs)")
    s.set_defaults(func=cmd_sweep)
    return p


def cmd_floors(args) -> int:
    from .floors import floors_text, measure_floors, read_floors
    from .runs import is_run_dir
    if not is_run_dir(args.run_dir):
        raise UserError(f"{args.run_dir} is not a run directory (no config.json)")
    cfg = load_run_config(args.run_dir / "config.json")
    cached = None if args.refresh else read_floors(cfg)
    result = cached or measure_floors(cfg, device=args.device)
    if args.json:
        _print_json({**result, "cached": cached is not None})
    else:
        what = "word similarity" if result["key"]["modality"] == "text" else "kNN top-1 k = 20"
        print(f"{floors_text(result)}  ({'cached' if cached else 'measured'}, {what} on "
              f"{result['test_size']:,} test items)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args(["gui"])
        return args.func(args)
    except UserError as exc:
        print(f"ssl-workbench: error: {exc}", file=sys.stderr)
        return 2
    except (SystemExit, KeyboardInterrupt):  # --help and the like: _user_errors() would import torch
        raise
    except _user_errors() as exc:
        print(f"ssl-workbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
