"""Classical single-frame depth super-resolution baselines (no learning, no ROS).

Every baseline maps ``(lr_depth_m, rgb, scale) -> hr_depth_m``:

* ``lr_depth_m``: (h, w) float32 low-resolution depth in metres; 0 or NaN marks an invalid pixel;
* ``rgb``: (h * scale, w * scale, 3) uint8 RGB image aligned with the high-resolution grid
  (unused by ``nearest`` and ``bicubic``, which keep it only for the shared signature);
* ``scale``: integer upsampling factor (4, 8, 16);
* returns (h * scale, w * scale) float32 depth in metres, NaN on every HR pixel whose LR pixel was invalid.

Pixel-centre convention: LR pixel (i, j) covers HR rows [s*i, s*i + s) and columns [s*j, s*j + s);
``cv2.resize`` follows it. Invalid LR pixels never bleed into valid ones: they are first filled from their
valid neighbours (push-pull fill of :mod:`stdnet_ros.depth.invalid_depth`, the network's own), the filled map
is interpolated and filtered, and the HR block of every invalid LR pixel is set back to NaN (:func:`upsample_masked`).

The three guided filters weigh neighbours by the RGB guide only, so each is linear in the depth it
filters: depth needs no normalisation, and their sigma / eps are in guide units (noted per constant).
"""

from collections.abc import Callable

import cv2
import numpy as np

from ..depth.invalid_depth import fill_invalid_array, valid_array

# Parameters from shared/research/data_baselines.md section 4: chosen there on one synthetic x4 frame
# (a small grid, not the benchmark data) and used unchanged at x8 and x16. They are in HR pixels and
# guide units. Re-tune them on a generator validation split, never on test sequences.
GUIDED_FILTER_RADIUS_PX = 4
GUIDED_FILTER_EPS = 1e-2  # guide RGB scaled to [0, 1]; eps is the regulariser of the guide's variance
JOINT_BILATERAL_DIAMETER_PX = 15
JOINT_BILATERAL_SIGMA_COLOR = 0.1  # L1 RGB difference, guide scaled to [0, 1]
JOINT_BILATERAL_SIGMA_SPACE_PX = 4.0  # not given in section 4: 1 LR pixel at x4, as its JBU's sigma_s
FGS_LAMBDA = 10.0
FGS_SIGMA_COLOR = 16.0  # 8-bit guide units
FGS_LAMBDA_ATTENUATION = 0.25  # OpenCV's default
FGS_NUM_ITER = 3  # OpenCV's default


def upsample_masked(lr_depth_m: np.ndarray, scale: int, interpolation: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate the filled LR depth to HR; the shared first step of every baseline.

    Returns ``(hr_filled_m, hr_invalid)``: (h*s, w*s) float32 depth in metres with no NaN where any LR
    pixel is valid, and the (h*s, w*s) bool mask of HR pixels whose LR pixel is invalid. A baseline
    filters ``hr_filled_m`` and then sets ``hr_invalid`` to NaN (:func:`_mask`).
    """
    h, w = lr_depth_m.shape
    hr = cv2.resize(src=fill_invalid_array(lr_depth_m), dsize=(w * scale, h * scale), interpolation=interpolation)
    hr_invalid = np.repeat(np.repeat(~valid_array(lr_depth_m), scale, axis=0), scale, axis=1)
    return hr, hr_invalid


def _mask(hr_depth_m: np.ndarray, hr_invalid: np.ndarray) -> np.ndarray:
    out = hr_depth_m.astype(np.float32, copy=True)
    out[hr_invalid] = np.nan
    return out


def _check_guide(rgb: np.ndarray, hr_shape: tuple[int, int]) -> None:
    if rgb.shape != hr_shape + (3,) or rgb.dtype != np.uint8:
        raise ValueError(f"rgb: expected uint8 {hr_shape + (3,)} aligned with the HR grid, got {rgb.dtype} {rgb.shape}")


def nearest(lr_depth_m: np.ndarray, rgb: np.ndarray | None, scale: int) -> np.ndarray:
    """Each HR pixel takes the depth of the LR pixel it falls in."""
    return _mask(*upsample_masked(lr_depth_m, scale, cv2.INTER_NEAREST))


def bicubic(lr_depth_m: np.ndarray, rgb: np.ndarray | None, scale: int) -> np.ndarray:
    """cv2 INTER_CUBIC (pixel-centre) of the filled LR depth; also the reference for the metrics' edge region."""
    return _mask(*upsample_masked(lr_depth_m, scale, cv2.INTER_CUBIC))


def guided_filter(lr_depth_m: np.ndarray, rgb: np.ndarray, scale: int) -> np.ndarray:
    """He et al. guided filter of the bicubic depth with the RGB guide (cv2.ximgproc.guidedFilter)."""
    hr, hr_invalid = upsample_masked(lr_depth_m, scale, cv2.INTER_CUBIC)
    _check_guide(rgb, hr.shape)
    out = cv2.ximgproc.guidedFilter(
        guide=rgb.astype(np.float32) / 255.0, src=hr, radius=GUIDED_FILTER_RADIUS_PX, eps=GUIDED_FILTER_EPS
    )
    return _mask(out, hr_invalid)


def joint_bilateral(lr_depth_m: np.ndarray, rgb: np.ndarray, scale: int) -> np.ndarray:
    """Joint bilateral filter of the bicubic depth with the RGB guide (cv2.ximgproc.jointBilateralFilter)."""
    hr, hr_invalid = upsample_masked(lr_depth_m, scale, cv2.INTER_CUBIC)
    _check_guide(rgb, hr.shape)
    out = cv2.ximgproc.jointBilateralFilter(
        joint=rgb.astype(np.float32) / 255.0,
        src=hr,
        d=JOINT_BILATERAL_DIAMETER_PX,
        sigmaColor=JOINT_BILATERAL_SIGMA_COLOR,
        sigmaSpace=JOINT_BILATERAL_SIGMA_SPACE_PX,
    )
    return _mask(out, hr_invalid)


def fast_global_smoother(lr_depth_m: np.ndarray, rgb: np.ndarray, scale: int) -> np.ndarray:
    """Fast global smoother (Min et al. 2014) of the bicubic depth with the RGB guide."""
    hr, hr_invalid = upsample_masked(lr_depth_m, scale, cv2.INTER_CUBIC)
    _check_guide(rgb, hr.shape)
    out = cv2.ximgproc.fastGlobalSmootherFilter(
        guide=rgb,
        src=hr,
        lambda_=FGS_LAMBDA,
        sigma_color=FGS_SIGMA_COLOR,
        lambda_attenuation=FGS_LAMBDA_ATTENUATION,
        num_iter=FGS_NUM_ITER,
    )
    return _mask(out, hr_invalid)


Baseline = Callable[[np.ndarray, np.ndarray | None, int], np.ndarray]

BASELINES: dict[str, Baseline] = {
    "nearest": nearest,
    "bicubic": bicubic,
    "guided-filter": guided_filter,
    "joint-bilateral": joint_bilateral,
    "fast-global-smoother": fast_global_smoother,
}


def run_baseline(name: str, lr_depth_m: np.ndarray, rgb: np.ndarray, scale: int) -> np.ndarray:
    """(h*scale, w*scale) float32 HR depth in metres from the baseline called ``name`` (a key of BASELINES)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    return BASELINES[name](lr_depth_m, rgb, scale)
