"""Weights shipped inside the package: ``stdnet_ros/weights/{preset}-x{scale}-{mode}.safetensors``."""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODES = ("causal", "bidirectional")


def shipped_weights_path(preset: str, scale: int, mode: str) -> Path:
    """Path of the shipped weights of a preset, scale and mode (causal | bidirectional); it may not exist."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    return WEIGHTS_DIR / f"{preset}-x{scale}-{mode}.safetensors"


def resolve_weights(weights: str, scale: int, mode: str) -> Path:
    """A weights parameter is a file path, or the name of a shipped preset (e.g. "stdnet-lite")."""
    if weights.endswith(".safetensors") or "/" in weights:
        return Path(weights).expanduser()
    return shipped_weights_path(weights, scale, mode)
