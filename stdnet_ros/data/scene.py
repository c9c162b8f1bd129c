"""Random procedural scenes: a textured room box, 4-10 textured primitives, a point light, a moving camera.

World frame: z up, floor at z = 0, metres. Camera frame: OpenCV (x right, y down, z forward).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from stdnet_ros.data.motion import Trajectory, random_trajectory, rotvec_to_matrix, static_trajectory
from stdnet_ros.data.raycast import Primitive, intersect
from stdnet_ros.data.textures import TRAINING_TEXTURES, Texture, TexturePool, random_texture
from stdnet_ros.depth.geometry import Intrinsics

FPS = 30.0
MOTIONS = ("slow", "fast", "mixed")
# Speed limits per motion: camera m/s and deg/s, objects m/s and deg/s. "mixed" draws each sequence between the two.
SLOW = (0.25, 15.0, 0.2, 30.0)
FAST = (1.0, 60.0, 0.8, 120.0)
CAMERA_ROT_WEIGHTS = (0.4, 1.0, 0.15)  # body axes: tilt (x), pan (y), roll (z)
CLEARANCE_M = 0.4  # minimum gap between the camera path and any object's bounding sphere
CLEARANCE_HORIZON_S = 60.0  # the camera path checked for clearance, so the scene does not depend on the clip length
CLEARANCE_STEP_S = 0.1
OBJECT_TRIES = 10
OBJECT_KINDS = ("box", "sphere", "cylinder", "quad")
OBJECT_KIND_PROBS = (0.35, 0.25, 0.25, 0.15)


@dataclass(frozen=True, eq=False)
class SceneObject:
    """A primitive with its textures (6 for a room, one per face id; else 1) and its local-to-world trajectory."""

    primitive: Primitive
    textures: tuple[Texture, ...]
    trajectory: Trajectory

    def texture_for_face(self, face: int) -> Texture:
        return self.textures[face] if len(self.textures) > 1 else self.textures[0]


@dataclass(frozen=True, eq=False)
class Scene:
    """Objects (the room first), the camera-to-world trajectory, a point light (3,) in world metres, ambient level."""

    objects: tuple[SceneObject, ...]
    camera: Trajectory
    light_m: np.ndarray
    ambient: float


def look_rotation(yaw: float, pitch: float) -> np.ndarray:
    """(3, 3) camera-to-world rotation of an OpenCV camera looking along yaw/pitch (radians) in the z-up world."""
    forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)


def speed_limits(motion: str, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(camera m/s, camera deg/s, object m/s, object deg/s) for a motion profile."""
    if motion == "slow":
        return SLOW
    if motion == "fast":
        return FAST
    if motion == "mixed":
        f = rng.uniform()
        return tuple(s + f * (q - s) for s, q in zip(SLOW, FAST))
    raise ValueError(f"motion: unknown {motion!r}, expected one of {MOTIONS}")


def random_scene(
    rng: np.random.Generator, intr: Intrinsics, motion: str, textures: TexturePool = TRAINING_TEXTURES
) -> Scene:
    """A random room, camera path and objects placed in the initial view, clear of the camera path for 60 s;
    every surface's texture drawn from ``textures``."""
    cam_speed, cam_dps, obj_speed, obj_dps = speed_limits(motion, rng)
    half = np.array([rng.uniform(1.5, 5.0), rng.uniform(1.5, 5.0), rng.uniform(1.5, 2.5)])
    room_centre = np.array([0.0, 0.0, half[2]])
    room = SceneObject(
        Primitive("room", tuple(half)),
        tuple(random_texture(rng, textures) for _ in range(6)),
        static_trajectory(np.eye(3), room_centre),
    )
    camera = _camera_trajectory(rng, half, cam_speed, cam_dps)
    cam_positions = camera.position0 + camera.offset_m(np.arange(0.0, CLEARANCE_HORIZON_S, CLEARANCE_STEP_S))
    objects = [room]
    for _ in range(int(rng.integers(4, 11))):
        obj = _place_object(rng, intr, room, camera, cam_positions, obj_speed, obj_dps, textures)
        if obj is not None:
            objects.append(obj)
    light = room_centre + np.array([rng.uniform(-0.8, 0.8) * half[0], rng.uniform(-0.8, 0.8) * half[1], half[2] - 0.3])
    return Scene(tuple(objects), camera, light, float(rng.uniform(0.25, 0.5)))


def _camera_trajectory(rng: np.random.Generator, half: np.ndarray, speed: float, dps: float) -> Trajectory:
    """Camera path inside the room (0.8 m from the walls), aimed roughly at the room centre."""
    margin = 0.8
    start = np.array(
        [
            rng.uniform(-half[0] + margin, half[0] - margin),
            rng.uniform(-half[1] + margin, half[1] - margin),
            rng.uniform(1.0, min(2.0, 2 * half[2] - margin)),
        ]
    )
    wall_gap = min(half[0] - abs(start[0]), half[1] - abs(start[1]), 2 * half[2] - start[2], start[2]) - 0.5
    yaw = math.atan2(-start[1], -start[0]) + rng.uniform(-1.0, 1.0)
    rotation0 = look_rotation(yaw, rng.uniform(math.radians(-20), math.radians(5)))
    return random_trajectory(
        rng,
        rotation0,
        start,
        speed,
        min(2.0, wall_gap),
        dps,
        45.0,
        trans_axis_weights=(1.0, 1.0, 0.3),
        rot_axis_weights=CAMERA_ROT_WEIGHTS,
    )


def _random_primitive(rng: np.random.Generator) -> Primitive:
    kind = OBJECT_KINDS[int(rng.choice(len(OBJECT_KINDS), p=OBJECT_KIND_PROBS))]
    if kind == "box":
        return Primitive(kind, tuple(rng.uniform(0.1, 0.6, 3)))
    if kind == "sphere":
        return Primitive(kind, (rng.uniform(0.15, 0.6),))
    if kind == "cylinder":
        return Primitive(kind, (rng.uniform(0.1, 0.4), rng.uniform(0.2, 0.8)))
    return Primitive(kind, tuple(rng.uniform(0.2, 0.9, 2)))


def _place_object(rng, intr, room, camera, cam_positions, max_speed, max_dps, textures) -> SceneObject | None:
    """An object centred on a random ray of the first view, or None if no try keeps clear of the camera path."""
    prim = _random_primitive(rng)
    surface = (random_texture(rng, textures),)
    moving = rng.uniform() < 0.6
    excursion = rng.uniform(0.2, 1.0) if moving else 0.0
    c2w = camera.pose(0.0)
    room_half = np.array(room.primitive.size)
    room_centre = room.trajectory.position0
    for _ in range(OBJECT_TRIES):
        ray_cam = np.array(
            [
                (rng.uniform(0, intr.width) - 0.5 - intr.cx) / intr.fx,
                (rng.uniform(0, intr.height) - 0.5 - intr.cy) / intr.fy,
                1.0,
            ]
        )
        ray_world = c2w[:3, :3] @ ray_cam
        origin = tuple(float(c) for c in c2w[:3, 3] - room_centre)
        wall_t = float(intersect(room.primitive, origin, tuple(torch.tensor([float(c)]) for c in ray_world))[0])
        near = 1.2 + 2.0 * prim.bounding_radius_m()
        t = rng.uniform(near, max(near, 0.9 * wall_t))
        centre = np.clip(c2w[:3, 3] + t * ray_world, room_centre - room_half, room_centre + room_half)
        gap = np.linalg.norm(cam_positions - centre, axis=1).min()
        if gap > prim.bounding_radius_m() + excursion + CLEARANCE_M:
            rotation0 = rotvec_to_matrix(rng.normal(size=3) * math.pi)
            if moving:
                traj = random_trajectory(rng, rotation0, centre, max_speed, excursion, max_dps, 180.0)
            else:
                traj = static_trajectory(rotation0, centre)
            return SceneObject(prim, surface, traj)
    return None
