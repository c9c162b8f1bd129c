"""The training and model benchmarks run every variant and record them with the machine (no timing is asserted)."""
import json

from stdnet_ros.cli import main

VARIANTS = {"torchvision/fp32", "grid_sample/fp32", "grid_sample/bf16"}


def only_record(folder):
    [path] = folder.iterdir()
    return json.loads(path.read_text())


def test_train_bench_records_every_variant_and_its_ratio_to_the_reference(tmp_path):
    assert main(["bench", "train", "--device", "cpu", "--out", str(tmp_path), "--batch", "1", "--frames", "3",
                 "--patch", "32", "--steps", "1"]) == 0
    record = only_record(tmp_path)
    assert set(record["variants"]) == VARIANTS
    assert all(len(v["ms_per_step"]) == 1 and v["ms_per_step_median"] > 0 for v in record["variants"].values())
    assert set(record["over_torchvision_fp32"]) == VARIANTS - {"torchvision/fp32"}
    assert isinstance(record["machine"]["native_bf16"], bool) and record["commit"]


def test_model_bench_streams_both_modes_in_every_variant(tmp_path):
    assert main(["bench", "model", "--device", "cpu", "--out", str(tmp_path), "--width", "64", "--height", "48",
                 "--frames", "24", "--offline-frames", "3", "--precisions", "fp32", "bf16"]) == 0
    record = only_record(tmp_path)
    assert set(record["variants"]) == VARIANTS
    for modes in record["variants"].values():
        assert modes["causal"]["delay_frames"] == 0 and modes["bidirectional"]["delay_frames"] == 4
        assert all(m["ms_per_frame_median"] > 0 and m["cached_tensors"]["frame_24"] > 0 for m in modes.values())
    assert set(record["streaming_over_torchvision_fp32"]) == VARIANTS - {"torchvision/fp32"}
