"""The `ssl-workbench` command: methods, datasets, validate, train, resume, eval, export, gui."""
from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .config import ConfigError, RunConfig, apply_overrides, load_run_config, new_run_config, \
    save_run_config, validate, method_config
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
    return USER_ERRORS + (ExportError, UnknownMethod)


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
    from .validate import validate_method
    names = args.names
    if args.all:
        from .registry import discover
        names = list(discover())
    if not names:
        raise UserError("name a method to validate, or pass --all")
    failed = 0
    for name in names:
        try:
            v = validate_method(name)
        except _user_errors():
            raise
        except Exception as exc:
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
                self.bar.write(f"{ev['title']} on {ev['dataset']} · {ev['device']} · "
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


def _run(run_dir: Path, resume: bool, quiet: bool) -> int:
    from .events import read_events
    from .worker import run_worker
    commands: queue.Queue = queue.Queue()

    def on_interrupt(signum, frame):
        print("\nstopping: saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)
        commands.put({"type": "stop"})
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        code = run_worker(run_dir, resume=resume, commands=commands, listeners=[ProgressPrinter(quiet)])
    finally:
        signal.signal(signal.SIGINT, previous)
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
    run = new_run_config(args.method, args.dataset, cls.run_defaults, epochs=args.epochs,
                         batch_size=args.batch_size, device=args.device, seed=args.seed,
                         backbone=args.backbone, lr=args.lr, data_root=args.data_root,
                         download=args.download or None)
    apply_overrides(run, cls.Config, args.set or [])
    validate(run)
    method_config(run, cls.Config)
    from .build import pick_device
    pick_device(run.device)
    _check_dataset(run, cls)
    run_dir = create_run_dir(run, root=args.runs_root, path=args.run_dir)
    print(f"run directory: {run_dir}", file=sys.stderr)
    return _run(run_dir, resume=False, quiet=args.quiet)


def cmd_resume(args) -> int:
    from .runs import is_run_dir, summarize, worker_alive
    if not is_run_dir(args.run_dir):
        raise UserError(f"{args.run_dir} is not a run directory (no config.json)")
    if worker_alive(args.run_dir):
        raise UserError(f"{args.run_dir} is being trained by a running worker right now")
    run = load_run_config(args.run_dir / "config.json")
    if args.epochs is not None:
        done = summarize(args.run_dir).epoch
        if args.epochs < max(done, 1):
            raise UserError(f"--epochs {args.epochs} is less than the {done} epochs already trained")
        run.epochs = args.epochs
        validate(run)
        save_run_config(run, args.run_dir / "config.json")
    return _run(args.run_dir, resume=True, quiet=args.quiet)


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
    from .run_export import export_run
    from .runs import is_run_dir
    if not is_run_dir(args.run_dir):
        raise UserError(f"{args.run_dir} is not a run directory (no config.json)")
    from .embeddings import PROJECTIONS
    projections = [p.strip() for p in args.projection.split(",") if p.strip()] if args.projection else []
    bad = [p for p in projections if p not in PROJECTIONS]
    if bad:
        raise UserError(f"unknown projection {', '.join(bad)}; choose from {', '.join(PROJECTIONS)}")
    bar = tqdm(total=100, unit="%", desc="export", file=sys.stderr, disable=args.quiet)

    def progress(fraction: float, stage: str = "") -> None:
        bar.set_description(f"export: {stage}" if stage else "export")
        bar.update(round(fraction * 100) - bar.n)

    try:
        path = export_run(args.run_dir, args.out, split=args.split, projections=projections,
                          checkpoint=args.checkpoint, device=args.device, progress=progress)
    finally:
        bar.close()
    print(f"wrote {path}")
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
    s.add_argument("--backbone", choices=("small_cnn", "resnet18", "mlp"))
    s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    s.add_argument("--seed", type=int)
    s.add_argument("--data-root", help="folder for image-folder and torchvision datasets")
    s.add_argument("--download", action="store_true", help="allow downloading torchvision datasets")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any run or method setting, e.g. --set temperature=0.2 (repeatable)")
    s.add_argument("--run-dir", type=Path, help="exact run directory to create")
    s.add_argument("--runs-root", type=Path, help="folder to create the run in (default ./runs)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("resume", help="continue a stopped, crashed or finished run")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--epochs", type=int, help="train up to this many epochs in total")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_resume)

    s = sub.add_parser("eval", help="kNN / linear probe (and analogies on data with factors) of a run "
                                    "against floors, as JSON")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file")
    s.add_argument("--no-linear", action="store_true", help="skip the linear probe")
    s.add_argument("--no-floors", action="store_true", help="skip the raw-pixel and random-init floors")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("export", help="write a run's embeddings to HDF5")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("--out", type=Path, required=True, help="target .h5 file")
    s.add_argument("--split", default="test", choices=("test", "train", "all"))
    s.add_argument("--projection", default="pca", help="comma list of pca,tsne,umap (or '')")
    s.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_export)
    return p


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
    except _user_errors() as exc:
        print(f"ssl-workbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
