"""Dataset folders: write/read round trip, TarTanAir layout, discovery, the generate CLI and clear errors."""

import argparse
import json
import shutil

import cv2
import numpy as np
import pytest

from stdnet_ros.cli import generate as data_cli
from stdnet_ros.data import DatasetError, find_sequences, generate_sequence, open_sequence, write_sequence
from stdnet_ros.data.folders import FolderSequence, depth_to_png_mm
from stdnet_ros.data.tartanair import TartanAirSequence
from stdnet_ros.depth.degradation import Degradation, degrade_numpy

W, H = 64, 48


@pytest.fixture(scope="module")
def frames():
    return list(generate_sequence(5, 3, width=W, height=H, motion="fast"))


@pytest.fixture()
def seq_dir(tmp_path, frames):
    path = tmp_path / "seq_a"
    assert write_sequence(path, frames, scales=(4, 8, 16)) == 3
    return path


def test_round_trip_keeps_every_field(seq_dir, frames):
    seq = open_sequence(seq_dir)
    assert isinstance(seq, FolderSequence) and seq.name == "seq_a" and len(seq) == 3
    assert seq.intrinsics == frames[0].intrinsics
    for i, f in enumerate(frames):
        assert np.array_equal(seq.rgb(i), f.rgb)
        depth = seq.depth(i)
        assert depth.dtype == np.float32 and np.abs(depth - f.depth_m).max() <= 0.0005 + 1e-6
        assert np.array_equal(seq.flow(i), f.flow, equal_nan=True)
        np.testing.assert_allclose(seq.poses[i], f.pose_c2w, atol=1e-6)
        for s in (4, 8, 16):
            expected = degrade_numpy(f.depth_m, f.rgb, s, Degradation())
            lr = seq.lr(i, s)
            assert lr.shape == (H // s, W // s) and np.abs(lr - expected).max() <= 0.0005 + 1e-6
    assert seq.lr(0, 2) is None
    with pytest.raises(IndexError):
        seq.rgb(3)


def test_optional_parts_are_none_when_absent(seq_dir):
    shutil.rmtree(seq_dir / "flow")
    (seq_dir / "poses.txt").unlink()
    shutil.rmtree(seq_dir / "lr_x8")
    seq = open_sequence(seq_dir)
    assert seq.flow(1) is None and seq.poses is None and seq.lr(1, 8) is None and seq.lr(1, 4) is not None


def test_depth_png_conversion_marks_unrepresentable_depth_invalid():
    mm = depth_to_png_mm(np.array([[0.0, 1.2345, 65.535, 70.0, np.nan, -1.0]], np.float32))
    assert mm.dtype == np.uint16 and mm.tolist() == [[0, 1234, 65535, 0, 0, 0]]


def test_find_sequences_accepts_a_sequence_or_a_folder_of_them(tmp_path, frames):
    for name in ("b", "a"):
        write_sequence(tmp_path / "root" / name, frames[:1], scales=())
    assert find_sequences(tmp_path / "root") == [tmp_path / "root" / "a", tmp_path / "root" / "b"]
    assert find_sequences(tmp_path / "root" / "a") == [tmp_path / "root" / "a"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no sequence folders"):
        find_sequences(tmp_path / "empty")
    with pytest.raises(DatasetError, match="not a sequence folder"):
        open_sequence(tmp_path / "empty")


def _corrupt(seq_dir, how):
    if how == "missing intrinsics":
        (seq_dir / "intrinsics.json").unlink()
    elif how == "intrinsics field":
        data = json.loads((seq_dir / "intrinsics.json").read_text())
        del data["fy"]
        (seq_dir / "intrinsics.json").write_text(json.dumps(data))
    elif how == "size not divisible by 16":
        data = json.loads((seq_dir / "intrinsics.json").read_text())
        data["width"] = 72
        (seq_dir / "intrinsics.json").write_text(json.dumps(data))
    elif how == "size not divisible by the scale":
        shutil.copytree(seq_dir / "lr_x4", seq_dir / "lr_x32")
    elif how == "count mismatch":
        (seq_dir / "depth" / "000002.png").unlink()
    elif how == "lr count mismatch":
        (seq_dir / "lr_x8" / "000002.png").unlink()
    elif how == "gap in numbering":
        for sub in ("rgb", "depth"):
            (seq_dir / sub / "000001.png").rename(seq_dir / sub / "000005.png")
    elif how == "bad file name":
        shutil.copy(seq_dir / "rgb" / "000000.png", seq_dir / "rgb" / "frame0.png")
    elif how == "poses count":
        lines = (seq_dir / "poses.txt").read_text().splitlines()
        (seq_dir / "poses.txt").write_text("\n".join(lines[:2]) + "\n")
    elif how == "flow count":
        (seq_dir / "flow" / "000002.npy").unlink()


@pytest.mark.parametrize(
    "how, file, message",
    [
        ("missing intrinsics", "intrinsics.json", "missing"),
        ("intrinsics field", "intrinsics.json", "'fy'"),
        ("size not divisible by 16", "intrinsics.json", "not divisible by 16"),
        ("size not divisible by the scale", "lr_x32", "not divisible by the scale 32"),
        ("count mismatch", "seq_a", "rgb/ has 3 frames but depth/ has 2"),
        ("lr count mismatch", "lr_x8", "2 frames"),
        ("gap in numbering", "rgb", "000001.png is missing"),
        ("bad file name", "frame0.png", "unexpected file name"),
        ("poses count", "poses.txt", "2 poses for 3 frames"),
        ("flow count", "flow", "flow files"),
    ],
)
def test_bad_dataset_is_reported_with_file_and_problem(seq_dir, how, file, message):
    _corrupt(seq_dir, how)
    with pytest.raises(DatasetError, match=message) as err:
        open_sequence(seq_dir)
    assert file in str(err.value)


def test_unreadable_or_wrong_type_images_name_the_file(seq_dir):
    (seq_dir / "rgb" / "000001.png").write_bytes(b"not a png")
    cv2.imwrite(str(seq_dir / "depth" / "000002.png"), np.zeros((H, W), np.uint8))
    cv2.imwrite(str(seq_dir / "lr_x4" / "000000.png"), np.zeros((5, 5), np.uint16))
    seq = open_sequence(seq_dir)  # opening checks the layout, not every image
    with pytest.raises(DatasetError, match=r"rgb/000001\.png: missing or unreadable"):
        seq.rgb(1)
    with pytest.raises(DatasetError, match=r"depth/000002\.png: expected 1-channel uint16, got 1-channel uint8"):
        seq.depth(2)
    with pytest.raises(DatasetError, match=r"lr_x4/000000\.png: expected shape \(12, 16\)"):
        seq.lr(0, 4)


def _write_tartanair(path, count, with_extras=True):
    gen = np.random.default_rng(0)
    (path / "image_left").mkdir(parents=True)
    (path / "depth_left").mkdir()
    for i in range(count):
        cv2.imwrite(str(path / "image_left" / f"{i:06d}_left.png"), gen.integers(0, 256, (480, 640, 3), dtype=np.uint8))
        np.save(path / "depth_left" / f"{i:06d}_left_depth.npy", np.full((480, 640), 1.0 + i, np.float32))
    if with_extras:
        (path / "flow").mkdir()
        for i in range(count - 1):
            np.save(path / "flow" / f"{i:06d}_{i + 1:06d}_flow.npy", np.full((480, 640, 2), float(i + 1), np.float32))
        (path / "pose_left.txt").write_text("\n".join("1 2 3 0 0 0 1" for _ in range(count)) + "\n")


def test_tartanair_layout_is_read_with_pixel_centre_intrinsics(tmp_path):
    path = tmp_path / "office2" / "Easy" / "P004"
    _write_tartanair(path, 3)
    assert find_sequences(tmp_path) == [path]
    seq = open_sequence(path)
    assert isinstance(seq, TartanAirSequence) and len(seq) == 3 and seq.name == "P004"
    intr = seq.intrinsics
    assert (intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height) == (320, 320, 319.5, 239.5, 640, 480)
    assert seq.rgb(2).shape == (480, 640, 3)
    assert seq.depth(2).dtype == np.float32 and np.all(seq.depth(2) == 3.0)
    assert np.isnan(seq.flow(0)).all() and np.all(seq.flow(2) == 2.0)  # flow(2) is the 000001_000002 file
    assert seq.lr(0, 4) is None
    # Identity NED body pose: the OpenCV camera looks along NED x, its image x axis is NED y, image y is NED z.
    np.testing.assert_allclose(seq.poses[0][:3, :3], [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(seq.poses[0][:3, 3], [1, 2, 3])


def test_tartanair_errors_name_the_problem(tmp_path):
    path = tmp_path / "P000"
    _write_tartanair(path, 2, with_extras=False)
    (path / "depth_left" / "000001_left_depth.npy").unlink()
    with pytest.raises(DatasetError, match="image_left/ has 2 frames but depth_left/ has 1"):
        open_sequence(path)
    np.save(path / "depth_left" / "000001_left_depth.npy", np.zeros((10, 10), np.float32))
    with pytest.raises(DatasetError, match=r"000001_left_depth\.npy: expected shape \(480, 640\)"):
        open_sequence(path).depth(1)


def test_generate_cli_writes_readable_sequences(tmp_path):
    parser = argparse.ArgumentParser()
    data_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        [
            "generate",
            str(tmp_path / "out"),
            "--split",
            "test",
            "--sequences",
            "2",
            "--frames",
            "2",
            "--width",
            "64",
            "--height",
            "48",
            "--scales",
            "4,16",
        ]
    )
    assert args.func(args) == 0
    paths = find_sequences(tmp_path / "out")
    assert [p.name for p in paths] == ["test_000000", "test_000001"]
    seq = open_sequence(paths[1])
    assert len(seq) == 2 and seq.lr(1, 4).shape == (12, 16) and seq.lr(1, 16).shape == (3, 4) and seq.lr(1, 8) is None
    with pytest.raises(SystemExit):
        parser.parse_args(["generate", str(tmp_path), "--scales", "4,x"])
