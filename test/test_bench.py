"""The training and model benchmarks run every variant and record them with the machine (no timing is asserted)."""

import json

from stdnet_ros.cli import main
from stdnet_ros.data import generate_sequence, split_seed, write_sequence

VARIANTS = {"torchvision/fp32", "grid_sample/fp32", "grid_sample/bf16"}


def only_record(folder):
    [path] = folder.iterdir()
    return json.loads(path.read_text())


def test_train_bench_records_every_variant_and_its_ratio_to_the_reference(tmp_path):
    assert (
        main(
            [
                "bench",
                "train",
                "--device",
                "cpu",
                "--out",
                str(tmp_path),
                "--batch",
                "1",
                "--frames",
                "3",
                "--patch",
                "32",
                "--steps",
                "1",
            ]
        )
        == 0
    )
    record = only_record(tmp_path)
    assert set(record["variants"]) == VARIANTS
    assert all(len(v["ms_per_step"]) == 1 and v["ms_per_step_median"] > 0 for v in record["variants"].values())
    assert set(record["over_torchvision_fp32"]) == VARIANTS - {"torchvision/fp32"}
    assert isinstance(record["machine"]["native_bf16"], bool) and record["commit"]


def test_base_bench_times_both_bases_and_records_that_they_agree(tmp_path):
    args = ["--width", "40", "--height", "24", "--batch", "2", "--repeats", "2"]
    assert main(["bench", "base", "--device", "cpu", "--out", str(tmp_path), *args]) == 0
    record = only_record(tmp_path)
    assert set(record["ms_p50"]) == {"half-window", "reference"} and all(v > 0 for v in record["ms_p50"].values())
    assert record["ratio_half_window_to_reference"] == record["ms_p50"]["half-window"] / record["ms_p50"]["reference"]
    assert record["max_abs_difference"] < 1e-5 and (record["width"], record["height"]) == (40, 24) and record["commit"]


def test_model_bench_streams_both_modes_in_every_variant(tmp_path):
    assert (
        main(
            [
                "bench",
                "model",
                "--device",
                "cpu",
                "--out",
                str(tmp_path),
                "--width",
                "64",
                "--height",
                "48",
                "--frames",
                "24",
                "--offline-frames",
                "3",
                "--precisions",
                "fp32",
                "bf16",
            ]
        )
        == 0
    )
    record = only_record(tmp_path)
    assert set(record["variants"]) == VARIANTS
    for modes in record["variants"].values():
        assert modes["causal"]["delay_frames"] == 0 and modes["bidirectional"]["delay_frames"] == 4
        assert all(m["ms_per_frame_median"] > 0 and m["cached_tensors"]["frame_24"] > 0 for m in modes.values())
    assert set(record["streaming_over_torchvision_fp32"]) == VARIANTS - {"torchvision/fp32"}


def test_precision_bench_streams_shipped_weights_in_fp32_and_bf16_and_they_agree(tmp_path):
    write_sequence(tmp_path / "data" / "seq", generate_sequence(split_seed("test", 0), 4, 64, 48), scales=())
    assert (
        main(
            [
                "bench",
                "precision",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "out"),
                "--data",
                str(tmp_path / "data"),
                "--scale",
                "4",
                "--mode",
                "causal",
            ]
        )
        == 0
    )
    record = only_record(tmp_path / "out")
    rmse = record["rmse_cm"]
    assert set(rmse) == {"fp32_vs_bf16", "fp32", "bf16"} and 0 < rmse["fp32_vs_bf16"] < 1.0  # the node's bar
    assert abs(rmse["bf16"] - rmse["fp32"]) < 0.5 and record["weights"].endswith("stdnet-lite-x4-causal.safetensors")
    assert set(record["ms_per_push_median"]) == {"fp32", "bf16"}
