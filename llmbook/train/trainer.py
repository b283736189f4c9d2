"""The training loop: one readable ``Trainer`` for a language model (causal; masked or span corruption
with an ``objective``), and for fine-tuning on separate examples (:class:`llmbook.train.Examples`: a
classifier, a chat, preference pairs) with a loss the caller gives.

Each optimizer step:

1. for each of ``grad_accum_steps`` micro-batches: cut random windows (:func:`get_batch`), run the
   forward pass under ``autocast`` (bf16/fp16 on a GPU), divide the loss by the number of
   micro-batches and back-propagate (gradients add up across micro-batches);
2. clip the global gradient norm (after un-scaling, with fp16's ``GradScaler``);
3. AdamW step with the learning rate of the warmup + cosine schedule; zero the gradients.

Every ``eval_interval`` steps it estimates the train and validation loss on fixed windows, records a
sample if asked, checks early stopping and writes a checkpoint. Early stopping and ``keep_best`` watch
the validation loss, or the training loss when there is no validation data (``Trainer.monitored`` says
which; ``best_loss`` holds its best value). Evaluation and sampling run inside
``torch.random.fork_rng`` and use their own generators, so *how often* you evaluate never changes the
training trajectory, and a run stopped at step ``k``, saved, loaded and continued is bit-identical to
an uninterrupted one.

Under ``torchrun`` the same code runs data-parallel with DDP: ``batch_size`` is always the *global*
batch, split evenly over the processes, so a run gives the same losses with 1 or N processes.

``trainer.model`` is the module you built, always: evaluation, sampling, clipping, checkpoints and
``restore_best`` use it. Only the forward and backward passes of a training step go through its
``torch.compile`` and DDP wrappers (``Trainer._step_model``, a private detail).
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .. import device as _device
from . import checkpoint as _ckpt
from .batching import get_batch, shard_rows
from .examples import Examples
from .distributed import DistInfo, all_reduce_mean
from .optim import WarmupCosineSchedule, configure_optimizer

__all__ = ["TrainConfig", "History", "Trainer", "PRECISION_DTYPES", "RESUME_FIXED", "RESUME_CHANGEABLE"]

PRECISION_DTYPES = {"fp32": None, "bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}

# TrainConfig fields that a resumed run must share with its checkpoint. FIXED ones are baked into the
# optimizer, schedule and batch-generator states the checkpoint restores (a new value would be ignored);
# CHANGEABLE ones are read afresh at every step, so load_checkpoint(..., allow_changes=...) can accept
# a new value, knowing the run then differs from an uninterrupted one.
RESUME_FIXED = ("lr", "min_lr", "warmup_steps", "weight_decay", "decay_embeddings", "betas", "seed")
RESUME_CHANGEABLE = ("max_steps", "lr_decay_steps", "batch_size", "block_size", "grad_accum_steps",
                     "grad_clip", "precision")


@dataclass
class TrainConfig:
    """Everything that defines a training run (nanoGPT's names where they exist).

    ``batch_size`` is the global number of windows per micro-batch (split over DDP processes); one
    optimizer step sees ``batch_size * grad_accum_steps * block_size`` tokens.
    """

    max_steps: int = 2000
    batch_size: int = 12
    block_size: int = 64
    grad_accum_steps: int = 1
    lr: float = 1e-3
    min_lr: float | None = None  # default lr / 10 (nanoGPT)
    warmup_steps: int = 100
    lr_decay_steps: int | None = None  # default max_steps
    weight_decay: float = 0.1
    decay_embeddings: bool = False  # True: nanoGPT's rule (embedding tables decay too); see param_groups
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = 1.0
    precision: str = "fp32"  # "fp32", "bf16-mixed" or "fp16-mixed" (CUDA only)
    eval_interval: int | None = 250
    eval_steps: int = 20  # batches per split in one evaluation (nanoGPT's eval_iters)
    eval_batch_size: int | None = None  # default batch_size
    log_interval: int = 10
    early_stopping_patience: int | None = None  # evaluations without improvement before stopping
    early_stopping_min_delta: float = 0.0
    keep_best: bool = False  # keep a copy of the best weights (see Trainer.restore_best)
    sample_interval: int | None = None  # call sample_fn every this many steps (at evaluations)
    checkpoint_dir: str | None = None
    checkpoint_interval: int | None = None
    seed: int = 0  # seeds the batch generator (seed the model init yourself, before building it)
    compile: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        positive = {"max_steps": self.max_steps, "batch_size": self.batch_size, "block_size": self.block_size,
                    "grad_accum_steps": self.grad_accum_steps, "eval_steps": self.eval_steps,
                    "log_interval": self.log_interval}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        if self.precision not in PRECISION_DTYPES:
            raise ValueError(f"unknown precision {self.precision!r}: use one of {sorted(PRECISION_DTYPES)}")
        if self.lr <= 0 or (self.min_lr is not None and not 0 <= self.min_lr <= self.lr):
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None (no clipping), got {self.grad_clip}")
        if self.early_stopping_patience is not None and not self.eval_interval:
            raise ValueError("early stopping needs evaluations: set eval_interval as well as early_stopping_patience")
        self.betas = tuple(self.betas)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum_steps * self.block_size


@dataclass
class History:
    """What happened during training, as plain lists for plotting.

    Per step: ``step``, ``lr``, ``train_loss`` (the mean over the step's micro-batches and processes).
    Per log interval: ``throughput_step``, ``tokens_per_s``. Per evaluation: ``eval_step``,
    ``eval_train_loss``, ``val_loss``. Samples: ``(step, text)``.
    """

    step: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    throughput_step: list[int] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    samples: list[tuple[int, str]] = field(default_factory=list)

    def state_dict(self) -> dict[str, list]:
        return copy.deepcopy(asdict(self))

    def load_state_dict(self, state: dict[str, list]) -> None:
        for name, values in state.items():
            setattr(self, name, [tuple(v) if name == "samples" else v for v in values])


class Trainer:
    """Train ``model`` (``forward(idx, targets) -> (logits, loss)``, or any model with an ``objective``)
    on a stream of token ids.

    >>> trainer = Trainer(model, train_ids, val_ids, TrainConfig(max_steps=500, progress=False))
    >>> history = trainer.train()                    # or trainer.train(until_step=200), then more later
    >>> trainer.save_checkpoint("ckpt"); trainer.load_checkpoint("ckpt")

    Args:
        model: the module to train, moved to ``device`` and kept as ``trainer.model`` (the training
            step runs it through ``torch.compile`` and DDP when those are on).
        train_data, val_data: 1-D integer tensors of token ids (kept on the CPU; batches are copied over),
            or :class:`Examples` for fine-tuning: each step then draws ``batch_size`` random examples
            (``block_size`` is not used) and ``objective`` gives their loss.
        config: a :class:`TrainConfig`.
        device: default: GPU ``LOCAL_RANK`` under torchrun with CUDA, else :func:`llmbook.device.pick_device`.
        sample_fn: ``sample_fn(model) -> str`` called every ``sample_interval`` steps (text goes to the history).
        callbacks: each called as ``callback(trainer, record)`` after every evaluation, with
            ``record = {"step", "train_loss", "val_loss"}``.
        objective: what to learn from each batch of windows ``x``, ``y = x`` shifted by one, both
            ``(batch, block_size)``: ``objective(model, x, y, generator) -> loss``. ``None`` is the
            causal LM's next-token loss ``model(x, y)[1]``. Masked LM and span corruption
            (:mod:`llmbook.objectives`) corrupt ``x`` with ``generator``, the trainer's seeded batch
            generator in training and a fixed one in evaluation, so that evaluation always sees the
            same corruption and a resumed run continues exactly. With :class:`Examples` it is required
            and called as ``objective(model, batch, generator) -> loss`` with ``batch`` the collated
            dict of tensors on the trainer's device (e.g. ``llmbook.models.classifier.classification_loss``).

    Early stopping watches ``record[trainer.monitored]``: ``"val_loss"``, or ``"train_loss"`` when
    ``val_data`` is ``None``. ``best_loss`` and ``best_step`` are its best value and when it was seen;
    ``best_val_loss`` is that value only when it is a validation loss (else ``None``).
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: torch.Tensor,
        val_data: torch.Tensor | None = None,
        config: TrainConfig | None = None,
        *,
        device: torch.device | str | None = None,
        sample_fn: Callable[[nn.Module], str] | None = None,
        callbacks: tuple[Callable[["Trainer", dict], Any], ...] | list = (),
        objective: Callable[..., torch.Tensor] | None = None,
    ):
        self.config = config = config or TrainConfig()
        self.dist = DistInfo.from_env()
        if self.dist.enabled and not torch.distributed.is_initialized():
            raise RuntimeError("WORLD_SIZE > 1 but no process group: call llmbook.train.init_distributed() first")
        shard_rows(config.batch_size, self.dist.rank, self.dist.world_size)  # fails early on a bad split
        if device is None:
            device = f"cuda:{self.dist.local_rank}" if (self.dist.enabled and torch.cuda.is_available()) else _device.pick_device()
        self.device = torch.device(device)
        self.device_type = self.device.type
        if config.precision == "fp16-mixed" and self.device_type != "cuda":
            raise ValueError("precision 'fp16-mixed' needs a CUDA GPU (fp16 autocast + GradScaler); use 'bf16-mixed' or 'fp32' here")
        self.on_examples = isinstance(train_data, Examples)
        if val_data is not None and isinstance(val_data, Examples) != self.on_examples:
            raise TypeError("train_data and val_data must be of one kind: both token tensors or both Examples")
        if self.on_examples and objective is None:
            raise ValueError("training on Examples needs objective=loss_fn, called as loss_fn(model, batch, generator)"
                             " (e.g. llmbook.models.classifier.classification_loss)")
        for name, data in (("train_data", train_data), ("val_data", val_data)):
            if data is not None and not self.on_examples and len(data) <= config.block_size:
                raise ValueError(f"{name} has {len(data)} tokens, fewer than block_size + 1 = {config.block_size + 1}")
        self.train_data, self.val_data = train_data, val_data
        self.model: nn.Module = model.to(self.device)
        # What the training step's forward and backward run: the model, compiled and/or wrapped in DDP
        # (which all-reduces the gradients during backward). Evaluation and sampling run self.model:
        # no gradients to synchronise, and no recompilation for eval mode.
        self._step_model: nn.Module = torch.compile(self.model) if config.compile else self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device_type == "cuda" else None
            self._step_model = DDP(self._step_model, device_ids=ids)
        self.optimizer = configure_optimizer(self.model, config.lr, config.weight_decay, config.betas,
                                             device_type=self.device_type, decay_embeddings=config.decay_embeddings)
        min_lr = config.min_lr if config.min_lr is not None else config.lr / 10
        self.scheduler = WarmupCosineSchedule(self.optimizer, config.warmup_steps,
                                              config.lr_decay_steps or config.max_steps, min_lr / config.lr)
        self.scaler = torch.amp.GradScaler(self.device_type if self.device_type == "cuda" else "cpu",
                                           enabled=config.precision == "fp16-mixed")
        self.generator = torch.Generator().manual_seed(config.seed)
        self.sample_fn, self.callbacks = sample_fn, list(callbacks)
        self.objective = objective
        self.step = 0
        self.history = History()
        self.monitored = "val_loss" if val_data is not None else "train_loss"  # what early stopping watches
        self.best_loss = math.inf  # the best (lowest) evaluated value of the monitored loss
        self.best_step = -1
        self.evals_without_improvement = 0
        self.stopped_early = False
        self.best_state: dict[str, torch.Tensor] | None = None
        self._tokens_in_window = 0  # tokens trained on since the last throughput log (Examples only)

    # ------------------------------------------------------------------ pieces of the loop

    def autocast(self):
        """The mixed-precision context of this run (a no-op for fp32)."""
        dtype = PRECISION_DTYPES[self.config.precision]
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=dtype)

    def _batch(self, data: torch.Tensor | Examples, batch_size: int, generator: torch.Generator):
        """Windows ``(x, y)`` cut from a token stream, or a dict of tensors of random examples."""
        if isinstance(data, Examples):
            batch = data.sample(batch_size, generator, rank=self.dist.rank, world_size=self.dist.world_size)
            self._tokens_in_window += Examples.tokens(batch) * self.dist.world_size
            return Examples.to_device(batch, self.device)
        return get_batch(data, self.config.block_size, batch_size, generator, device=self.device,
                         rank=self.dist.rank, world_size=self.dist.world_size)

    def _loss(self, model: nn.Module, batch: Any, generator: torch.Generator) -> torch.Tensor:
        """The loss of one batch: the model's next-token loss on windows, or the objective's."""
        if self.on_examples:
            return self.objective(model, batch, generator)
        x, y = batch
        if self.objective is None:
            return model(x, y)[1]
        return self.objective(model, x, y, generator)

    def train_step(self) -> torch.Tensor:
        """One optimizer step (all micro-batches); returns this process's mean loss (a detached tensor)."""
        cfg = self.config
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(cfg.grad_accum_steps):
            batch = self._batch(self.train_data, cfg.batch_size, self.generator)
            last = micro == cfg.grad_accum_steps - 1
            # Under DDP, skip the gradient all-reduce on all but the last micro-batch.
            sync = nullcontext() if (last or not self.dist.enabled) else self._step_model.no_sync()
            with sync:
                with self.autocast():
                    loss = self._loss(self._step_model, batch, self.generator)
                loss = loss / cfg.grad_accum_steps
                self.scaler.scale(loss).backward()
            loss_sum += loss.detach().float()
        if cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the fp16-scaled ones
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        return loss_sum

    @torch.no_grad()
    def estimate_loss(self, data: torch.Tensor, n_batches: int | None = None, seed: int | None = None) -> float:
        """Mean loss over ``n_batches`` fixed random windows of ``data`` (the same windows at every call)."""
        cfg = self.config
        n_batches = n_batches or cfg.eval_steps
        generator = torch.Generator().manual_seed(cfg.seed + 1 if seed is None else seed)
        was_training = self.model.training
        self.model.eval()
        total = torch.zeros((), device=self.device)
        for _ in range(n_batches):
            tokens = self._tokens_in_window
            batch = self._batch(data, cfg.eval_batch_size or cfg.batch_size, generator)
            self._tokens_in_window = tokens  # evaluation batches are not training throughput
            with self.autocast():
                loss = self._loss(self.model, batch, generator)
            total += loss.float()
        self.model.train(was_training)
        return all_reduce_mean(total / n_batches).item()

    @property
    def best_val_loss(self) -> float | None:
        """The best validation loss so far (``inf`` before the first evaluation); ``None`` when there is
        no validation data, where early stopping watches the training loss (see ``best_loss``)."""
        return self.best_loss if self.monitored == "val_loss" else None

    @property
    def raw_model(self) -> nn.Module:
        """Deprecated: the module you built is ``trainer.model``."""
        warnings.warn("Trainer.raw_model is deprecated: use Trainer.model (the module you built)",
                      DeprecationWarning, stacklevel=2)
        return self.model

    def evaluate(self) -> dict[str, float]:
        """Estimate train and validation loss, append them to the history, run callbacks and early stopping."""
        with torch.random.fork_rng(devices=self._rng_devices()):
            train_loss = self.estimate_loss(self.train_data, seed=self.config.seed + 1)
            val_loss = self.estimate_loss(self.val_data, seed=self.config.seed + 2) if self.val_data is not None else math.nan
        h = self.history
        h.eval_step.append(self.step)
        h.eval_train_loss.append(train_loss)
        h.val_loss.append(val_loss)
        record = {"step": self.step, "train_loss": train_loss, "val_loss": val_loss}
        if record[self.monitored] < self.best_loss - self.config.early_stopping_min_delta:
            self.best_loss, self.best_step, self.evals_without_improvement = record[self.monitored], self.step, 0
            if self.config.keep_best:
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.evals_without_improvement += 1
        patience = self.config.early_stopping_patience
        if patience is not None and self.evals_without_improvement >= patience:
            self.stopped_early = True
        for callback in self.callbacks:
            callback(self, record)
        return record

    def sample(self) -> str:
        """Call ``sample_fn`` on the model in eval mode, without disturbing the training RNG."""
        if self.sample_fn is None:
            raise ValueError("no sample_fn was given to the Trainer")
        with torch.random.fork_rng(devices=self._rng_devices()):
            was_training = self.model.training
            self.model.eval()
            text = self.sample_fn(self.model)
            self.model.train(was_training)
        self.history.samples.append((self.step, text))
        return text

    def restore_best(self) -> None:
        """Put back the weights of the best evaluation (needs ``keep_best=True``)."""
        if self.best_state is None:
            raise ValueError("no best weights were kept: set TrainConfig(keep_best=True) and evaluate at least once")
        self.model.load_state_dict(self.best_state)

    def _rng_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device_type == "cuda" else []

    # ------------------------------------------------------------------ the loop

    def train(self, until_step: int | None = None) -> History:
        """Train until ``self.step == until_step`` (default ``config.max_steps``) or early stopping."""
        from tqdm import tqdm  # plain text bar: works in terminals, notebooks and logs alike

        cfg = self.config
        target = cfg.max_steps if until_step is None else until_step
        if target > cfg.max_steps:
            raise ValueError(f"until_step={target} is past max_steps={cfg.max_steps} (the schedule ends there)")
        self.model.train()
        show = cfg.progress and self.dist.is_main
        bar = tqdm(total=cfg.max_steps, initial=self.step, disable=not show, desc="train", leave=True)
        if cfg.eval_interval and self.step == 0 and 0 not in self.history.eval_step:
            self.evaluate()
        pending: list[tuple[int, float, torch.Tensor]] = []
        t0, steps_in_window, self._tokens_in_window = time.perf_counter(), 0, 0
        try:
            while self.step < target and not self.stopped_early:
                lr = self.optimizer.param_groups[0]["lr"]
                pending.append((self.step + 1, lr, self.train_step()))
                steps_in_window += 1
                end = self.step == target
                evaluate_now = bool(cfg.eval_interval) and (self.step % cfg.eval_interval == 0 or self.step == cfg.max_steps)
                if self.step % cfg.log_interval == 0 or end or evaluate_now:
                    loss = self._flush(pending)
                    tokens = self._tokens_in_window if self.on_examples else steps_in_window * cfg.tokens_per_step
                    tokens_per_s = tokens / max(time.perf_counter() - t0, 1e-9)
                    self.history.throughput_step.append(self.step)
                    self.history.tokens_per_s.append(tokens_per_s)
                    bar.update(steps_in_window)
                    bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{tokens_per_s:,.0f}", lr=f"{lr:.2e}")
                    steps_in_window, self._tokens_in_window = 0, 0
                if evaluate_now:
                    record = self.evaluate()
                    if show:
                        bar.write(f"step {self.step}: train {record['train_loss']:.4f}, val {record['val_loss']:.4f}")
                if self.sample_fn is not None and cfg.sample_interval and self.step % cfg.sample_interval == 0:
                    text = self.sample()
                    if show:
                        bar.write(f"--- sample at step {self.step} ---\n{text}")
                if cfg.checkpoint_dir and cfg.checkpoint_interval and self.step % cfg.checkpoint_interval == 0:
                    if pending:  # the checkpoint's history must hold every step it has trained
                        self._flush(pending)
                    self.save_checkpoint(cfg.checkpoint_dir)
                if evaluate_now or steps_in_window == 0:
                    t0 = time.perf_counter()  # evaluation, sampling and saving are not training time
            if pending:
                self._flush(pending)
        finally:
            bar.close()
        return self.history

    def _flush(self, pending: list) -> float:
        """Move the pending per-step losses to the history (one device sync and one all-reduce)."""
        losses = all_reduce_mean(torch.stack([loss for _, _, loss in pending])).tolist()
        for (step, lr, _), loss in zip(pending, losses):
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at step {step}: the loss is {loss}; lower the learning rate, "
                    f"enable gradient clipping or use bf16 instead of fp16"
                )
            self.history.step.append(step)
            self.history.lr.append(lr)
            self.history.train_loss.append(loss)
        pending.clear()
        return losses[-1]

    # ------------------------------------------------------------------ checkpoints

    def _trainer_state(self) -> dict[str, Any]:
        return {"history": self.history.state_dict(), "config": asdict(self.config),
                "monitored": self.monitored, "best_loss": self.best_loss, "best_step": self.best_step,
                "evals_without_improvement": self.evals_without_improvement, "stopped_early": self.stopped_early}

    def save_checkpoint(self, path: str | None = None) -> None:
        """Save model, optimizer, scheduler, scaler, RNG states, step and history (main process only)."""
        path = path or self.config.checkpoint_dir
        if path is None:
            raise ValueError("no checkpoint path: pass one or set TrainConfig.checkpoint_dir")
        if self.dist.is_main:
            _ckpt.save_checkpoint(path, self.model, self.optimizer, self.scheduler, step=self.step,
                                  generator=self.generator, scaler=self.scaler, extra=self._trainer_state())
        if self.dist.enabled:
            torch.distributed.barrier()

    def _config_changes(self, extra: dict[str, Any], allow_changes: tuple[str, ...]) -> dict[str, tuple]:
        """The fields of the saved TrainConfig that this trainer's config changes; refuses the ones that
        would break the resumed run (see :meth:`load_checkpoint`)."""
        saved, now = extra.get("config"), asdict(self.config)
        if not saved:
            return {}  # a checkpoint saved without its config: nothing to compare
        plain = lambda value: tuple(value) if isinstance(value, (list, tuple)) else value  # noqa: E731
        changes = {name: (saved[name], now[name]) for name in RESUME_FIXED + RESUME_CHANGEABLE
                   if name in saved and plain(saved[name]) != plain(now[name])}
        listed = lambda names: "; ".join(f"{n}: {changes[n][0]!r} in the checkpoint, {changes[n][1]!r} now"  # noqa: E731
                                         for n in names)
        fixed = [name for name in changes if name in RESUME_FIXED]
        if fixed:
            raise _ckpt.CheckpointError(
                f"this TrainConfig differs from the checkpoint's in {listed(fixed)}. These live in the "
                f"optimizer, schedule and batch-generator states the checkpoint restores, so the new values "
                f"would be reported but not used: resume with the checkpoint's values, or start a new run "
                f"from its weights (llmbook.train.load_checkpoint(path, model) without an optimizer)")
        refused = [name for name in changes if name not in allow_changes]
        if refused:
            raise _ckpt.CheckpointError(
                f"this TrainConfig differs from the checkpoint's in {listed(refused)}: the resumed run would "
                f"not be the one the checkpoint started. Resume with the same values, or say so with "
                f"load_checkpoint(path, allow_changes={tuple(refused)!r})")
        return changes

    def load_checkpoint(self, path: str, allow_changes: tuple[str, ...] | list[str] = ()) -> None:
        """Restore everything :meth:`save_checkpoint` saved; training then continues bit-identically.

        The checkpoint's ``TrainConfig`` must match this trainer's in every field that shapes the run
        (``RESUME_FIXED`` and ``RESUME_CHANGEABLE``), or a :class:`CheckpointError` names each difference
        and nothing is loaded. ``allow_changes`` accepts new values of ``RESUME_CHANGEABLE`` fields, e.g.
        ``("max_steps",)`` to train longer (the cosine schedule is stretched to the new length from the
        current step on); a warning says what changed."""
        unknown = sorted(set(allow_changes) - set(RESUME_CHANGEABLE))
        if unknown:
            raise ValueError(f"allow_changes={unknown}: only {RESUME_CHANGEABLE} can change on resume")
        changes: dict[str, tuple] = {}

        def check(extra: dict[str, Any]) -> None:
            changes.update(self._config_changes(extra, tuple(allow_changes)))

        loaded = _ckpt.load_checkpoint(path, self.model, self.optimizer, self.scheduler,
                                       generator=self.generator, scaler=self.scaler, check_extra=check)
        if changes:
            # The scheduler's state holds the schedule's length: give it the new one.
            self.scheduler.decay_steps = self.config.lr_decay_steps or self.config.max_steps
            warnings.warn("resuming with a changed TrainConfig: " + "; ".join(
                f"{name} {old!r} -> {new!r}" for name, (old, new) in changes.items())
                + " (the run from here on differs from an uninterrupted one)", stacklevel=2)
        self.step = loaded["step"]
        extra = loaded["extra"]
        self.history = History()
        self.history.load_state_dict(extra.get("history", {}))
        self.stopped_early = extra.get("stopped_early", False)
        if extra.get("monitored", self.monitored) != self.monitored:
            warnings.warn(f"the checkpoint's early stopping watched {extra['monitored']}, this trainer "
                          f"watches {self.monitored}: its best loss is not carried over", stacklevel=2)
            extra = {}  # the best so far was of another loss: start the search anew
        # Older checkpoints stored the monitored loss as "best_val_loss", whichever loss it was (the
        # rule that picks it has not changed), and did not name it.
        self.best_loss = extra.get("best_loss", extra.get("best_val_loss", math.inf))
        self.best_step = extra.get("best_step", -1)
        self.evals_without_improvement = extra.get("evals_without_improvement", 0)
