"""Smooth rigid trajectories: a base pose plus sums of sinusoids, with a hard bound on speed.

Time is in seconds, positions in metres, rotations as 3x3 matrices or rotation vectors (radians).
"""

from dataclasses import dataclass

import numpy as np

NUM_COMPONENTS = 3  # sinusoids per trajectory
FREQ_RANGE_HZ = (0.05, 0.4)


def rotvec_to_matrix(w: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix of a rotation vector w (axis * angle in radians), by Rodrigues' formula."""
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(theta) * kx + (1.0 - np.cos(theta)) * (kx @ kx)


def rigid(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(4, 4) float64 homogeneous transform from a (3, 3) rotation and a (3,) translation."""
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = translation
    return m


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Pose(t) = [R0 @ Exp(w(t)) | p0 + x(t)] with x(t), w(t) sums of sinusoids.

    ``w(t)`` is a rotation vector in the body frame (right-multiplied), so the angular speed never exceeds |w'(t)|.
    Arrays: amplitudes (K, 3) in metres or radians, omegas (K,) in rad/s, phases (K,) in radians.
    """

    rotation0: np.ndarray
    position0: np.ndarray
    trans_amp_m: np.ndarray
    trans_omega: np.ndarray
    trans_phase: np.ndarray
    rot_amp_rad: np.ndarray
    rot_omega: np.ndarray
    rot_phase: np.ndarray

    def offset_m(self, t: float | np.ndarray) -> np.ndarray:
        """Translation offset x(t) in metres: (3,) for a scalar time, (T, 3) for (T,) times."""
        return np.sin(np.multiply.outer(t, self.trans_omega) + self.trans_phase) @ self.trans_amp_m

    def rotvec(self, t: float) -> np.ndarray:
        """(3,) body-frame rotation vector w(t) in radians."""
        return np.sin(self.rot_omega * t + self.rot_phase) @ self.rot_amp_rad

    def pose(self, t: float) -> np.ndarray:
        """(4, 4) float64 local-to-world transform at time t seconds."""
        return rigid(self.rotation0 @ rotvec_to_matrix(self.rotvec(t)), self.position0 + self.offset_m(t))

    def max_excursion_m(self) -> float:
        """Upper bound on |x(t)| in metres."""
        return float(np.linalg.norm(self.trans_amp_m, axis=1).sum())


def static_trajectory(rotation0: np.ndarray, position0: np.ndarray) -> Trajectory:
    """A trajectory that never moves."""
    zeros = np.zeros((1, 3))
    one = np.zeros(1)
    return Trajectory(rotation0, np.asarray(position0, float), zeros, one, one, zeros, one, one)


def _sinusoids(rng: np.random.Generator, axis_weights, max_rate: float, max_amp: float):
    """Random sinusoid amplitudes (K, 3), omegas (K,), phases (K,) with sum_k |a_k| w_k <= max_rate and
    sum_k |a_k| <= max_amp (bounds on speed and excursion)."""
    omega = 2.0 * np.pi * rng.uniform(*FREQ_RANGE_HZ, NUM_COMPONENTS)
    amp = rng.normal(size=(NUM_COMPONENTS, 3)) * np.asarray(axis_weights, float)
    norms = np.linalg.norm(amp, axis=1)
    rate_bound = float((norms * omega).sum())
    amp_bound = float(norms.sum())
    scale = min(max_rate / rate_bound, max_amp / amp_bound) if rate_bound > 0 else 0.0
    return amp * scale, omega, rng.uniform(0.0, 2.0 * np.pi, NUM_COMPONENTS)


def random_trajectory(
    rng: np.random.Generator,
    rotation0: np.ndarray,
    position0: np.ndarray,
    max_speed_mps: float,
    max_excursion_m: float,
    max_angular_dps: float,
    max_angle_deg: float,
    trans_axis_weights=(1.0, 1.0, 1.0),
    rot_axis_weights=(1.0, 1.0, 1.0),
) -> Trajectory:
    """A smooth random trajectory whose speed (m/s), excursion (m), angular speed (deg/s) and angle (deg) are bounded.

    Axis weights shape the motion per axis (translation in world axes, rotation in body axes).
    """
    ta, tw, tp = _sinusoids(rng, trans_axis_weights, max_speed_mps, max_excursion_m)
    ra, rw, rp = _sinusoids(rng, rot_axis_weights, np.radians(max_angular_dps), np.radians(max_angle_deg))
    return Trajectory(np.asarray(rotation0, float), np.asarray(position0, float), ta, tw, tp, ra, rw, rp)
