"""Training on several processes (torchrun + DistributedDataParallel): the rank context the
trainer consults, and the cross-rank operations methods import (identity on one process)."""
from __future__ import annotations

import ctypes
import datetime
import gc
import json
import os
import signal
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .api import Batch, StepOutput
from .config import ConfigError, RunConfig

# Methods whose paper normalises over the global batch ("global BN" / cross-replica BN):
# SimCLR (Chen et al. 2020, §2.2 "Global BN"), BYOL (Grill et al. 2020, App. J: batch
# statistics across all devices) and VICReg (Bardes et al. 2022, whose code converts to
# SyncBatchNorm). MoCo v2 keeps per-GPU BN with shuffled keys (He et al. 2020, §3.3
# "Shuffling BN"), so each rank keeps its own BatchNorm there, as every other method does.
SYNC_BATCHNORM_METHODS = ("simclr", "byol", "vicreg")

# Collectives wait this long for a slow rank (rank 0's evaluation, a long checkpoint write);
# a rank that dies is noticed sooner by torch.distributed.run, which stops the others.
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)

# Test-only fault injection: "RANK:STEP" makes that rank exit hard (os._exit(3)) when it is
# about to train that step, as a crashed or killed process would.
FAULT_ENV = "SSL_WORKBENCH_FAULT_RANK_STEP"


# --- what plugins import: identity when one process trains ---------------------------------
def is_distributed() -> bool:
    """True inside a process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the gradient of its own rows, summed over
    every rank's loss (each rank's loss reads every rank's rows)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of x, concatenated in rank order (= the global batch order), with
    gradients flowing back to the rank that computed each row. Every rank must pass the same
    number of rows. DDP averages gradients over ranks, and every rank computes the same
    global loss from these rows, so the update equals one process on the global batch."""
    return _GatherWithGrad.apply(x) if is_distributed() else x


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of x in rank order, without gradient (e.g. keys for MoCo's queue)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) whose gradient is summed over ranks too (every rank's loss reads the sum)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


def sum_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """The sum of x over ranks, differentiable (identity on one process)."""
    return _SumOverRanks.apply(x) if is_distributed() else x


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics cover the global batch on every rank.

    torch.nn.SyncBatchNorm does this on GPUs only; this one runs on any device (gloo on CPU)
    with two differentiable all-reduces (the mean, then the centred sum of squares, which
    keeps the variance as exact as a single process's). Eval mode and one process use
    plain batch norm. It keeps BatchNorm's state_dict keys, so checkpoints load anywhere.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        # statistics in float32 at least (bf16 under autocast), as batch norm keeps them
        xs = x.to(torch.promote_types(x.dtype, torch.float32))
        count = torch.tensor([x.numel() / x.shape[1]], device=x.device, dtype=xs.dtype)
        total = sum_over_ranks(torch.cat([xs.sum(dims), count]))
        n = total[-1]
        mean = total[:-1] / n
        centred = xs - mean.view(shape)
        var = sum_over_ranks(centred.pow(2).sum(dims)) / n
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var.detach() * n / (n - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        return out.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm in module made global-batch: torch's SyncBatchNorm on CUDA, our
    GlobalBatchNorm elsewhere. Parameters are moved, not copied, so an optimiser built
    before still updates them; buffers and state_dict keys are kept."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, _BatchNorm) and not isinstance(module, (GlobalBatchNorm, nn.SyncBatchNorm)):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats).to(device)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
        return out
    for name, child in module.named_children():
        module.add_module(name, convert_batchnorm(child, device))
    return module


def uses_sync_batchnorm(cfg: RunConfig) -> bool:
    """Whether this run normalises over the global batch (sync_bn=auto: as its paper does)."""
    if cfg.sync_bn == "auto":
        return cfg.method in SYNC_BATCHNORM_METHODS
    return cfg.sync_bn == "on"


# --- what the trainer consults --------------------------------------------------------------
class _TrainingStep(nn.Module):
    """The method's training step as a forward(), so DistributedDataParallel sees it."""

    def __init__(self, method: nn.Module):
        super().__init__()
        self.method = method

    def forward(self, batch: Batch):
        out = self.method.training_step(batch)
        return out.loss, out.logs


@dataclass
class DistContext:
    """This process's place in a run: rank, world size, and the hooks the trainer calls.

    One process (the default, LOCAL) makes every hook a no-op, so single-process training is
    unchanged bit for bit.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes events, previews, snapshots and checkpoints and evaluates."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def start(self, requested_device: str) -> None:
        """Join the process group: NCCL with one GPU per local rank on CUDA, gloo on CPU."""
        if not self.enabled or self.started:
            return
        from .build import pick_device
        device = pick_device(requested_device)
        if device.type == "mps":
            raise ConfigError("several processes need CUDA GPUs or the CPU; Apple MPS trains "
                              "in one process (use --nproc 1 or --device cpu)")
        if device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise ConfigError(f"local rank {self.local_rank} has no GPU: this machine has "
                                  f"{torch.cuda.device_count()}; start at most that many "
                                  f"processes per machine")
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=self.rank, world_size=self.world_size,
                                timeout=COLLECTIVE_TIMEOUT)
        self.started = True

    def close(self) -> None:
        if self.started and dist.is_initialized():
            # DDP's reducer holds the group: free a dropped trainer's wrapper now, before the group
            # goes, not at interpreter exit, where gloo's threads can abort the process
            gc.collect()
            dist.destroy_process_group()
        self.started = False

    def check_batch(self, global_batch: int) -> None:
        """The global batch must split evenly into one equal slice per rank."""
        if global_batch % self.world_size:
            raise ConfigError(f"batch_size={global_batch} does not split evenly over "
                              f"{self.world_size} processes; use a multiple of {self.world_size}")

    def shard(self, global_indices: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch (rank r takes the r-th slice)."""
        if not self.enabled:
            return global_indices
        per = len(global_indices) // self.world_size
        return global_indices[self.rank * per:(self.rank + 1) * per]

    def shard_order(self, order: torch.Tensor, batch_size: int, n_batches: int) -> torch.Tensor:
        """This rank's epoch order: its slice of each of the n_batches global batches of
        `batch_size` in `order`, one after another (the whole order on one process)."""
        if not self.enabled:
            return order
        batches = order[:n_batches * batch_size].view(n_batches, batch_size)
        per = batch_size // self.world_size
        return batches[:, self.rank * per:(self.rank + 1) * per].reshape(-1)

    def wrap(self, method: nn.Module, cfg: RunConfig, device: torch.device) -> Callable[[Batch], StepOutput]:
        """The callable that trains one step: method.training_step on one process; under
        DistributedDataParallel (global-batch BatchNorm where the method's paper uses it)
        on several, so gradients are averaged over ranks during backward."""
        if not self.enabled:
            return method.training_step
        if uses_sync_batchnorm(cfg):
            convert_batchnorm(method, device)
        # only methods that leave parameters out of some losses pay for DDP's unused search
        ddp = nn.parallel.DistributedDataParallel(
            _TrainingStep(method), find_unused_parameters=type(method).has_unused_parameters)

        def step(batch: Batch) -> StepOutput:
            loss, logs = ddp(batch)
            return StepOutput(loss, logs)
        return step

    def begin_step(self, seed: int, step: int) -> None:
        """Seed this rank's random numbers from (seed, step, rank) before every step, so a
        resumed run draws exactly what the uninterrupted one would (no per-rank RNG state
        to collect into rank 0's checkpoint) and ranks draw different augmentations."""
        if not self.enabled:
            return
        fault = os.environ.get(FAULT_ENV, "")
        if fault and fault == f"{self.rank}:{step}":
            os._exit(3)
        torch.manual_seed((seed * 1_000_003 + step) * 1_009 + self.rank)

    def average(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a (loss) scalar over ranks: the global-batch loss that rank 0 reports."""
        if not self.enabled:
            return value
        value = value.detach().float().clone()
        dist.all_reduce(value)
        return value / self.world_size

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def share_commands(self, commands: list[dict]) -> list[dict]:
        """Rank 0's commands (pause, stop, …), handed to every rank, so all ranks act on them at
        the same step and their collectives stay in step. One tiny broadcast when none."""
        if not self.enabled:
            return commands
        device = torch.device("cuda", torch.cuda.current_device()) \
            if dist.get_backend() == "nccl" else torch.device("cpu")
        data = json.dumps(commands).encode() if self.is_main and commands else b""
        size = torch.tensor([len(data)], dtype=torch.long, device=device)
        dist.broadcast(size, 0)
        if size.item() == 0:
            return []
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device) if self.is_main \
            else torch.empty(int(size.item()), dtype=torch.uint8, device=device)
        dist.broadcast(buf, 0)
        return json.loads(bytes(buf.cpu().tolist()).decode()) if not self.is_main else commands


LOCAL = DistContext()


def check_launch(cfg: RunConfig) -> None:
    """A clear ConfigError before starting cfg.processes processes that could not train."""
    if cfg.processes <= 1:
        return
    DistContext(world_size=cfg.processes).check_batch(cfg.batch_size)
    from .build import pick_device
    device = pick_device(cfg.device)
    if device.type == "mps":
        raise ConfigError("several processes need CUDA GPUs or the CPU; Apple MPS trains in "
                          "one process (use --nproc 1 or --device cpu)")
    if device.type == "cuda" and cfg.processes > torch.cuda.device_count():
        raise ConfigError(f"{cfg.processes} processes need as many GPUs; this machine has "
                          f"{torch.cuda.device_count()} (use --nproc "
                          f"{torch.cuda.device_count()} or --device cpu)")


def from_env() -> DistContext:
    """The context torchrun (or SLURM via torchrun) describes in RANK, WORLD_SIZE and
    LOCAL_RANK; one process when they are absent. The process group starts later, in
    DistContext.start, once the run's device is known."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    _stop_with_launcher()
    return DistContext(rank=int(os.environ.get("RANK", "0")), world_size=world,
                       local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def _stop_with_launcher() -> None:
    """On Linux, ask for SIGTERM (which means stop) when the launching process dies, even by
    SIGKILL: torch.distributed.run starts ranks in their own sessions, so they would train on
    as orphans."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DiscardingWriter:
    """The event writer of ranks other than 0: the run folder gets rank 0's events only."""

    def __init__(self):
        self.listeners: list = []

    def emit(self, message: dict) -> None:
        pass

    def close(self) -> None:
        pass

