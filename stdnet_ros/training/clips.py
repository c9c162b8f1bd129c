"""Training clips: T consecutive frames, an HR patch cropped aligned with the LR grid, LR simulated per clip,
flips and transpose applied identically to every frame and modality.

A training sample is a pure function of (seed, sample index): the index seeds a numpy Generator that picks the
clip, the crop corner, the degradation, its noise and the flips. So resuming at a step, or splitting the samples
of a step across ranks, needs no data-loader state.

Sample tensors (T = frames, P = HR patch side, p = P / scale):
  rgb (T, 3, P, P) float in [0, 1]; lr (T, 1, p, p) metres (0 = invalid); gt (T, 1, P, P) metres; index ().
"""

import itertools
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import (
    DatasetError,
    FolderSequence,
    TartanAirSequence,
    find_sequences,
    generate_sequence,
    open_sequence,
    split_seed,
)
from .degradation_sampling import DegradationDistribution

CACHE_VERSION = "v1"
LAYOUTS = {"folders": FolderSequence, "tartanair": TartanAirSequence}


def aligned_crop(
    rgb: np.ndarray, depth_m: np.ndarray, patch: int, scale: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Crop a P x P patch from rgb (T, H, W, 3) and depth (T, H, W) at a corner drawn in LR coordinates.

    The HR corner is scale x the LR corner, so the patch covers whole LR pixels and LR made from it is exactly
    the crop of LR made from the full frame (STDNet's own crop draws the HR corner and can be off by scale - 1).
    Returns the two crops and the HR corner (y, x).
    """
    height, width = depth_m.shape[-2:]
    if patch % scale or patch > height or patch > width:
        raise ValueError(f"patch {patch}: must be a multiple of the scale {scale} and fit in {width}x{height}")
    y = int(rng.integers((height - patch) // scale + 1)) * scale
    x = int(rng.integers((width - patch) // scale + 1)) * scale
    return rgb[:, y : y + patch, x : x + patch], depth_m[:, y : y + patch, x : x + patch], (y, x)


def flip_and_transpose(tensors: list[torch.Tensor], rng: np.random.Generator) -> list[torch.Tensor]:
    """Horizontal flip, vertical flip and H<->W transpose, each with p = 0.5, the same for every tensor
    (all (..., H, W) and square)."""
    hflip, vflip, transpose = rng.uniform(size=3) < 0.5
    out = []
    for t in tensors:
        if hflip:
            t = t.flip(-1)
        if vflip:
            t = t.flip(-2)
        if transpose:
            t = t.transpose(-2, -1)
        out.append(t.contiguous())
    return out


def make_sample(
    rgb: np.ndarray,
    depth_m: np.ndarray,
    patch: int,
    scale: int,
    distribution: DegradationDistribution,
    rng: np.random.Generator,
) -> dict[str, torch.Tensor]:
    """One training sample (see the module docstring) from a clip: rgb (T, H, W, 3) uint8, depth (T, H, W) m."""
    rgb, depth_m, _ = aligned_crop(rgb, depth_m, patch, scale, rng)
    rgb_t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2)
    depth_t = torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float32))
    degradation = distribution.sample(rng)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    lr = degradation.apply(depth_t, rgb_t, scale, generator)
    rgb_t, gt, lr = flip_and_transpose([rgb_t, depth_t[:, None], lr[:, None]], rng)
    return {"rgb": rgb_t.float() / 255.0, "lr": lr, "gt": gt}


class GeneratorClips:
    """Clips rendered by the generator: clip i is the whole sequence of seed split_seed("train", i).

    With ``cache_dir`` each rendered clip is kept as an .npz (written atomically, so ranks and workers can share
    the folder) and read back instead of rendered again; runs with the same render settings share the cache.
    """

    def __init__(self, sequences: int, frames: int, width: int, height: int, motion: str, cache_dir: str | Path | None):
        self.sequences, self.frames, self.width, self.height, self.motion = sequences, frames, width, height, motion
        self.cache = None
        if cache_dir is not None:
            self.cache = Path(cache_dir) / f"generator-{CACHE_VERSION}-{width}x{height}-{frames}f-{motion}"

    def __len__(self) -> int:
        return self.sequences

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """rgb (T, H, W, 3) uint8 and depth (T, H, W) float32 metres of clip i."""
        seed = split_seed("train", i)
        path = None if self.cache is None else self.cache / f"{seed}.npz"
        if path is not None and path.is_file():
            try:
                with np.load(path) as stored:
                    return stored["rgb"], stored["depth_m"]
            except (OSError, ValueError, KeyError) as err:
                raise DatasetError(f"{path}: unreadable cached clip ({err}); delete it to render it again") from err
        frames = list(generate_sequence(seed, self.frames, self.width, self.height, self.motion))
        rgb = np.stack([f.rgb for f in frames])
        depth_m = np.stack([f.depth_m for f in frames]).astype(np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.savez(f, rgb=rgb, depth_m=depth_m)
            os.replace(tmp, path)
        return rgb, depth_m


class DatasetClips:
    """Every window of ``frames`` consecutive frames (stride 1) of every sequence under ``roots``.

    ``layout`` ("folders" or "tartanair") must match what is on disk. LR is always simulated (never read from
    lr_x{s}/), so training sees the same degradation distribution on every source.
    """

    def __init__(self, roots: list[str], frames: int, layout: str, min_size: int):
        if not roots:
            raise DatasetError(f"data.roots: empty; data.source {layout!r} needs at least one dataset folder")
        self.sequences = []
        for root in roots:
            for path in find_sequences(root):
                reader = open_sequence(path)
                if not isinstance(reader, LAYOUTS[layout]):
                    raise DatasetError(f"{path}: not a {layout} sequence (data.source is {layout!r})")
                intr = reader.intrinsics
                if min(intr.width, intr.height) < min_size:
                    raise DatasetError(
                        f"{path}: HR size {intr.width}x{intr.height} is smaller than the training patch {min_size}"
                    )
                self.sequences.append(reader)
        self.frames = frames
        self.windows = [
            (s, start) for s, reader in enumerate(self.sequences) for start in range(len(reader) - frames + 1)
        ]
        if not self.windows:
            raise DatasetError(f"data.roots {roots}: no sequence has {frames} frames (data.frames)")

    def __len__(self) -> int:
        return len(self.windows)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, start = self.windows[i]
        reader = self.sequences[s]
        indices = range(start, start + self.frames)
        return np.stack([reader.rgb(k) for k in indices]), np.stack([reader.depth(k) for k in indices])


class TrainClips(Dataset):
    """Map-style dataset over sample indices 0, 1, 2, ... (unbounded): sample k is drawn with seed (seed, k)."""

    def __init__(self, source, patch: int, scale: int, distribution: DegradationDistribution, seed: int):
        self.source, self.patch, self.scale, self.distribution, self.seed = source, patch, scale, distribution, seed

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        rgb, depth_m = self.source.load(int(rng.integers(len(self.source))))
        sample = make_sample(rgb, depth_m, self.patch, self.scale, self.distribution, rng)
        sample["index"] = torch.tensor(index)
        return sample


class StepBatches:
    """Batch sampler: the sample indices of this rank for steps start_step, start_step + 1, ... (endless).

    Step s on rank r of W takes indices (s * W + r) * B ... (s * W + r) * B + B - 1, so the ranks of a step see
    different clips and one process with batch W * B would see exactly the same samples.
    """

    def __init__(self, start_step: int, batch_size: int, rank: int = 0, world_size: int = 1):
        self.start_step, self.batch_size, self.rank, self.world_size = start_step, batch_size, rank, world_size

    def __iter__(self):
        for step in itertools.count(self.start_step):
            first = (step * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))
