import cv2
import numpy as np

from stdnet_ros.evaluation.figures import (
    COLORBAR_AREA_PX,
    DEPTH_COLORMAP,
    PANEL_MAX_WIDTH_PX,
    XT_MIN_HEIGHT_PX,
    colorize,
    save_frame_figure,
    save_xt_slice_figure,
)

H, W = 120, 160  # below PANEL_MAX_WIDTH_PX: panels keep their size, so pixel counts are exact


def _scene(t=0):
    v, u = np.mgrid[0:H, 0:W]
    gt = (2.0 + 0.01 * u + 0.005 * v + 0.01 * t).astype(np.float32)
    rgb = np.dstack([u % 256, v % 256, np.full_like(u, 128)]).astype(np.uint8)
    return rgb, gt


def _black_pixels(image):
    return int((image == 0).all(axis=-1).sum())


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_colorize_renders_invalid_black_and_valid_never_black():
    values = np.linspace(1.0, 5.0, 64, dtype=np.float32).reshape(8, 8)
    values[2, 3] = np.nan
    image = colorize(values, 1.0, 5.0, DEPTH_COLORMAP)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    black = (image == 0).all(axis=-1)
    assert black[2, 3] and black.sum() == 1
    # Out-of-range values clip to the ends instead of wrapping around.
    ends = colorize(np.array([[0.0, 1.0, 5.0, 9.0]]), 1.0, 5.0, DEPTH_COLORMAP)
    np.testing.assert_array_equal(ends[0, 0], ends[0, 1])
    np.testing.assert_array_equal(ends[0, 2], ends[0, 3])


def test_frame_figure_is_a_png_that_grows_one_column_per_method(tmp_path):
    rgb, gt = _scene()
    widths = []
    for n in (1, 2, 3):
        preds = {f"m{i}": gt + 0.01 * (i + 1) for i in range(n)}
        path = tmp_path / f"frame{n}.png"
        image = save_frame_figure(path, rgb, gt, preds, "test")
        assert _is_png(path)
        read = cv2.imread(str(path))
        np.testing.assert_array_equal(read, image)
        assert read.shape[0] >= 2 * H and read.shape[1] >= (n + 1) * W
        widths.append(read.shape[1])
    assert widths[1] - widths[0] == widths[2] - widths[1] > W


def test_frame_figure_renders_missing_prediction_and_gt_holes_black(tmp_path):
    rgb, gt = _scene()
    pred = gt + 0.02
    # The colour bars are left out: their tick labels follow the GT range, which the GT hole changes.
    baseline = _black_pixels(save_frame_figure(tmp_path / "a.png", rgb, gt, {"m": pred}, "test")[:, :-COLORBAR_AREA_PX])
    holed = pred.copy()
    holed[10:40, 20:60] = np.nan  # black in the depth panel and in the error panel
    gt_holed = gt.copy()
    gt_holed[80:100, 100:150] = 0.0  # black in the GT panel and in the error panel
    image = save_frame_figure(tmp_path / "b.png", rgb, gt_holed, {"m": holed}, "test")
    assert _black_pixels(image[:, :-COLORBAR_AREA_PX]) - baseline == 2 * 30 * 40 + 2 * 20 * 50


def test_large_frames_are_shrunk_to_the_panel_width(tmp_path):
    rgb, gt = _scene()
    big_rgb = cv2.resize(src=rgb, dsize=(4 * W, 4 * H), interpolation=cv2.INTER_NEAREST)
    big_gt = cv2.resize(src=gt, dsize=(4 * W, 4 * H), interpolation=cv2.INTER_NEAREST)
    image = save_frame_figure(tmp_path / "big.png", big_rgb, big_gt, {"m": big_gt}, "test")
    assert image.shape[1] < 2 * PANEL_MAX_WIDTH_PX + 200


def test_xt_slice_figure_stacks_gt_and_methods_and_shows_holes_black(tmp_path):
    frames = 10
    gt_stack = np.stack([_scene(t)[1] for t in range(frames)])
    pred_stack = gt_stack + 0.01
    clean = save_xt_slice_figure(tmp_path / "a.png", gt_stack, {"m": pred_stack}, row=50)
    holed = pred_stack.copy()
    holed[3, 50, 10:30] = np.nan  # one frame loses 20 pixels of the sliced row
    path = tmp_path / "b.png"
    image = save_xt_slice_figure(path, gt_stack, {"m": holed}, row=50)
    assert _is_png(path)
    np.testing.assert_array_equal(cv2.imread(str(path)), image)
    assert image.shape == clean.shape
    # Two slices, each at least XT_MIN_HEIGHT_PX tall; the frame is repeated ceil(120 / 10) = 12 times.
    assert image.shape[0] >= 2 * XT_MIN_HEIGHT_PX
    assert _black_pixels(image) - _black_pixels(clean) == 20 * -(-XT_MIN_HEIGHT_PX // frames)
