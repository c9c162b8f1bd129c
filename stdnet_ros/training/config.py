"""Training configuration: a YAML file (optionally ``base: other.yaml``, merged underneath) plus overrides.

Sections and keys (every key is optional; the defaults are the dataclass defaults below):

  model:       preset, then any STDNetConfig field (scale, directions, channels, ...)
  data:        DataConfig        training clips
  validation:  ValidationConfig  the validation split (never the test split)
  degradation: DegradationDistribution (degradation_sampling.py) of the per-clip LR simulation
  loss:        LossConfig        reconstruction term and the weight of the difference terms
  optim:       OptimConfig       Adam, linear warm-up, step decay, batch, gradient clipping
  run:         RunConfig         seed, output folder, logging, checkpoints, final weights

Overrides are "section.key=value" strings; the value is read as YAML (``optim.milestones=[10, 20]``).
"""

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from ..data.scene import MOTIONS
from ..model.config import STDNetConfig, preset_config
from ..model.losses import RECONSTRUCTIONS
from .degradation_sampling import DegradationDistribution

SOURCES = ("generator", "folders", "tartanair")


TRAIN_PRECISIONS = ("auto", "fp32", "bf16")  # fp16 would need loss scaling


class ConfigError(ValueError):
    """A training config that cannot be used; the message names the file or override and the key."""


@dataclass(frozen=True)
class DataConfig:
    source: str = "generator"  # generator | folders | tartanair
    roots: tuple[str, ...] = ()  # folders / tartanair: sequence folders or folders of them
    frames: int = 7  # clip length T
    patch: int = 192  # HR patch side in pixels (square), a multiple of the scale
    sequences: int = 4000  # generator: distinct training scenes, seeds split_seed("train", 0 .. n-1)
    width: int = 320  # generator: render size in pixels (patch-friendly; crops come from it)
    height: int = 240
    motion: str = "mixed"
    cache_dir: str | None = None  # generator: keep rendered clips here (.npz), shared between runs
    workers: int = 0  # DataLoader worker processes per rank


@dataclass(frozen=True)
class ValidationConfig:
    every: int = 2000  # iterations between validations; 0 = never
    roots: tuple[str, ...] = ()  # validation dataset folders; empty = the generator's "val" split
    sequences: int = 4  # generator val split: number of sequences, frames each, render size
    frames: int = 24
    width: int = 320
    height: int = 240


@dataclass(frozen=True)
class LossConfig:
    reconstruction: str = "charbonnier"  # charbonnier (the paper) | mse (model/losses.py)
    beta: float = 0.01  # weight of the spatial and temporal difference terms
    gamma_tc: float = 0.0  # weight of the temporal-consistency term (model/losses.py)


@dataclass(frozen=True)
class OptimConfig:
    iterations: int = 60000
    batch_size: int = 8  # clips per process and step
    lr: float = 1e-4  # Adam, default betas, no weight decay
    warmup: int = 0  # steps of linear warm-up from lr / warmup to lr
    milestones: tuple[int, ...] = (40000, 50000)  # steps where the learning rate is multiplied by gamma
    gamma: float = 0.2
    clip_grad_norm: float = 1.0  # max global L2 norm of the gradients
    precision: str = "auto"  # forward under bf16 autocast: auto (where the device computes bf16 natively), fp32, bf16


@dataclass(frozen=True)
class RunConfig:
    seed: int = 7240
    out_dir: str | None = None  # checkpoints, log.csv and config.yaml go here; a run there is resumed
    weights: str | None = None  # final weights (model only) path, or "shipped" for the package's shipped path
    init_weights: str | None = None  # start (step 0) from these weights: same architecture, any scale/directions
    log_every: int = 50
    checkpoint_every: int = 500


@dataclass(frozen=True)
class TrainConfig:
    model: dict = field(default_factory=lambda: {"preset": "stdnet-lite"})
    data: DataConfig = DataConfig()
    validation: ValidationConfig = ValidationConfig()
    degradation: DegradationDistribution = DegradationDistribution()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    run: RunConfig = RunConfig()

    @property
    def preset(self) -> str:
        return self.model["preset"]

    def model_config(self) -> STDNetConfig:
        overrides = {k: v for k, v in self.model.items() if k != "preset"}
        return preset_config(self.preset, **overrides)

    def to_dict(self) -> dict:
        out = {"model": dict(self.model)}
        for f in fields(self):
            if f.name != "model":
                out[f.name] = {
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in dataclasses.asdict(getattr(self, f.name)).items()
                }
        return out


SECTIONS = {f.name: f.type for f in fields(TrainConfig) if f.name != "model"}


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """The config of a YAML file (None: all defaults) with "section.key=value" overrides applied on top."""
    raw = _read_yaml(Path(path)) if path is not None else {}
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(f"override {item!r}: expected section.key=value")
        raw.setdefault(parts[0], {})
        if not isinstance(raw[parts[0]], dict):
            raise ConfigError(f"override {item!r}: {parts[0]} is not a section")
        raw[parts[0]][parts[1]] = yaml.safe_load(value)
    return build_config(raw, str(path) if path is not None else "defaults")


def _read_yaml(path: Path, seen: tuple = ()) -> dict:
    """The file's mapping with its ``base`` file (relative to it) merged underneath, section by section."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: circular 'base' chain")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    base = data.pop("base", None)
    if base is None:
        return data
    merged = _read_yaml(path.parent / base, seen + (path.resolve(),))
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def build_config(raw: dict, origin: str) -> TrainConfig:
    """Check every section and key of a mapping and build the config; errors name ``origin`` and the key."""
    unknown = sorted(set(raw) - set(SECTIONS) - {"model"})
    if unknown:
        raise ConfigError(f"{origin}: unknown section(s) {unknown}; expected model, {', '.join(SECTIONS)}")
    sections = {}
    for name, cls in SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: section {name!r} must be a mapping")
        sections[name] = _section(cls, values, f"{origin}: {name}")
    model = {"preset": "stdnet-lite", **(raw.get("model") or {})}
    config = TrainConfig(model=model, **sections)
    try:
        model_config = config.model_config()
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{origin}: model: {err}") from err
    _check(config, model_config, origin)
    return config


def _section(cls, values: dict, where: str):
    defaults = {f.name: f.default for f in fields(cls)}
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; expected {sorted(defaults)}")
    checked = {}
    for key, value in values.items():
        default = defaults[key]
        if isinstance(default, float) and isinstance(value, str):
            value = _float(value, f"{where}.{key}")  # YAML reads 1e-4 (no dot) as a string
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where}.{key}: expected a list, got {value!r}")
            value = tuple(value)
        elif isinstance(default, bool) or (
            default is not None
            and not isinstance(value, type(default))
            and not (isinstance(default, float) and isinstance(value, int))
        ):
            raise ConfigError(f"{where}.{key}: expected {type(default).__name__}, got {value!r}")
        elif default is None and value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}.{key}: expected a string or null, got {value!r}")
        checked[key] = value
    try:
        return cls(**checked)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def _float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError as err:
        raise ConfigError(f"{where}: expected a number, got {text!r}") from err


def _check(config: TrainConfig, model: STDNetConfig, origin: str) -> None:
    d, v, o, r = config.data, config.validation, config.optim, config.run
    checks = [
        (d.source in SOURCES, f"data.source: expected one of {SOURCES}, got {d.source!r}"),
        (
            (d.source == "generator") != bool(d.roots),
            f"data.roots: dataset folders are needed for source {d.source!r} and unused by 'generator', "
            f"got {list(d.roots)}",
        ),
        (d.motion in MOTIONS, f"data.motion: expected one of {MOTIONS}, got {d.motion!r}"),
        (d.frames >= 3, f"data.frames: at least 3 (the temporal loss compares t and t+2), got {d.frames}"),
        (
            d.patch > 0 and d.patch % model.scale == 0 and d.patch % 4 == 0,
            f"data.patch: a positive multiple of the scale {model.scale} and of 4, got {d.patch}",
        ),
        (
            d.source != "generator" or (d.patch <= min(d.width, d.height) and d.sequences > 0),
            f"data.patch {d.patch} must fit in the render size {d.width}x{d.height}, with data.sequences > 0",
        ),
        (d.workers >= 0, f"data.workers: >= 0, got {d.workers}"),
        (v.every >= 0 and v.sequences > 0 and v.frames > 0, "validation: every >= 0, sequences and frames > 0"),
        (
            o.iterations > 0 and o.batch_size > 0 and o.lr > 0 and o.clip_grad_norm > 0 and o.warmup >= 0,
            "optim: iterations, batch_size, lr and clip_grad_norm must be > 0, warmup >= 0",
        ),
        (
            config.loss.reconstruction in RECONSTRUCTIONS,
            f"loss.reconstruction: expected one of {RECONSTRUCTIONS}, got {config.loss.reconstruction!r}",
        ),
        (config.loss.beta >= 0, f"loss.beta: >= 0, got {config.loss.beta}"),
        (config.loss.gamma_tc >= 0, f"loss.gamma_tc: >= 0, got {config.loss.gamma_tc}"),
        (list(o.milestones) == sorted(o.milestones), f"optim.milestones: increasing, got {list(o.milestones)}"),
        (o.precision in TRAIN_PRECISIONS, f"optim.precision: expected one of {TRAIN_PRECISIONS}, got {o.precision!r}"),
        (r.log_every > 0 and r.checkpoint_every > 0, "run: log_every and checkpoint_every must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{origin}: {message}")


def learning_rate(optim: OptimConfig, step: int) -> float:
    """Linear warm-up over the first ``warmup`` steps, then step decay: lr * gamma ** (milestones <= step)."""
    warm = min(1.0, (step + 1) / optim.warmup) if optim.warmup else 1.0
    return warm * optim.lr * optim.gamma ** sum(step >= m for m in optim.milestones)
