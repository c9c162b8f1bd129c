"""STDNet network, presets, losses and safetensors weights I/O."""

from .config import DIRECTION_PATTERNS, PRESETS, STDNetConfig, preset_config
from .network import STDNet, build_model
from .weights import WeightsError, load_weights, save_weights

__all__ = [
    "DIRECTION_PATTERNS",
    "PRESETS",
    "STDNet",
    "STDNetConfig",
    "WeightsError",
    "build_model",
    "load_weights",
    "preset_config",
    "save_weights",
]
