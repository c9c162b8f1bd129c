"""Render one view of a scene: exact z-depth, textured Lambert-shaded RGB, and per-pixel object-local hit points."""

from dataclasses import dataclass

import numpy as np
import torch

from stdnet_ros.data.raycast import Rays, cast, local_origin, surface
from stdnet_ros.data.scene import Scene, SceneObject

GRAZING_COS = 0.25  # cap on how much an oblique view widens the texture footprint (mip selection)


@dataclass(frozen=True, eq=False)
class View:
    """One rendered view, row-major over H x W pixels.

    rgb (H, W, 3) float32 in [0, 1]; depth_m (H, W) float32 z in metres (0 = no hit);
    object (H, W) int64 scene-object index (-1 = none); local_m (H, W, 3) float32 hit point in the object's frame.
    """

    rgb: torch.Tensor
    depth_m: torch.Tensor
    object: torch.Tensor
    local_m: torch.Tensor


def object_poses(scene: Scene, time_s: float) -> np.ndarray:
    """(K, 4, 4) float64 local-to-world poses of the scene objects at time_s."""
    return np.stack([obj.trajectory.pose(time_s) for obj in scene.objects])


def rotate(rot: np.ndarray, vectors: torch.Tensor) -> torch.Tensor:
    """(M, 3) float32 vectors multiplied by a (3, 3) matrix (elementwise: tiny matmuls stall on busy shared CPUs)."""
    return sum(vectors[:, j : j + 1] * torch.from_numpy(rot[:, j]).float() for j in range(3))


def transform(pose: np.ndarray, points: torch.Tensor) -> torch.Tensor:
    """(M, 3) float32 points mapped by a (4, 4) float64 rigid transform."""
    return rotate(pose[:3, :3], points) + torch.from_numpy(pose[:3, 3]).float()


def render_view(scene: Scene, obj_to_world: np.ndarray, cam_to_world: np.ndarray, rays: Rays) -> View:
    """Ray-cast and shade the scene with objects at (K, 4, 4) poses, seen by a camera at a (4, 4) pose."""
    intr = rays.intrinsics
    world_to_cam = np.linalg.inv(cam_to_world)
    cam_from_local = world_to_cam[None] @ obj_to_world
    hits = cast([obj.primitive for obj in scene.objects], cam_from_local, rays)
    n = intr.height * intr.width
    rgb = torch.zeros(n, 3)
    local = torch.full((n, 3), torch.nan)
    light_cam = torch.from_numpy(world_to_cam[:3] @ np.append(scene.light_m, 1.0)).float()
    flat_obj = hits.object.reshape(-1)
    flat_depth = hits.depth_m.reshape(-1)
    for k, obj in enumerate(scene.objects):
        sel = torch.nonzero(flat_obj == k)[:, 0]
        if sel.numel() == 0:
            continue
        p_cam = flat_depth[sel, None] * rays.at(sel)
        points = transform(np.linalg.inv(cam_from_local[k]), p_cam)
        local[sel] = points
        rgb[sel] = _shade(obj, points, p_cam, cam_from_local[k], light_cam, scene.ambient, intr.fx)
    h, w = intr.height, intr.width
    return View(rgb.reshape(h, w, 3), hits.depth_m, hits.object, local.reshape(h, w, 3))


def _shade(obj: SceneObject, points, p_cam, cam_from_local, light_cam, ambient: float, fx: float) -> torch.Tensor:
    """(M, 3) Lambert-shaded texture colour of M hits on one object: local points (M, 3), camera points (M, 3)."""
    origin = local_origin(cam_from_local)
    # tile_m only matters for the wrapped angular coordinate of spheres and cylinders, which carry one texture.
    normal, uv, face = surface(obj.primitive, points, origin, obj.textures[0].tile_m)
    normal_cam = rotate(cam_from_local[:3, :3], normal)
    to_light = light_cam - p_cam
    lambert = ((normal_cam * to_light).sum(dim=1) / to_light.norm(dim=1)).clamp(min=0.0)
    dist = p_cam.norm(dim=1)
    cos_view = ((normal_cam * p_cam).sum(dim=1).abs() / dist).clamp(min=GRAZING_COS)
    footprint_m = p_cam[:, 2] / (fx * cos_view)  # pixel pitch at depth z is z / fx, widened on oblique surfaces
    if len(obj.textures) == 1:
        albedo = obj.textures[0].sample(uv, footprint_m)
    else:
        albedo = torch.empty(points.shape[0], 3)
        for f in range(len(obj.textures)):
            sel = face == f
            if sel.any():
                albedo[sel] = obj.textures[f].sample(uv[sel], footprint_m[sel])
    return albedo * (ambient + (1.0 - ambient) * lambert)[:, None]
