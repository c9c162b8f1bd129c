"""stdnet_node with rgb_transport: compressed and depth_transport: compressedDepth, over real DDS: it subscribes
the transports' topics and decodes them (PNG RGB, 16UC1 compressedDepth), publishes depth_sr/image/compressedDepth
to a subscriber, and a corrupt payload on either input is dropped, counted under its topic with reason "format" and
logged, while good frames keep coming out."""

import numpy as np
from sensor_msgs.msg import CompressedImage

from ros_helpers import diagnostics, frame, latest_status, running_node, stamp_ns
from stdnet_ros.messages.decode import decode_depth_m
from stdnet_ros.messages.image import image_to_depth_m

RGB, DEPTH = "/rgb/image/compressed", "/depth/image/compressedDepth"


def test_compressed_transports_decode_and_corrupt_payloads_are_dropped_and_counted(tmp_path):
    params = {"rgb_transport": "compressed", "depth_transport": "compressedDepth"}
    with running_node(tmp_path, **params) as (node, peer, stream):
        received = []
        peer.node.create_subscription(CompressedImage, "depth_sr/image/compressedDepth", received.append, 10)
        assert peer.spin_until(lambda: peer.node.count_publishers("depth_sr/image/compressedDepth") > 0, 10)
        peer.spin_for(0.5)  # the node sees our subscription
        rgb, depth = stream.arrays()
        stamp = stream.send(rgb, depth, encoding="16UC1")
        out = image_to_depth_m(stream.wait(stamp)["depth"])
        assert out.shape == rgb.shape[:2] and np.isfinite(out).all()
        # the optional compressedDepth output: the same depth (32FC1 output: inverse-depth quantised, <= 1 %)
        assert peer.spin_until(lambda: any(stamp_ns(m) == stamp for m in received), 5)
        mine = next(m for m in received if stamp_ns(m) == stamp)
        assert mine.format == "32FC1; compressedDepth png"
        assert np.allclose(decode_depth_m(mine, "out"), out, rtol=0.01)
        before = latest_status(peer).invalid_drops
        for target in (0, 1):  # the RGB, then the depth message of a pair carries a corrupt payload
            bad = stream.stamp()
            msgs = frame(bad, *stream.arrays(), "16UC1", compressed=True)
            msgs[target].data = bytes(msgs[target].data)[:12] + b"corrupt payload"
            peer.send(*msgs)
            peer.spin_for(0.2)
            good = stream.wait(stream.send(encoding="16UC1"))
            assert peer.output("depth", bad) is None
            assert good["status"].invalid_drops == before + target + 1
        expected = {f"invalid drops {RGB} (format)": "1", f"invalid drops {DEPTH} (format)": "1"}

        def counted() -> bool:
            return bool(peer.received["diagnostics"]) and expected.items() <= diagnostics(peer).items()

        assert peer.spin_until(counted, 5), peer.received["diagnostics"][-1:]
        log = node.log()
        assert "is not a decodable png image" in log and "not a 16-bit one-channel PNG" in log
