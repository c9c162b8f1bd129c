"""The training loop: one process or many (DistributedDataParallel under torchrun), resumable exactly.

Per step: the sample indices of this rank (clips.StepBatches), the forward under bf16 autocast where the device
computes bf16 natively (optim.precision "auto": CUDA sm80+, AMX / AVX512-BF16 CPUs; emulated bf16 measured 9x slower
than fp32 on an AVX2 CPU), the loss in fp32 (model/losses.py), backward, gradient clipping,
a stop on a non-finite loss or gradient (TrainingDiverged, before the weights change), Adam with warm-up and step
decay. The output folder holds config.yaml, log.csv, last.safetensors (the latest checkpoint) and
best.safetensors (the checkpoint with the lowest validation RMSE); a run whose folder has last.safetensors is
resumed from it. When the last iteration is done the best checkpoint's model (the final one if validation is
off) is written as weights.
"""

import csv
import time
from pathlib import Path

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..model import STDNet, build_model, load_weights
from ..model.losses import STDNetLoss
from ..model.network import ForwardAux
from ..shipped import shipped_weights_path
from ..streaming import resolve_precision
from .checkpoint import export_weights, load_checkpoint, save_checkpoint
from .clips import DatasetClips, GeneratorClips, StepBatches, TrainClips
from .config import ConfigError, TrainConfig, learning_rate
from .distributed import Distributed
from .validation import Validator

LOSS_TERMS = ("total", "rec", "sd", "td")
LOG_COLUMNS = (
    "step",
    "clips",
    "lr",
    "loss",
    "rec",
    "sd",
    "td",
    "grad_norm",
    "it_per_s",
    "clips_per_s",
    "val_rmse_cm",
    "val_mae_cm",
    "val_edge_rmse_cm",
    "val_tepe_cm",
)
VAL_KEYS = ("rmse_cm", "mae_cm", "edge_rmse_cm", "tepe_cm")


class TrainingDiverged(RuntimeError):
    """A non-finite loss or gradient: training stops, the weights of the last good checkpoint stay on disk."""


class TrainModule(nn.Module):
    """The network and its loss as one module, so DDP averages the gradients of both (the loss's difference
    projections are trained too). Forward: lr (N, T, 1, h, w) m, rgb (N, T, 3, H, W), gt (N, T, 1, H, W) m."""

    def __init__(self, model: STDNet, loss: STDNetLoss, bf16: bool):
        super().__init__()
        self.model, self.loss, self.bf16 = model, loss, bf16

    def forward(self, lr: torch.Tensor, rgb: torch.Tensor, gt: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast(lr.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            pred, aux = self.model(lr, rgb, return_aux=True)
        aux = ForwardAux([s.float() for s in aux.sigmas], [a.float() for a in aux.anchors], aux.scale_m.float())
        return self.loss(pred.float(), gt, aux)


def weights_path(config: TrainConfig) -> Path | None:
    """Where the final weights go: run.weights, with "shipped" meaning the package's shipped path."""
    if config.run.weights is None:
        return None
    if config.run.weights == "shipped":
        model = config.model_config()
        return shipped_weights_path(config.preset, model.scale, model.directions)
    return Path(config.run.weights)


def start_at_upsampled_lr(model: STDNet) -> None:
    """Zero the last conv of every stage's head, so training starts from depth = the upsampled LR (zero residual).

    With the default init the head's biases give a random residual of about 1.5 m; cancelling it first, the
    network settles on a near-zero residual it is slow to leave (the first CPU weights did not leave it in 1000
    steps). From zero, a fixed batch leaves that plateau within a few hundred steps at lr 1e-3.
    """
    for stage in model.stages:
        nn.init.zeros_(stage.head[-1].weight)
        nn.init.zeros_(stage.head[-1].bias)


def initialise_from(model: STDNet, path: str) -> None:
    """Load another model's weights to fine-tune from. Scale, direction pattern and alignment may differ (none
    changes a tensor: the network works at HR/4, a pass's weights do not depend on its direction, and flow-guided
    offsets are the same convolution's output plus the flow); every other architecture field must match."""
    source = load_weights(path)
    have, want = source.config.to_dict(), model.config.to_dict()
    wrong = [
        f"{k}={have[k]!r} (this run: {want[k]!r})"
        for k in want
        if k not in ("scale", "directions", "alignment") and have[k] != want[k]
    ]
    if wrong:
        raise ConfigError(f"run.init_weights {path}: another architecture: {', '.join(wrong)}")
    model.load_state_dict(source.state_dict())


def build_source(config: TrainConfig):
    d = config.data
    if d.source == "generator":
        return GeneratorClips(d.sequences, d.frames, d.width, d.height, d.motion, d.cache_dir)
    return DatasetClips(list(d.roots), d.frames, d.source, d.patch)


class CsvLog:
    """log.csv: one row per logging interval and per validation; rows after ``resume_step`` are dropped."""

    def __init__(self, path: Path, resume_step: int):
        self.path = path
        rows = []
        if path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, **row) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS).writerow(row)


class Trainer:
    def __init__(self, config: TrainConfig, dist: Distributed):
        if config.run.out_dir is None:
            raise ConfigError("run.out_dir: not set (pass --out DIR)")
        self.config, self.dist, self.device = config, dist, dist.device
        self.out_dir = Path(config.run.out_dir)
        torch.manual_seed(config.run.seed)
        model_config = config.model_config()
        self.model = build_model(config.preset, **model_config.to_dict()).to(self.device)
        self.loss = STDNetLoss(
            model_config.channels, config.loss.reconstruction, beta=config.loss.beta, gamma_tc=config.loss.gamma_tc
        ).to(self.device)
        self.precision = resolve_precision(config.optim.precision, self.device)
        self.module = TrainModule(self.model, self.loss, bf16=self.precision == "bf16")
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=config.optim.lr)
        self.step, self.run_state = 0, {"best": None}
        last = self.out_dir / "last.safetensors"
        if last.is_file():
            self.step, self.run_state = load_checkpoint(last, self.model, self.loss, self.optimizer)
            self.print(f"resuming {last} at step {self.step}")
        elif config.run.init_weights:
            initialise_from(self.model, config.run.init_weights)
            self.print(f"starting from the weights {config.run.init_weights}")
        else:
            start_at_upsampled_lr(self.model)
        self.print(f"forward precision {self.precision} on {self.device}")
        self.ddp = DistributedDataParallel(self.module) if dist.enabled else self.module
        self.validator = Validator(config, model_config.scale, self.device)
        self.dataset = TrainClips(
            build_source(config), config.data.patch, model_config.scale, config.degradation, config.run.seed
        )

    def print(self, text: str) -> None:
        if self.dist.is_main:
            tqdm.write(text)

    def loader(self) -> DataLoader:
        workers = self.config.data.workers
        batches = StepBatches(self.step, self.config.optim.batch_size, self.dist.rank, self.dist.world_size)
        return DataLoader(
            self.dataset,
            batch_sampler=batches,
            num_workers=workers,
            worker_init_fn=_single_thread if workers else None,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers else None,
        )

    def train_step(self, batch: dict) -> torch.Tensor:
        """One optimiser step; returns the detached (total, rec, sd, td, grad_norm) on the device."""
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config.optim, self.step)
        inputs = [batch[k].to(self.device, non_blocking=True) for k in ("lr", "rgb", "gt")]
        losses = self.ddp(*inputs)
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        grad_norm = nn.utils.clip_grad_norm_(self.module.parameters(), self.config.optim.clip_grad_norm)
        if not bool(torch.isfinite(torch.stack([losses["total"].detach(), grad_norm])).all()):
            raise TrainingDiverged(
                f"step {self.step + 1}: non-finite loss {losses['total'].item()} or gradient norm {grad_norm.item()}; "
                f"stopped before updating the weights. The last good checkpoint is {self.out_dir / 'last.safetensors'}"
                f" (saved every {self.config.run.checkpoint_every} steps); lower optim.lr or raise optim.warmup"
            )
        self.optimizer.step()
        self.step += 1
        return torch.stack([losses[k].detach() for k in LOSS_TERMS] + [grad_norm.detach()])

    def run(self, max_iters: int | None = None, max_minutes: float | None = None) -> bool:
        """Train until the configured iterations, ``max_iters`` more steps or ``max_minutes`` of wall time;
        saves last.safetensors when stopping. Returns whether training is complete (weights written)."""
        total = self.config.optim.iterations
        stop_at = total if max_iters is None else min(total, self.step + max_iters)
        log = None
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.yaml").write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))
            log = CsvLog(self.out_dir / "log.csv", self.step)
        start = time.monotonic()
        if self.step == 0 and self.config.validation.every:
            self._validate(log)  # the starting point (the upsampled LR from scratch) is the curve's first value
        if self.step < stop_at:
            self._loop(stop_at, start, max_minutes, log)
            if self.dist.is_main:
                self._save("last.safetensors")
        self.dist.barrier()
        done = self.step >= total
        if done and self.dist.is_main and weights_path(self.config) is not None:
            best = self.out_dir / "best.safetensors"
            export_weights(best if best.is_file() else self.out_dir / "last.safetensors", weights_path(self.config))
            self.print(f"weights written to {weights_path(self.config)}")
        return done

    def _loop(self, stop_at: int, start: float, max_minutes: float | None, log: CsvLog | None) -> None:
        run, optim = self.config.run, self.config.optim
        clips_per_step = optim.batch_size * self.dist.world_size
        sums, count, tick = None, 0, time.perf_counter()
        bar = tqdm(
            total=optim.iterations,
            initial=self.step,
            disable=not self.dist.is_main,
            dynamic_ncols=True,
            desc=self.out_dir.name,
            unit="it",
        )
        batches = iter(self.loader())
        self.module.train()
        while self.step < stop_at:
            values = self.train_step(next(batches))
            sums = values if sums is None else sums + values
            count += 1
            bar.update(1)
            if self.step % run.log_every == 0 or self.step == stop_at:
                means = self.dist.mean(sums / count).tolist()
                elapsed = time.perf_counter() - tick
                row = dict(zip(("loss", "rec", "sd", "td", "grad_norm"), means))
                row.update(
                    step=self.step,
                    clips=self.step * clips_per_step,
                    lr=learning_rate(optim, self.step - 1),
                    it_per_s=count / elapsed,
                    clips_per_s=count * clips_per_step / elapsed,
                )
                bar.set_postfix(loss=f"{row['loss']:.5f}", clips_s=f"{row['clips_per_s']:.2f}")
                if log is not None:
                    log.write(**row)
                sums, count, tick = None, 0, time.perf_counter()
            every = self.config.validation.every
            if every and (self.step % every == 0 or self.step == optim.iterations):
                self._validate(log)
            if self.dist.is_main and self.step % run.checkpoint_every == 0:
                self._save("last.safetensors")
            if max_minutes is not None and self._time_up(start, max_minutes):
                break
        bar.close()

    def _time_up(self, start: float, max_minutes: float) -> bool:
        """Whether any rank has run out of time (all ranks agree, so they stop at the same step)."""
        local = torch.tensor([float(time.monotonic() - start >= 60.0 * max_minutes)], device=self.device)
        return bool(self.dist.mean(local).item() > 0)

    def _validate(self, log: CsvLog | None) -> None:
        if self.dist.is_main:
            result = self.validator(self.model)
            self.print(
                f"step {self.step}: validation "
                + ", ".join(f"{k} {result[k]:.2f}" for k in VAL_KEYS if result[k] is not None)
            )
            log.write(
                step=self.step,
                clips=self.step * self.config.optim.batch_size * self.dist.world_size,
                **{f"val_{k}": result[k] for k in VAL_KEYS},
            )
            best = self.run_state["best"]
            if result["rmse_cm"] is not None and (best is None or result["rmse_cm"] < best["rmse_cm"]):
                self.run_state["best"] = {"step": self.step, **{k: result[k] for k in VAL_KEYS}}
                self._save("best.safetensors")
        self.dist.barrier()

    def _save(self, name: str) -> None:
        save_checkpoint(self.out_dir / name, self.model, self.loss, self.optimizer, self.step, self.run_state)


def _single_thread(_worker_id: int) -> None:
    """DataLoader workers render and degrade with one thread each (many workers share the cores)."""
    torch.set_num_threads(1)
