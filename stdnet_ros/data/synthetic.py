"""Synthetic RGB-D video: per frame RGB, exact z-depth, camera pose, intrinsics and exact forward optical flow.

Forward flow of frame t maps each pixel of frame t-1 to where its surface point is at t: the point is taken in the
hit object's local frame, moved with the object's pose at t and projected by the camera at t. This is the
geometric motion, so points hidden behind something else at t still get their flow (as Sintel's flow does);
it is NaN for frame 0 and where the point leaves the view or falls behind the camera.
"""

from dataclasses import dataclass

import numpy as np
import torch

from stdnet_ros.data.raycast import NEAR_M, Rays
from stdnet_ros.data.render import View, object_poses, render_view, transform
from stdnet_ros.data.scene import FPS, MOTIONS, Scene, random_scene
from stdnet_ros.data.textures import HELD_OUT_TEXTURES, TRAINING_TEXTURES
from stdnet_ros.depth.geometry import Intrinsics

SPLITS = ("train", "val", "test")
SEEDS_PER_SPLIT = 10**9
SIZE_MULTIPLE = 16  # HR width and height must be multiples of this (x16 super-resolution)
FOCAL_PER_WIDTH = 525.0 / 640.0  # a Kinect-like 62 degree horizontal field of view


@dataclass(frozen=True, eq=False)
class Frame:
    """One RGB-D frame.

    rgb (H, W, 3) uint8; depth_m (H, W) float32 z-depth in metres (0 = invalid); pose_c2w (4, 4) float64
    camera-to-world (OpenCV camera axes); intrinsics (pixel-centre convention); flow (H, W, 2) float32 forward flow
    from the previous frame in HR pixels (u, v), NaN where unknown (everywhere for frame 0).
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    pose_c2w: np.ndarray
    intrinsics: Intrinsics
    flow: np.ndarray


def split_seed(split: str, index: int) -> int:
    """Seed of sequence ``index`` of a split; train, val and test use disjoint ranges of 10^9 seeds."""
    if split not in SPLITS:
        raise ValueError(f"split: unknown {split!r}, expected one of {SPLITS}")
    if not 0 <= index < SEEDS_PER_SPLIT:
        raise ValueError(f"index: must be in [0, {SEEDS_PER_SPLIT}), got {index}")
    return SPLITS.index(split) * SEEDS_PER_SPLIT + index


def split_of_seed(seed: int) -> str:
    """The split whose seed range holds ``seed`` (seeds past the last range count as test)."""
    return SPLITS[min(seed // SEEDS_PER_SPLIT, len(SPLITS) - 1)]


def default_intrinsics(width: int, height: int) -> Intrinsics:
    """Synthetic camera intrinsics: square pixels, principal point at the image centre (pixel-centre convention)."""
    f = FOCAL_PER_WIDTH * width
    return Intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


class SyntheticSequence:
    """A rendered sequence of ``num_frames`` frames of a scene; iterating renders the frames in order."""

    def __init__(self, scene: Scene, num_frames: int, intrinsics: Intrinsics):
        self.scene = scene
        self.num_frames = num_frames
        self.intrinsics = intrinsics

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self):
        rays = Rays.of(self.intrinsics)
        previous = None
        for i in range(self.num_frames):
            obj_to_world = object_poses(self.scene, i / FPS)
            cam_to_world = self.scene.camera.pose(i / FPS)
            view = render_view(self.scene, obj_to_world, cam_to_world, rays)
            if previous is None:
                flow = np.full((self.intrinsics.height, self.intrinsics.width, 2), np.nan, dtype=np.float32)
            else:
                flow = forward_flow(previous, obj_to_world, cam_to_world, self.intrinsics)
            yield Frame(
                rgb=(view.rgb * 255.0).round().clamp(0, 255).to(torch.uint8).numpy(),
                depth_m=view.depth_m.numpy(),
                pose_c2w=cam_to_world,
                intrinsics=self.intrinsics,
                flow=flow,
            )
            previous = view


def forward_flow(previous: View, obj_to_world: np.ndarray, cam_to_world: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """(H, W, 2) float32 flow in pixels of each pixel of ``previous`` to its point's projection at the new poses.

    ``obj_to_world`` (K, 4, 4) and ``cam_to_world`` (4, 4) are the poses at the new time. NaN where the point
    is unknown, falls behind the camera or projects outside the image.
    """
    h, w = intr.height, intr.width
    cam_from_local = np.linalg.inv(cam_to_world)[None] @ obj_to_world
    flat_obj = previous.object.reshape(-1)
    local = previous.local_m.reshape(-1, 3)
    p_cam = torch.full((h * w, 3), torch.nan)
    for k in range(cam_from_local.shape[0]):
        sel = torch.nonzero(flat_obj == k)[:, 0]
        if sel.numel():
            p_cam[sel] = transform(cam_from_local[k], local[sel])
    z = p_cam[:, 2]
    u = intr.fx * p_cam[:, 0] / z + intr.cx
    v = intr.fy * p_cam[:, 1] / z + intr.cy
    inside = (z > NEAR_M) & (u >= -0.5) & (u < w - 0.5) & (v >= -0.5) & (v < h - 0.5)
    flat = torch.arange(h * w)
    flow = torch.stack([u - (flat % w).float(), v - (flat // w).float()], dim=1)
    flow[~inside] = torch.nan
    return flow.reshape(h, w, 2).numpy()


def generate_sequence(
    seed: int, num_frames: int, width: int = 640, height: int = 480, motion: str = "mixed"
) -> SyntheticSequence:
    """A deterministic random sequence (scene, camera and object motion all drawn from ``seed``); iterate it for Frames.

    The scene does not depend on ``num_frames``: a shorter sequence is a prefix of a longer one with the same seed.
    Test-split seeds (split_seed("test", i)) texture their scenes from the held-out pool (textures.py), the others
    from the training pool.

    ``motion``: "slow" (camera <= 0.25 m/s, 15 deg/s), "fast" (<= 1 m/s, 60 deg/s) or "mixed" (limits drawn per
    sequence between the two), at 30 fps. Width and height must be multiples of 16.
    """
    if width <= 0 or height <= 0 or width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
        raise ValueError(f"width x height: must be positive multiples of {SIZE_MULTIPLE}, got {width}x{height}")
    if num_frames < 1:
        raise ValueError(f"num_frames: must be >= 1, got {num_frames}")
    if motion not in MOTIONS:
        raise ValueError(f"motion: unknown {motion!r}, expected one of {MOTIONS}")
    intr = default_intrinsics(width, height)
    textures = HELD_OUT_TEXTURES if split_of_seed(seed) == "test" else TRAINING_TEXTURES
    scene = random_scene(np.random.default_rng(seed), intr, motion, textures)
    return SyntheticSequence(scene, num_frames, intr)
