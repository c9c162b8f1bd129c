"""Delayed (bidirectional) mode through a stdnet_node process over real DDS: each output carries the stamp and the
RGB colours of the input frame it describes, not those of the frame that released it."""

import time

import numpy as np

from ros_helpers import NodeProcess, Peer, camera_info, frame, free_domain, params_file, stamp_ns, tiny_weights
from stdnet_ros.depth.cloud_arrays import XYZRGB_DTYPE, unpack_rgb

H, W, S = 48, 64, 4


def test_delayed_outputs_keep_the_stamp_and_colours_of_their_own_input_frame(tmp_path):
    weights = tiny_weights(tmp_path / "tiny-bidirectional.safetensors", mode="bidirectional")
    params = params_file(
        tmp_path / "params.yaml", weights=str(weights), device="cpu", mode="bidirectional", max_gap=100.0
    )
    domain = free_domain()
    node = NodeProcess(params, domain, tmp_path / "node.log")
    peer = Peer(domain)
    try:
        assert peer.wait_matched(60), node.log()
        peer.spin_for(0.5)  # let discovery settle on the node's side too
        rng = np.random.default_rng(0)
        sent = []
        for _ in range(9):  # one at a time: the one-slot queue would drop frames sent faster than processed
            rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            stamp = time.time_ns()
            peer.publish("depth/camera_info", camera_info(40.0, 40.0, 7.5, 5.5, W // S, H // S))
            peer.send(*frame(stamp, rgb, rng.uniform(1, 3, (H // S, W // S)).astype(np.float32)))
            sent.append((stamp, rgb))
            peer.spin_for(0.4)
        assert peer.spin_until(lambda: len(peer.received["status"]) >= 3, 10), node.log()
        delay = peer.received["status"][0].delay_frames
        assert delay == 4 and peer.received["status"][0].mode == "delayed"  # 2 backward passes x 2 frames
        stamps = [s for s, _ in sent]
        for status in peer.received["status"]:
            k = stamps.index(stamp_ns(status))
            assert status.input_stamp.sec * 10**9 + status.input_stamp.nanosec == stamps[k + delay]
        for cloud in peer.received["points"]:
            k = stamps.index(stamp_ns(cloud))
            points = np.frombuffer(cloud.data, XYZRGB_DTYPE).reshape(H, W)
            np.testing.assert_array_equal(unpack_rgb(points), sent[k][1])
        assert len(peer.received["points"]) >= 3
    finally:
        peer.close()
        assert node.stop() == 0
