"""Synthetic RGB-D renderer: exact z-depth, pixel-centre convention, exact flow, determinism, motion bounds."""

import math

import numpy as np
import pytest
import torch

from stdnet_ros.data import SPLITS, Frame, generate_sequence, split_seed
from stdnet_ros.data.motion import Trajectory, rigid, rotvec_to_matrix, static_trajectory
from stdnet_ros.data.raycast import Primitive, Rays
from stdnet_ros.data.render import object_poses, render_view
from stdnet_ros.data.scene import FAST, FPS, Scene, SceneObject
from stdnet_ros.data.synthetic import forward_flow
from stdnet_ros.data.textures import (
    HELD_OUT_PHOTO_NAMES,
    HELD_OUT_PROCEDURAL_NAMES,
    PHOTO_NAMES,
    PROCEDURAL_NAMES,
    TEXTURE_SIZE,
    Texture,
    photo,
    procedural,
)
from stdnet_ros.depth.geometry import Intrinsics, backproject, project

INTR = Intrinsics(fx=500.0, fy=510.0, cx=150.3, cy=110.7, width=320, height=240)
GREY = Texture.from_image(np.full((8, 8, 3), 0.5, np.float32), tile_m=1.0)


def _object(kind, size, rotation=np.eye(3), position=(0.0, 0.0, 0.0)) -> SceneObject:
    return SceneObject(Primitive(kind, size), (GREY,), static_trajectory(rotation, np.array(position, float)))


def _scene(*objects: SceneObject) -> Scene:
    return Scene(tuple(objects), static_trajectory(np.eye(3), np.zeros(3)), np.array([0.0, -1.0, 0.0]), 0.3)


def _render(scene: Scene, cam_to_world: np.ndarray = np.eye(4), intr: Intrinsics = INTR):
    return render_view(scene, object_poses(scene, 0.0), cam_to_world, Rays.of(intr))


def test_fronto_parallel_quad_reads_its_distance_everywhere():
    view = _render(_scene(_object("quad", (50.0, 50.0), position=(0.0, 0.0, 2.5))))
    assert (view.object == 0).all()
    assert np.abs(view.depth_m.numpy() - 2.5).max() < 1e-6  # a ray length would read 3.1 m at the corners


def test_room_wall_in_front_reads_z_not_ray_length():
    view = _render(_scene(_object("room", (50.0, 50.0, 2.5))))
    assert np.abs(view.depth_m.numpy() - 2.5).max() < 1e-6


def test_tilted_plane_follows_the_pixel_centre_convention():
    # Plane through (0.2, -0.1, 2.5) with a normal tilted 60 degrees about an oblique axis.
    normal_rot = rotvec_to_matrix(np.radians(60.0) * np.array([0.6, 0.8, 0.0]))
    centre = np.array([0.2, -0.1, 2.5])
    view = _render(_scene(_object("quad", (40.0, 40.0), normal_rot, centre)))
    n = normal_rot[:, 2]
    u, v = np.meshgrid(np.arange(INTR.width), np.arange(INTR.height))
    rays = np.stack([(u - INTR.cx) / INTR.fx, (v - INTR.cy) / INTR.fy, np.ones_like(u, float)], axis=-1)
    expected = (n @ centre) / (rays @ n)  # z of the ray through each pixel centre
    hit = view.object.numpy() == 0
    assert hit.mean() > 0.9
    # A half-pixel shift would cost millimetres here (the depth changes by ~1 cm per pixel).
    assert np.abs(view.depth_m.numpy()[hit] - expected[hit]).max() < 5e-5


def _surface_distance(prim: Primitive, p: np.ndarray) -> np.ndarray:
    """Unsigned distance (N,) of local points (N, 3) to the surface of a primitive, analytically."""
    if prim.kind == "sphere":
        return np.abs(np.linalg.norm(p, axis=1) - prim.size[0])
    if prim.kind in ("box", "room"):
        return np.abs((np.abs(p) - np.array(prim.size)).max(axis=1))
    if prim.kind == "cylinder":
        r, hh = prim.size
        side = np.abs(np.linalg.norm(p[:, :2], axis=1) - r)
        cap = np.abs(np.abs(p[:, 2]) - hh)
        return np.minimum(side, cap)
    return np.abs(p[:, 2])


def test_backprojected_points_lie_on_the_surfaces():
    scene = _scene(
        _object("room", (4.0, 3.0, 4.0)),
        _object("sphere", (0.5,), position=(-0.6, 0.1, 2.2)),
        _object("box", (0.3, 0.2, 0.4), rotvec_to_matrix(np.array([0.3, 0.5, 0.1])), (0.7, -0.3, 2.8)),
        _object("cylinder", (0.25, 0.4), rotvec_to_matrix(np.array([1.0, 0.2, 0.0])), (0.1, 0.5, 1.8)),
        _object("quad", (0.4, 0.3), rotvec_to_matrix(np.array([0.0, 0.9, 0.3])), (0.3, -0.6, 1.5)),
    )
    cam_to_world = rigid(rotvec_to_matrix(np.array([0.05, -0.1, 0.02])), np.array([0.1, 0.05, -0.3]))
    view = _render(scene, cam_to_world)
    points_cam = backproject(view.depth_m.numpy(), INTR).reshape(-1, 3).astype(np.float64)
    points_world = points_cam @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]
    ids = view.object.numpy().reshape(-1)
    for k, obj in enumerate(scene.objects):
        sel = ids == k
        assert sel.sum() > 100, f"object {k} ({obj.primitive.kind}) barely visible"
        world_to_local = np.linalg.inv(obj.trajectory.pose(0.0))
        local = points_world[sel] @ world_to_local[:3, :3].T + world_to_local[:3, 3]
        assert _surface_distance(obj.primitive, local).max() < 5e-5, obj.primitive.kind


def _moving(kind, size, position, speed_mps, spin_dps) -> SceneObject:
    """An object translating along x and spinning about z (sinusoids with a 1 s period)."""
    omega = np.array([2 * math.pi])
    return SceneObject(
        Primitive(kind, size),
        (GREY,),
        Trajectory(
            np.eye(3),
            np.array(position, float),
            np.array([[speed_mps / omega[0], 0.0, 0.0]]),
            omega,
            np.zeros(1),
            np.array([[0.0, 0.0, math.radians(spin_dps) / omega[0]]]),
            omega,
            np.zeros(1),
        ),
    )


def _expected_flow(depth_prev, ids_prev, scene, t_prev, t_next, cam_prev, cam_next, intr, objects_move=True):
    """Flow recomputed from depth by back-projection (independent of the renderer's local points)."""
    points = backproject(depth_prev, intr).reshape(-1, 3).astype(np.float64)
    world = points @ cam_prev[:3, :3].T + cam_prev[:3, 3]
    ids = ids_prev.reshape(-1)
    moved = np.full_like(world, np.nan)
    for k, obj in enumerate(scene.objects):
        step = obj.trajectory.pose(t_next) @ np.linalg.inv(obj.trajectory.pose(t_prev)) if objects_move else np.eye(4)
        moved[ids == k] = world[ids == k] @ step[:3, :3].T + step[:3, 3]
    to_cam = np.linalg.inv(cam_next)
    uv = project(moved @ to_cam[:3, :3].T + to_cam[:3, 3], intr)
    u, v = np.meshgrid(np.arange(intr.width), np.arange(intr.height))
    return (uv - np.stack([u, v], axis=-1).reshape(-1, 2)).reshape(intr.height, intr.width, 2)


def test_flow_follows_moving_objects_and_camera():
    scene = Scene(
        (
            _object("room", (4.0, 3.0, 2.5)),
            _moving("sphere", (0.4,), (-0.3, 0.0, 2.0), 0.8, 0.0),
            _moving("box", (0.3, 0.3, 0.3), (0.6, 0.2, 2.5), -0.5, 90.0),
        ),
        Trajectory(
            np.eye(3),
            np.zeros(3),
            np.array([[0.05, 0.02, 0.0]]),
            np.array([3.0]),
            np.zeros(1),
            np.array([[0.0, 0.1, 0.0]]),
            np.array([2.0]),
            np.zeros(1),
        ),
        np.array([0.0, -1.5, 1.0]),
        0.3,
    )
    rays = Rays.of(INTR)
    t0, t1 = 0.2, 0.2 + 1 / FPS
    cam0, cam1 = scene.camera.pose(t0), scene.camera.pose(t1)
    view0 = render_view(scene, object_poses(scene, t0), cam0, rays)
    flow = forward_flow(view0, object_poses(scene, t1), cam1, INTR)
    expected = _expected_flow(view0.depth_m.numpy(), view0.object.numpy(), scene, t0, t1, cam0, cam1, INTR)
    known = np.isfinite(flow[..., 0])
    assert known.mean() > 0.9
    assert np.abs(flow[known] - expected[known]).max() < 2e-3
    camera_only = _expected_flow(view0.depth_m.numpy(), view0.object.numpy(), scene, t0, t1, cam0, cam1, INTR, False)
    ids = view0.object.numpy()
    object_motion = np.linalg.norm(flow - camera_only, axis=-1)
    assert np.nanmax(object_motion[ids == 0]) < 1e-3  # the room is static
    for k in (1, 2):  # the moving objects carry their own motion on top of the camera's
        assert np.nanmedian(object_motion[ids == k]) > 0.5
    # Points leaving the image have NaN flow; all others land inside it.
    target_u = np.arange(INTR.width)[None, :] + expected[..., 0]
    assert not np.isfinite(flow[..., 0][target_u > INTR.width]).any()


def test_generated_frames_have_the_contract_shapes_and_units():
    frames = list(generate_sequence(7, 3, width=96, height=64, motion="fast"))
    assert len(frames) == 3 and all(isinstance(f, Frame) for f in frames)
    for f in frames:
        assert f.rgb.shape == (64, 96, 3) and f.rgb.dtype == np.uint8
        assert f.depth_m.shape == (64, 96) and f.depth_m.dtype == np.float32
        assert (f.depth_m > 0.1).all() and (f.depth_m < 25.0).all()  # the room closes every ray
        assert f.flow.shape == (64, 96, 2) and f.flow.dtype == np.float32
        assert f.pose_c2w.shape == (4, 4) and f.pose_c2w.dtype == np.float64
        rot = f.pose_c2w[:3, :3]
        assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rot), 1.0)
        assert (f.intrinsics.width, f.intrinsics.height) == (96, 64)
        assert f.rgb.std() > 5  # textured, not flat
    assert np.isnan(frames[0].flow).all()
    assert np.isfinite(frames[1].flow).mean() > 0.5


def test_generated_flow_lands_on_the_same_surface_at_t():
    """Flow consistency with the next frame's depth: unoccluded points land where depth_t says they are."""
    seq = generate_sequence(11, 2, width=160, height=128, motion="fast")
    f0, f1 = list(seq)
    intr = f0.intrinsics
    view0 = render_view(seq.scene, object_poses(seq.scene, 0.0), f0.pose_c2w, Rays.of(intr))
    expected = _expected_flow(f0.depth_m, view0.object.numpy(), seq.scene, 0.0, 1 / FPS, f0.pose_c2w, f1.pose_c2w, intr)
    known = np.isfinite(f1.flow[..., 0])
    assert np.abs(f1.flow[known] - expected[known]).max() < 5e-3
    u, v = np.meshgrid(np.arange(intr.width), np.arange(intr.height))
    tu = np.rint(u + f1.flow[..., 0])[known].astype(int).clip(0, intr.width - 1)
    tv = np.rint(v + f1.flow[..., 1])[known].astype(int).clip(0, intr.height - 1)
    prev_rgb = f0.rgb[known].astype(float)
    next_rgb = f1.rgb[tv, tu].astype(float)
    # Lambert shading is view-independent, so most pixels keep their colour along the flow.
    assert np.median(np.abs(prev_rgb - next_rgb)) < 8


def test_sequences_are_deterministic_and_prefix_stable():
    a = list(generate_sequence(3, 3, width=64, height=48))
    b = list(generate_sequence(3, 2, width=64, height=48))
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.rgb, fb.rgb) and np.array_equal(fa.depth_m, fb.depth_m)
        assert np.array_equal(fa.flow, fb.flow, equal_nan=True) and np.array_equal(fa.pose_c2w, fb.pose_c2w)
    c = next(iter(generate_sequence(4, 1, width=64, height=48)))
    assert not np.array_equal(a[0].depth_m, c.depth_m)


def test_split_seeds_are_disjoint_and_checked():
    ranges = {s: {split_seed(s, 0), split_seed(s, 10**9 - 1)} for s in SPLITS}
    lows = sorted(min(r) for r in ranges.values())
    highs = sorted(max(r) for r in ranges.values())
    assert all(high < next_low for high, next_low in zip(highs, lows[1:]))
    with pytest.raises(ValueError, match="split"):
        split_seed("training", 0)
    with pytest.raises(ValueError, match="index"):
        split_seed("train", -1)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"width": 100}, "width"),
        ({"height": 40}, "height"),
        ({"motion": "warp"}, "motion"),
        ({"num_frames": 0}, "num_frames"),
    ],
)
def test_bad_generator_arguments_are_named(kwargs, field):
    args = {"seed": 0, "num_frames": 2, **kwargs}
    with pytest.raises(ValueError, match=field):
        generate_sequence(**args)


@pytest.mark.parametrize("seed", range(6))
def test_fast_camera_respects_the_speed_limits(seed):
    camera = generate_sequence(seed, 1, 64, 48, motion="fast").scene.camera
    max_speed, max_dps = FAST[0], FAST[1]
    dt = 1e-3
    for t in np.arange(0.0, 20.0, 0.25):
        a, b = camera.pose(t), camera.pose(t + dt)
        assert np.linalg.norm(b[:3, 3] - a[:3, 3]) / dt <= max_speed * 1.001
        relative = a[:3, :3].T @ b[:3, :3]
        angle = math.degrees(math.acos(np.clip((np.trace(relative) - 1) / 2, -1, 1)))
        assert angle / dt <= max_dps * 1.001


@pytest.mark.parametrize("seed", range(4))
def test_random_scenes_put_visible_objects_inside_the_room(seed):
    seq = generate_sequence(seed, 1, 96, 64)
    room, *objects = seq.scene.objects
    half, centre = np.array(room.primitive.size), room.trajectory.position0
    for obj in objects:
        assert np.all(np.abs(obj.trajectory.position0 - centre) <= half + 1e-9)
        assert np.linalg.norm(obj.trajectory.position0 - seq.scene.camera.position0) > obj.primitive.bounding_radius_m()
    view = render_view(seq.scene, object_poses(seq.scene, 0.0), seq.scene.camera.pose(0.0), Rays.of(seq.intrinsics))
    visible = set(np.unique(view.object.numpy()).tolist()) - {0}
    assert len(objects) >= 3 and len(visible) >= len(objects) // 2


def test_textures_load_offline_and_wrap_seamlessly():
    for name in PHOTO_NAMES + HELD_OUT_PHOTO_NAMES:  # bundled in the scikit-image wheel: no download
        image = photo(name)
        assert image.shape == (TEXTURE_SIZE, TEXTURE_SIZE, 3) and 0 <= image.min() and image.max() <= 1, name
    rng = np.random.default_rng(0)
    uv = torch.from_numpy(rng.uniform(-3, 3, (500, 2))).float()
    for name in PROCEDURAL_NAMES + HELD_OUT_PROCEDURAL_NAMES:
        texture = Texture.from_image(procedural(name, rng), tile_m=0.7)
        fine, coarse = torch.full((500,), 1e-4), torch.full((500,), 0.7)
        shifted = uv + torch.tensor([0.7, -1.4])  # whole tiles
        assert torch.allclose(texture.sample(uv, fine), texture.sample(shifted, fine), atol=1e-4), name
        # a footprint of a whole tile reads the coarsest mip level: nearly the tile's mean colour
        mean = texture.levels[0].reshape(-1, 3).mean(0)
        assert torch.allclose(texture.sample(uv, coarse), mean.expand(500, 3), atol=0.08), name


def test_only_the_test_split_uses_the_held_out_textures():
    held_out = set(HELD_OUT_PHOTO_NAMES + HELD_OUT_PROCEDURAL_NAMES)
    assert not held_out & set(PHOTO_NAMES + PROCEDURAL_NAMES)
    for split in SPLITS:
        names = {
            t.name
            for i in range(6)
            for obj in generate_sequence(split_seed(split, i), 1, 64, 48).scene.objects
            for t in obj.textures
        }
        assert names <= held_out if split == "test" else not names & held_out, split
        assert len(names) >= 4, split  # drawn from the pool, not one fixed texture


def test_screen_rectangle_culling_changes_nothing(monkeypatch):
    from stdnet_ros.data import raycast

    seq = generate_sequence(2, 1, 160, 128, motion="fast")
    args = (seq.scene, object_poses(seq.scene, 0.5), seq.scene.camera.pose(0.5), Rays.of(seq.intrinsics))
    culled = render_view(*args)
    monkeypatch.setattr(raycast, "screen_rect", lambda centre, radius, intr: (0, intr.height, 0, intr.width))
    full = render_view(*args)
    assert torch.equal(culled.object, full.object) and torch.equal(culled.depth_m, full.depth_m)
    assert len(torch.unique(full.object)) >= 3
