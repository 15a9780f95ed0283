"""THE training loop: one for every method, emitting events, checkpoints and evaluations."""
from __future__ import annotations

import dataclasses
import math
import queue
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from . import checkpoint as ckpt
from .analogies import analogy_sets, event_scores
from .api import Batch, Method, Preview
from .data.base import model_input
from .data.prepare import prepare_data
from .data.stream import batch_source
from .distributed import LOCAL, DistContext
from .build import build, describe_device, load_weights
from .config import RunConfig, load_run_config, to_dict
from .embeddings import compute_embeddings
from .evaluate import collapse_metrics, knn_top1, linear_probe
from .events import EventWriter, make_event
from .gpu_stats import gpu_fields
from .optim import build_optimizer, build_scheduler
from .rundir import BEST, CHECKPOINTS, LAST, RunDir, write_atomic

STEP_EVENT_INTERVAL = 0.25  # seconds between step events: smooth curves, negligible cost
PREVIEW_BATCH = 32
PREVIEW_BUDGET = 30  # wait at least this many times a preview's cost before the next


class TrainingFailed(RuntimeError):
    """Training cannot go on (diverged loss, bad data); the message is for the user."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The batch order of an epoch, reproducible from (seed, epoch) alone for exact resume."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def probe_indices(n_test: int, size: int) -> torch.Tensor:
    """A fixed subset of the test split (same for every run on a dataset) for the live map."""
    g = torch.Generator().manual_seed(12345)
    return torch.randperm(n_test, generator=g)[: min(size, n_test)].sort().values


@torch.no_grad()
def embed_all(method: Method, x: torch.Tensor, device: torch.device, batch_size: int = 1024) -> torch.Tensor:
    """The method's representation of every row of x, on the CPU, in eval mode."""
    was_training = method.training
    method.eval()
    try:
        return torch.from_numpy(compute_embeddings(method.embed, x, batch_size, device))
    finally:
        method.train(was_training)


class Trainer:
    """Runs one run directory to the end, a stop command, or a failure.

    `commands` receives dicts like {"type": "pause"} from the worker's stdin reader (or a
    signal handler); the trainer looks at it between steps, so it never blocks training.
    """

    def __init__(self, run_dir: Path, writer: EventWriter, commands: queue.Queue | None = None,
                 resume: bool = False, checkpoint_hook: Callable[[str], None] | None = None,
                 dist: DistContext | None = None):
        self.run_dir = Path(run_dir)
        self.layout = RunDir(self.run_dir)
        self.dist = dist or LOCAL  # rank, world size and the hooks of a distributed run
        self.writer = writer
        self.commands = commands if commands is not None else queue.Queue()
        self.resume = resume
        self.cfg: RunConfig = load_run_config(self.layout.config)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_knn = -1.0
        self.last_knn: float | None = None
        self.best_score = -math.inf  # text runs: best WordSim-353 ρ, which best.pt follows
        self.last_scores: dict[str, float] = {}
        self._stop = False
        self._next_preview = -math.inf
        self._train_step: Callable | None = None  # the method's step, compiled when asked (optimise)
        self._channels_last = False
        self._unchecked_losses: list[tuple[int, int, torch.Tensor]] = []  # (step, epoch, loss)

    # --- events -------------------------------------------------------------------------
    def emit(self, type: str, **fields) -> None:
        self.writer.emit(make_event(type, self.step, self.epoch, **fields))

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    # --- setup --------------------------------------------------------------------------
    def setup(self) -> None:
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.dist.start(cfg.device)
        if self.dist.is_main:  # one process builds the on-disk cache; the others then read it
            prepare_data(cfg, self.log, self.commands)
        self.dist.barrier()
        built = build(cfg)
        self.method, self.data, self.device = built.method, built.dataset, built.device
        if self.device.type == "cuda" and self.data.spec.modality == "image":
            # channels-last is what cuDNN's fastest convolutions read; set before DDP builds its buckets
            self.method.to(memory_format=torch.channels_last)
            self._channels_last = True
        self.train_step = self.dist.wrap(self.method, cfg, self.device)
        d = self.data
        if d.skipped_count:
            shown = ", ".join(d.skipped[:5])
            self.log(f"skipped {d.skipped_count} unreadable or misplaced item(s): {shown}"
                     f"{' …' if d.skipped_count > 5 else ''}", level="warning")
        self.source = batch_source(d, cfg.data_path, self.device)
        self.n_train = len(d.x_train)
        self.batch_size = min(cfg.batch_size, self.n_train)  # global: over all processes
        self.dist.check_batch(self.batch_size)
        # Full batches only: a last batch of 1 breaks batch norm and contrastive losses.
        self.steps_per_epoch = max(1, self.n_train // self.batch_size)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.optimizer = build_optimizer(self.method.parameters(), cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.amp_dtype = None
        if cfg.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.probe = probe_indices(len(d.x_test), cfg.probe_size)
        if d.spec.modality == "text":  # the most frequent words: the vocabulary is sorted by count
            self.probe = torch.arange(min(cfg.probe_size, len(d.x_test)))
        g = torch.Generator().manual_seed(54321)
        pick = torch.randperm(self.n_train, generator=g)[:PREVIEW_BATCH]
        self.preview_batch = Batch(model_input(d.x_train[pick].to(self.device)),
                                   d.y_train[pick].to(self.device), pick.to(self.device))
        torch.manual_seed(cfg.seed)
        if self.resume:
            self._restore()

    def _checkpoint_state(self) -> dict:
        state = {
            "model": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "best_knn": self.best_knn, "best_score": self.best_score,
            "method": self.cfg.method, "dataset": self.cfg.dataset,
            "config": to_dict(self.cfg),
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _restore(self) -> None:
        path = self.layout.resume_checkpoint()
        if path is None:
            raise ckpt.CheckpointError(f"{self.run_dir} has no complete checkpoint to resume from")
        state = ckpt.load_checkpoint(path, map_location=self.device)
        load_weights(self.method, state, path, self.cfg)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"].cpu())
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"].cpu(), self.device)
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.best_knn = float(state["best_knn"])
        self.best_score = float(state.get("best_score", -math.inf))
        if path != self.layout.last:  # last.pt was cut short (a kill or full disk while writing it)
            self.log(f"{CHECKPOINTS}/{LAST} is missing or incomplete; resuming from "
                     f"{self.layout.rel(path)} (step {self.step}) instead", level="warning")

    def save(self, name: str) -> Path:
        self.check_losses()  # a diverged model never overwrites the last good checkpoint
        if not self.dist.is_main:
            return self.layout.checkpoint(name)
        path = ckpt.save_checkpoint(self._checkpoint_state(), self.layout.checkpoint(name))
        self.emit("checkpoint", path=self.layout.rel(path))
        return path

    # --- the loop -----------------------------------------------------------------------
    def run(self) -> int:
        """Train to the end; returns the process exit code (0 finished or stopped)."""
        t0 = time.time()
        self.setup()
        n_params = sum(p.numel() for p in self.method.parameters() if p.requires_grad)
        self.emit("started", method=self.cfg.method, title=self.method.title,
                  dataset=self.cfg.dataset, device=describe_device(self.device) + (
                      f" × {self.dist.world_size} processes" if self.dist.enabled else ""),
                  steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
                  epochs=self.cfg.epochs, batch_size=self.batch_size, parameters=n_params,
                  train_size=self.n_train, test_size=len(self.data.x_test),
                  resumed=self.resume, world_size=self.dist.world_size, data_path=self.source.kind)
        if self.step == 0:
            self.make_previews(force=True)
            self.snapshot()
        while self.epoch < self.cfg.epochs and not self._stop:
            self.train_epoch()
            if self._stop:
                break
            self.epoch += 1
            self.batch_in_epoch = 0
            self.end_of_epoch()
        if self._stop:
            self.save(LAST)
            self.emit("finished", stopped=True, message=f"stopped at step {self.step}",
                      seconds=round(time.time() - t0, 2))
            return 0
        result = self.final_evaluation()
        self.emit("finished", stopped=False, seconds=round(time.time() - t0, 2),
                  message="training finished", **result)
        return 0

    def train_epoch(self) -> None:
        cfg, method = self.cfg, self.method
        order = epoch_order(cfg.seed, self.epoch, self.n_train).to(self.device)
        # Each rank reads only its slice of every global batch (the whole batch on one process).
        local_order = self.dist.shard_order(order, self.batch_size, self.steps_per_epoch)
        feed = self.source.epoch(local_order, self.batch_size // self.dist.world_size, self.batch_in_epoch,
                                 self.steps_per_epoch)
        method.train()
        window_start, window_images, window_losses = time.perf_counter(), 0, []
        epoch_start, epoch_losses = time.perf_counter(), []
        while self.batch_in_epoch < self.steps_per_epoch:
            self.handle_commands()
            if self._stop:
                return
            self.dist.begin_step(cfg.seed, self.step)
            batch = next(feed)
            loss, logs = self.optimise(batch)
            method.on_step_end(self.step, self.total_steps)
            self.step += 1
            self.batch_in_epoch += 1
            window_images += len(batch.x) * self.dist.world_size
            window_losses.append(loss)
            epoch_losses.append(loss)
            now = time.perf_counter()
            if now - window_start >= STEP_EVENT_INTERVAL or self.batch_in_epoch == self.steps_per_epoch:
                self.emit_step(window_losses, logs, window_images / (now - window_start))
                window_start, window_images, window_losses = now, 0, []
            self.make_previews()
        seconds = time.perf_counter() - epoch_start
        self.emit("epoch", loss=float(torch.stack(epoch_losses).mean()) if epoch_losses else None,
                  seconds=round(seconds, 3),
                  img_s=round(len(epoch_losses) * self.batch_size / max(seconds, 1e-9), 1))

    def _prepare_step(self) -> Callable:
        """The training step, torch.compile'd with run setting `compile` (the modules stay as
        they are, so checkpoints keep their keys)."""
        return torch.compile(self.train_step) if self.cfg.compile else self.train_step

    def optimise(self, batch: Batch) -> tuple[torch.Tensor, dict]:
        """One optimiser step; returns the loss as a device tensor. Reading it here would make
        the host wait for the GPU every step, so check_losses reads the pending ones in one go
        when a step event goes out (and before every checkpoint)."""
        if self._train_step is None:
            self._train_step = self._prepare_step()
        if self._channels_last and batch.x.dim() == 4:
            batch = dataclasses.replace(batch, x=batch.x.contiguous(memory_format=torch.channels_last))
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype)
                    if self.amp_dtype is not None else nullcontext())
        self.method.learning_rate = self.optimizer.param_groups[0]["lr"]
        with autocast:
            out = self._train_step(batch)
        loss = out.loss.float()
        # the global-batch loss (an all-reduce, no host sync): what is reported, and every rank
        # sees the same NaN
        reported = self.dist.average(loss).detach()
        self._unchecked_losses.append((self.step, self.epoch, reported))
        if not loss.requires_grad:  # the method updated itself (api.Method.learning_rate)
            self.optimizer.step()  # no gradients: a no-op that keeps the schedule's bookkeeping in order
            self.scheduler.step()
            return reported, out.logs
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.method.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return reported, out.logs

    def check_losses(self) -> None:
        """Stop with the clear message if a loss since the last check was NaN or infinite (one
        device read for all of them). Steps after the bad one may have run, but nothing was
        saved since: the last checkpoint is the last good one."""
        if not self._unchecked_losses:
            return
        pending, self._unchecked_losses = self._unchecked_losses, []
        values = torch.stack([loss for _, _, loss in pending]).cpu()
        bad = (~torch.isfinite(values)).nonzero()
        if len(bad):
            step, epoch, _ = pending[int(bad[0])]
            value = float(values[int(bad[0])])
            kept = (f"the last good checkpoint is kept in {self.layout.rel(self.layout.last)}"
                    if self.layout.last.is_file() else "no checkpoint was written yet")
            raise TrainingFailed(
                f"the loss became {value} at step {step} (epoch {epoch + 1}); training "
                f"stopped and {kept}. Try a "
                f"lower learning rate (now lr={self.cfg.lr:g}) or a stronger grad_clip.",
                exit_code=3)

    def emit_step(self, losses: list, logs: dict, img_s: float) -> None:
        self.check_losses()
        extra = {k: float(v.detach().float().mean()) if torch.is_tensor(v) else float(v)
                 for k, v in logs.items()}
        loss = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in losses]).mean()
        fields = {"loss": float(loss), "lr": self.optimizer.param_groups[0]["lr"],
                  "img_s": round(img_s, 1), "logs": extra,
                  "progress": round(self.step / max(1, self.total_steps), 5)}
        fields.update(gpu_fields(self.device))
        self.emit("step", **fields)

    # --- commands -----------------------------------------------------------------------
    def handle_commands(self) -> None:
        while True:
            cmd = self._next_command(wait=False)
            if cmd is None:
                return
            self._apply(cmd)

    def _next_command(self, wait: bool) -> dict | None:
        """Rank 0's next command, handed to every rank so all act on it at the same step
        (None: none now). While paused (wait) one process blocks; ranks ask every 5 s."""
        if not self.dist.enabled and wait:
            return self.commands.get()
        pending = []
        if self.dist.is_main:
            try:
                pending = [self.commands.get(timeout=5) if wait else self.commands.get_nowait()]
            except queue.Empty:
                pass
        shared = self.dist.share_commands(pending)
        return shared[0] if shared else None

    def _apply(self, cmd: dict) -> None:
        kind = cmd.get("type")
        if kind == "stop":
            self._stop = True
        elif kind == "snapshot":
            self.snapshot()
        elif kind == "preview":
            self.make_previews(force=True)
        elif kind == "pause":
            self.save(LAST)
            self.emit("paused")
            while True:  # blocks only the worker, which has nothing else to do while paused
                nxt = self._next_command(wait=True)
                if nxt is None:
                    continue
                if nxt.get("type") == "resume":
                    self.emit("resumed")
                    return
                if nxt.get("type") == "stop":
                    self._stop = True
                    return
                if nxt.get("type") in ("snapshot", "preview"):
                    self._apply(nxt)
        elif kind == "resume":
            pass  # not paused: nothing to do
        else:
            self.log(f"ignored unknown command {kind!r}", level="warning")

    # --- pictures, maps, evaluation -----------------------------------------------------
    def make_previews(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.dist.is_main or (not force and now < self._next_preview):
            return
        # Previews must not consume the training RNG, or resumed runs would diverge.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            was = self.method.training
            self.method.eval()
            with torch.no_grad():
                previews = self.method.previews(self.preview_batch)
            self.method.train(was)
        for name, preview in previews.items():
            self.save_preview(name, preview)
        # At most one set per preview_interval, and never more than ~3% of training time.
        cost = time.monotonic() - now
        self._next_preview = time.monotonic() + max(self.cfg.preview_interval, PREVIEW_BUDGET * cost)

    def save_preview(self, name: str, preview: Preview) -> None:
        rel = self.layout.preview(self.step, name)
        image = Image.fromarray(preview.grid())
        write_atomic(self.run_dir / rel, write=lambda fh: image.save(fh, format="PNG"), durable=False)
        tile = preview.tiles[0].shape[:2] if preview.tiles else (0, 0)
        self.emit("preview", name=name, title=preview.title, path=rel, captions=preview.captions,
                  columns=preview.columns, tile=list(tile), count=len(preview.tiles), pad=2)

    def snapshot(self) -> None:
        """Embed the fixed probe set and save it for the live map."""
        if len(self.probe) == 0 or not self.dist.is_main:
            return
        feats = embed_all(self.method, self.data.x_test[self.probe], self.device).numpy()
        rel = self.layout.snapshot(self.step)
        arrays = dict(embeddings=feats.astype(np.float32), indices=self.probe.numpy(),
                      labels=self.data.y_test[self.probe].numpy())
        write_atomic(self.run_dir / rel, write=lambda fh: np.savez(fh, **arrays), durable=False)
        self.emit("embedding", path=rel, n=int(feats.shape[0]), dim=int(feats.shape[1]))

    def end_of_epoch(self) -> None:
        cfg = self.cfg
        if self.dist.is_main and (self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs):
            self.evaluate_words() if self.data.spec.modality == "text" else self.evaluate_knn()
            self.evaluate_measures()
        self.snapshot()
        self.save(LAST)
        if cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0:
            self.save(RunDir.step_checkpoint_name(self.step))
        self.dist.barrier()  # the other ranks wait while rank 0 evaluates and saves

    def evaluate_knn(self) -> None:
        d = self.data
        train = embed_all(self.method, d.x_train, self.device)
        test = embed_all(self.method, d.x_test, self.device)
        self.features = (train, test)
        knn = knn_top1(train, d.y_train, test, d.y_test, ks=(20, 200))
        collapse = collapse_metrics(test)
        fields = {"collapse_std_ratio": round(collapse["std_ratio"], 4),
                  "effective_rank": round(collapse["effective_rank"], 2)}
        fields.update(self.diagnostics(train, test))
        if not math.isnan(knn[20]):
            self.last_knn = knn[20]
            improved = knn[20] > self.best_knn
            self.best_knn = max(self.best_knn, knn[20])
            fields.update(knn_top1=round(knn[20], 4), knn_top1_k200=round(knn[200], 4),
                          knn_best=round(self.best_knn, 4))
            if improved:
                self.save(BEST)
        if d.factors_test:  # known factors: analogy accuracy as curves (fixed queries, drawn once)
            if getattr(self, "analogy_sets", None) is None:
                self.analogy_sets = analogy_sets(d.factors_test)
            scores = event_scores(test.numpy(), d.factors_test, self.analogy_sets)
            if scores:
                fields["scores"] = {**scores, **fields.get("scores", {})}  # analogy first: the Runs headline
        self.emit("eval", **fields)

    def diagnostics(self, train: torch.Tensor, test: torch.Tensor) -> dict:
        """RankMe, alignment, uniformity and normalised std of the test embeddings (alignment on
        two views of the probe set), and the online linear probes' test top-1: the label and,
        on data with factors, each factor."""
        from .diagnostics import OnlineProbe, embedding_diagnostics, view_embeddings
        views = view_embeddings(self.method, self.data.x_test[self.probe], self.device, seed=self.cfg.seed)
        fields: dict = {"diagnostics": embedding_diagnostics(test, views)}
        if getattr(self, "online_probes", None) is None:
            self.online_probes = {}
        targets = {"": (self.data.y_train, self.data.y_test)}  # the label, then each known factor
        targets.update({f" · {name}": (torch.from_numpy(self.data.factors_train[name]), torch.from_numpy(codes))
                        for name, codes in self.data.factors_test.items() if name in self.data.factors_train})
        scores = {}
        for suffix, (y_train, y_test) in targets.items():
            probe = self.online_probes.setdefault(suffix, OnlineProbe(seed=self.cfg.seed))
            accuracy = probe.update(train, y_train, test, y_test)
            if accuracy is not None:
                scores[f"online probe top-1{suffix}"] = round(accuracy, 4)
        if "online probe top-1" in scores:
            fields["probe_top1"] = scores["online probe top-1"]
        if scores:  # drawn beside kNN; per factor: "clusters by colour, not shape" as a curve
            fields["scores"] = scores
        return fields

    def evaluate_words(self) -> None:
        """Text has no labels for kNN: Spearman ρ of word similarities against human
        judgements (WordSim-353, SimLex-999) over the vocabulary, with their coverage."""
        from .wordsim import score_fields, selection_score, similarity_scores
        vectors = embed_all(self.method, self.data.x_test, self.device)
        results = similarity_scores(vectors.numpy(), self.data.spec.vocab)
        scores, coverage = score_fields(results)
        collapse = collapse_metrics(vectors)
        self.emit("eval", scores=scores, coverage=coverage,
                  collapse_std_ratio=round(collapse["std_ratio"], 4),
                  effective_rank=round(collapse["effective_rank"], 2))
        self.last_scores = scores
        score = selection_score(results)
        if score is not None and score > self.best_score:
            self.best_score = score
            self.save(BEST)

    def evaluate_measures(self) -> None:
        """The method's own measures (a test likelihood beside its floor), when it has any."""
        from .measures import method_measures
        measures = method_measures(self.method, self.data, self.device)
        if measures:
            self.emit("eval", measures=measures)

    def final_evaluation(self) -> dict:
        result: dict = {}
        if not self.dist.is_main:  # evaluation runs once, on rank 0
            return result
        if self.last_knn is not None:
            result.update(knn_top1=round(self.last_knn, 4), knn_best=round(self.best_knn, 4))
        if self.last_scores:
            result["scores"] = self.last_scores
        if self.cfg.linear_probe and (self.data.y_train >= 0).any():
            train, test = getattr(self, "features", (None, None))
            if train is None:
                train = embed_all(self.method, self.data.x_train, self.device)
                test = embed_all(self.method, self.data.x_test, self.device)
            acc = linear_probe(train.numpy(), self.data.y_train.numpy(), test.numpy(),
                               self.data.y_test.numpy(), seed=self.cfg.seed)
            if not math.isnan(acc):
                result["linear_top1"] = round(acc, 4)
                self.emit("eval", linear_top1=result["linear_top1"])
        return result
