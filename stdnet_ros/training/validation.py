"""Validation during training: the model through the streaming engine (as the node and ``stdnet eval`` run it)
over the validation split, never the test split.

The split is the generator's "val" seed range (scenes disjoint from train and test, rendered once and kept in
memory) or, when validation.roots is set, those dataset folders. LR: stored lr_x{s}/ when a folder has it, else
simulated by the paper's dvsr sensor (degradation.SENSORS; the coarser of the two the evaluation reports, and the
sensor of every earlier run's curve). Other sensors are measured afterwards with ``stdnet eval --lr <sensor>``.
"""

import zlib

import torch

from ..data import find_sequences, generate_sequence, open_sequence, split_seed
from ..data.scene import FPS
from ..depth.degradation import SENSORS, degrade_numpy
from ..evaluation.metrics import mean_over_sequences
from ..evaluation.runner import EngineMethod, EvalFrame, EvalSequence, dataset_sequence, evaluate_sequence
from ..model import STDNet
from ..streaming import StreamingEngine
from .config import TrainConfig

VALIDATION_SENSOR = SENSORS["dvsr"]


def generator_val_frames(config: TrainConfig, scale: int) -> list[tuple[str, list[EvalFrame]]]:
    """(name, frames) of the generator's val sequences val_000000, ... (the names ``stdnet generate`` uses)."""
    v = config.validation
    out = []
    for index in range(v.sequences):
        name = f"val_{index:06d}"
        frames = []
        for i, f in enumerate(
            generate_sequence(split_seed("val", index), v.frames, v.width, v.height, config.data.motion)
        ):
            lr = degrade_numpy(f.depth_m, f.rgb, scale, VALIDATION_SENSOR, zlib.crc32(f"{name}/{i}".encode()))
            frames.append(EvalFrame(f.rgb, f.depth_m, lr, f.flow if i else None, i / FPS))
        out.append((name, frames))
    return out


class Validator:
    """Scores a model on the validation split; the generator split is rendered on first use."""

    def __init__(self, config: TrainConfig, scale: int, device: torch.device):
        self.config, self.scale, self.device = config, scale, device
        self._rendered = None

    def sequences(self) -> list[EvalSequence]:
        roots = self.config.validation.roots
        if roots:
            return [self._folder_sequence(open_sequence(p)) for r in roots for p in find_sequences(r)]
        if self._rendered is None:
            self._rendered = generator_val_frames(self.config, self.scale)
        return [EvalSequence(name, frames, len(frames)) for name, frames in self._rendered]

    def _folder_sequence(self, reader) -> EvalSequence:
        """Stored LR when the folder has it, else the validation sensor's."""
        stored = reader.lr(0, self.scale) is not None
        return dataset_sequence(reader, self.scale, None if stored else VALIDATION_SENSOR)

    def __call__(self, model: STDNet) -> dict:
        """Mean over the validation sequences of rmse_cm, mae_cm, edge_rmse_cm, tepe_cm (metrics.py)."""
        method = EngineMethod(StreamingEngine(model, self.device, "fp32"))
        try:
            results = [evaluate_sequence(s, {"stdnet": method}, self.scale)["stdnet"] for s in self.sequences()]
        finally:
            model.train()
        return mean_over_sequences(results)
