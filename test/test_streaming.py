"""The streaming engine: exact against the offline forward, causal, bounded, resets, input checks."""

import numpy as np
import pytest
import torch

from conftest import frame_arrays, random_clip, tiny_model
from stdnet_ros import streaming
from stdnet_ros.depth.invalid_depth import mask_unsupported, valid_mask
from stdnet_ros.streaming import StreamingEngine


def offline_reference(model, rgb, lr):
    """Offline whole-clip forward with the engine's output rule (NaN without LR support), (T, H, W) metres."""
    with torch.no_grad():
        out = model(lr, rgb)[0]
    return mask_unsupported(out, valid_mask(lr[0]), model.config.scale)[:, 0].numpy()


def stream(engine, rgb, lr, t0=0.0, dt=0.1):
    """Push every frame; returns (outputs in order, per-push output stamps)."""
    outputs, per_push = [], []
    for t in range(rgb.shape[1]):
        got = engine.push(*frame_arrays(rgb, lr, t), t0 + t * dt)
        per_push.append([s for s, _ in got])
        outputs += got
    return outputs, per_push


@pytest.mark.parametrize(
    "directions, stages, alignment",
    [
        ("causal", 2, "learned"),
        ("bidirectional", 2, "learned"),
        ("bidirectional", 1, "learned"),
        ("single-frame", 2, "learned"),
        ("causal", 2, "flow-guided"),
        ("bidirectional", 2, "flow-guided"),
    ],
)
def test_streaming_equals_offline_for_every_frame(directions, stages, alignment):
    model = tiny_model(directions, stages, alignment=alignment)
    rgb, lr = random_clip(frames=13)
    lr[0, 3, 0, 2, 5] = 0.0  # invalid pixels are filled for the network and NaN in the output
    lr[0, 6, 0, 1:3, 1:4] = float("nan")
    reference = offline_reference(model, rgb, lr)
    engine = StreamingEngine(model, device="cpu")
    outputs, per_push = stream(engine, rgb, lr)
    delay = engine.delay
    assert delay == (4 * stages if directions == "bidirectional" else 0)
    # Frame t comes out of the push of frame t + delay, exactly one per push after the first `delay` pushes.
    for t, stamps in enumerate(per_push):
        assert stamps == ([] if t < delay else [pytest.approx((t - delay) * 0.1)])
    outputs += engine.flush()
    assert [s for s, _ in outputs] == [pytest.approx(t * 0.1) for t in range(13)]
    for t, (_, depth) in enumerate(outputs):
        assert depth.shape == (32, 48) and depth.dtype == np.float32
        assert np.array_equal(np.isnan(depth), np.isnan(reference[t]))
        assert np.nanmax(np.abs(depth - reference[t])) <= 1e-4
    assert np.isnan(outputs[3][1][8:12, 20:24]).all() and np.isnan(outputs[6][1][4:12, 4:16]).all()


@pytest.mark.parametrize("alignment", ["learned", "flow-guided"])
def test_memory_is_bounded_by_the_receptive_field(alignment):
    model = tiny_model("bidirectional", 2, alignment=alignment)
    rgb, lr = random_clip(frames=30, height=16, width=16)
    engine = StreamingEngine(model, device="cpu")
    counts = []
    for t in range(30):
        engine.push(*frame_arrays(rgb, lr, t), t * 0.1)
        counts.append(engine.cached_tensors())
    assert max(counts[15:]) == min(counts[15:])  # flat in steady state
    assert engine.pending == engine.delay


def test_causal_stream_ignores_future_frames():
    model = tiny_model("causal", 2)
    rgb, lr = random_clip(frames=6)
    a = StreamingEngine(model, device="cpu")
    b = StreamingEngine(model, device="cpu")
    for t in range(4):
        out_a = a.push(*frame_arrays(rgb, lr, t), t * 0.1)
        out_b = b.push(*frame_arrays(rgb, lr, t), t * 0.1)
        assert np.array_equal(out_a[0][1], out_b[0][1])
    # frame 4 differs only for b: a's frame-3 output was already final and identical, b's new output differs
    lr_b = lr.clone()
    lr_b[0, 4] += 1.0
    out_a = a.push(*frame_arrays(rgb, lr, 4), 0.4)
    out_b = b.push(*frame_arrays(rgb, lr_b, 4), 0.4)
    assert not np.allclose(out_a[0][1], out_b[0][1])


@pytest.mark.parametrize("second_stamp", [0.05, 10.0])  # backwards (bag loop) / a gap longer than max_gap
def test_discontinuity_flushes_and_resets(second_stamp):
    model = tiny_model("bidirectional", 1)
    rgb, lr = random_clip(frames=12)
    engine = StreamingEngine(model, device="cpu", max_gap=0.5)
    first, _ = stream(engine, rgb[:, :6], lr[:, :6], t0=1.0)
    assert engine.resets == 0 and engine.pending == engine.delay
    got = engine.push(*frame_arrays(rgb, lr, 6), second_stamp)
    assert engine.resets == 1
    # The pending frames of the first segment come out, finalised as the end of their clip.
    assert [s for s, _ in first + got] == [pytest.approx(1.0 + 0.1 * t) for t in range(6)]
    reference = offline_reference(model, rgb[:, :6], lr[:, :6])
    for t, (_, depth) in enumerate(first + got):
        assert np.nanmax(np.abs(depth - reference[t])) <= 1e-4
    # The new segment starts fresh: its outputs equal a new engine's on the same frames.
    rest, _ = stream(engine, rgb[:, 7:], lr[:, 7:], t0=second_stamp + 0.1)
    fresh = StreamingEngine(model, device="cpu")
    expected, _ = stream(fresh, rgb[:, 6:], lr[:, 6:], t0=second_stamp)
    rest += engine.flush()
    expected += fresh.flush()
    assert len(rest) == len(expected) == 6
    for (s1, d1), (s2, d2) in zip(rest, expected):
        assert s1 == pytest.approx(s2) and np.allclose(d1, d2, atol=1e-5, equal_nan=True)


def test_explicit_reset_drops_pending_frames_without_counting():
    engine = StreamingEngine(tiny_model("bidirectional", 1), device="cpu")
    rgb, lr = random_clip(frames=3)
    stream(engine, rgb, lr)
    engine.reset()
    assert engine.pending == 0 and engine.resets == 0 and engine.flush() == []


def test_all_invalid_depth_gives_all_nan():
    engine = StreamingEngine(tiny_model("causal", 2), device="cpu")
    rgb, lr = random_clip(frames=1)
    out = engine.push(rgb[0, 0].permute(1, 2, 0).numpy(), np.full((8, 12), np.nan, np.float32), 0.0)
    assert np.isnan(out[0][1]).all()


def test_uint8_and_float_rgb_agree():
    model = tiny_model("causal", 1)
    rgb, lr = random_clip(frames=1)
    rgb8 = (rgb[0, 0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    a = StreamingEngine(model, device="cpu").push(rgb8, lr[0, 0, 0].numpy(), 0.0)[0][1]
    b = StreamingEngine(model, device="cpu").push(rgb8.astype(np.float32) / 255, lr[0, 0, 0].numpy(), 0.0)[0][1]
    assert np.allclose(a, b, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize(
    "rgb_shape, lr_shape, dtype, message",
    [
        ((32, 48), (8, 12), np.uint8, r"rgb: expected shape \(H, W, 3\)"),
        ((32, 48, 4), (8, 12), np.uint8, r"rgb: expected shape \(H, W, 3\)"),
        ((32, 48, 3), (8, 11), np.uint8, r"lr_depth: expected shape \(8, 12\)"),
        ((30, 48, 3), (7, 12), np.uint8, "multiples of the scale 4"),
        ((32, 48, 3), (8, 12), np.int32, "rgb: expected dtype"),
    ],
)
def test_bad_frames_raise_a_clear_error(rgb_shape, lr_shape, dtype, message):
    engine = StreamingEngine(tiny_model("causal", 1), device="cpu")
    with pytest.raises(ValueError, match=message):
        engine.push(np.zeros(rgb_shape, dtype), np.ones(lr_shape, np.float32), 0.0)
    assert engine.pending == 0


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_is_bf16_only_where_the_device_computes_it_natively(monkeypatch, native, expected):
    monkeypatch.setattr(streaming, "native_bf16", lambda device: native)
    assert StreamingEngine(tiny_model("causal", 1), device="cpu", precision="auto").precision == expected


def test_bad_engine_options():
    model = tiny_model("causal", 1)
    with pytest.raises(ValueError, match="precision"):
        StreamingEngine(model, device="cpu", precision="int8")
    with pytest.raises(ValueError, match="precision: 'fp16' needs a CUDA device"):
        StreamingEngine(model, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="max_gap"):
        StreamingEngine(model, device="cpu", max_gap=0)


@pytest.mark.parametrize("directions", ["causal", "bidirectional"])
def test_streamed_output_scales_with_the_depth(directions):
    model = tiny_model(directions, stages=1)
    rgb, lr = random_clip(frames=7)
    outputs = {}
    for k in (1.0, 0.1, 3.0):
        engine = StreamingEngine(model, device="cpu")
        got, _ = stream(engine, rgb, lr * k)
        outputs[k] = np.stack([d for _, d in got + engine.flush()])
    for k in (0.1, 3.0):
        np.testing.assert_allclose(outputs[k], outputs[1.0] * k, rtol=1e-4, atol=1e-5 * k)


def test_an_all_invalid_frame_mid_stream_is_all_nan_and_its_neighbours_are_not():
    engine = StreamingEngine(tiny_model("causal", 1), device="cpu")
    rgb, lr = random_clip(frames=3)
    lr[0, 1] = 0.0  # a 16UC1 frame of zeros: no valid pixel, so no scale and no depth
    outputs, _ = stream(engine, rgb, lr)
    assert [np.isnan(d).all() for _, d in outputs] == [False, True, False]
    assert all(np.isfinite(d).all() for i, (_, d) in enumerate(outputs) if i != 1)


@pytest.mark.parametrize("directions", ["causal", "bidirectional"])
def test_cpu_bf16_autocast_stays_close_to_fp32_and_keeps_invalid_pixels_nan(directions):
    model = tiny_model(directions, stages=2)
    rgb, lr = random_clip(frames=7)
    lr[0, 2, 0, 1:3, 1:4] = float("nan")
    reference = offline_reference(model, rgb, lr)
    engine = StreamingEngine(model, device="cpu", precision="bf16")
    outputs, _ = stream(engine, rgb, lr)
    outputs += engine.flush()
    for t, (_, depth) in enumerate(outputs):
        assert depth.dtype == np.float32
        assert np.array_equal(np.isnan(depth), np.isnan(reference[t]))
        # bf16 keeps 8 mantissa bits: the residual's error is about 0.4 % of its size, the base stays fp32.
        assert 0 < np.nanmax(np.abs(depth - reference[t])) <= 0.02 * np.nanmax(np.abs(reference[t]))
