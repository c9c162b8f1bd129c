"""Weights as safetensors only (never pickle). The model config and preset travel in the file's metadata, so
loading rebuilds exactly the model the tensors belong to."""

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import STDNetConfig
from .network import STDNet
from .normalisation import NORMALISATION

FORMAT = "stdnet_ros/weights/v1"


class WeightsError(ValueError):
    """A weights file that cannot be used; the message names the file and what is wrong."""


def save_weights(model: STDNet, path: str | Path) -> None:
    """Write the model's tensors and its config/preset metadata to a .safetensors file."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "preset": model.preset,
        "config": json.dumps(model.config.to_dict()),
        "normalisation": NORMALISATION,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def checked_metadata(
    path: str | Path, expected_format: str, kind: str = "weights file", error: type[ValueError] | None = None
) -> dict:
    """The metadata of a safetensors file, which must exist, parse and carry ``expected_format``; any problem
    raises ``error`` (WeightsError by default) naming the ``kind`` of file, its path and the problem."""
    error = error or WeightsError
    path = Path(path)
    if not path.is_file():
        raise error(f"{kind} {path}: does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for every malformed header
        raise error(f"{kind} {path}: not a safetensors file ({exc})") from exc
    if metadata.get("format") != expected_format:
        raise error(f"{kind} {path}: metadata format is {metadata.get('format')!r}, expected {expected_format!r}")
    return metadata


def read_metadata(path: str | Path) -> tuple[STDNetConfig, str]:
    """(config, preset) stored in a weights file, without loading its tensors."""
    metadata = checked_metadata(path, FORMAT)
    if metadata.get("normalisation") != NORMALISATION:
        raise WeightsError(
            f"weights file {path}: made under the depth normalisation "
            f"{metadata.get('normalisation', 'fixed 30 m (before frame scales)')!r}, this code uses "
            f"{NORMALISATION!r} (normalisation.py); retrain or fine-tune the weights"
        )
    try:
        config = STDNetConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"weights file {path}: bad model config in metadata ({exc})") from exc
    return config, metadata.get("preset", "")


def load_weights(path: str | Path, device: str | torch.device = "cpu", **expected) -> STDNet:
    """Rebuild the model from the file's config and load its tensors, checking every name and shape.

    ``expected`` config fields (e.g. scale=4, directions="causal") must match the file's config.
    """
    path = Path(path)
    config, preset = read_metadata(path)
    stored = config.to_dict()
    unknown = sorted(set(expected) - set(stored))
    if unknown:
        raise ValueError(f"unknown STDNetConfig fields {unknown}")
    wrong = [f"{k}={stored[k]!r} (expected {v!r})" for k, v in expected.items() if stored[k] != v]
    if wrong:
        raise WeightsError(f"weights file {path}: config mismatch: {', '.join(wrong)}")
    model = STDNet(config, preset=preset)
    want = model.state_dict()
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        have = {k: f.get_slice(k).get_shape() for k in f.keys()}
        problems = [f"missing tensor {k}" for k in sorted(set(want) - set(have))]
        problems += [f"unexpected tensor {k}" for k in sorted(set(have) - set(want))]
        problems += [
            f"{k}: shape {tuple(have[k])} != expected {tuple(want[k].shape)}"
            for k in sorted(set(want) & set(have))
            if tuple(have[k]) != tuple(want[k].shape)
        ]
        if problems:
            shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} problems)" if len(problems) > 5 else "")
            raise WeightsError(f"weights file {path}: does not match its config: {shown}")
        model.load_state_dict({k: f.get_tensor(k) for k in want})
    return model.to(device).eval()
