"""launch_testing: launch/stdnet.launch.py for real, frames in, super-resolved depth out, clean exit.

Runs only where ROS 2 launch_testing is installed (a ROS 2 install with this workspace built and sourced):
  launch_test test/test_launch_testing.py     (or pytest with the launch_testing plugin)
"""

import os
import tempfile
import unittest
from pathlib import Path

import numpy as np
import pytest

launch_testing = pytest.importorskip(
    "launch_testing",
    reason="launch_testing is not installed (needs a ROS 2 install; test_launch.py checks the launch file here)",
)
import launch_testing.actions  # noqa: E402, F811 (the module object importorskip returned, now with .actions)
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

import launch  # noqa: E402
from ros_helpers import ROOT, Peer, camera_info, frame, tiny_weights  # noqa: E402

H, W, S = 48, 64, 4


@pytest.mark.launch_test
def generate_test_description():
    weights = tiny_weights(Path(tempfile.mkdtemp()) / "tiny.safetensors")
    stdnet = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(ROOT / "launch" / "stdnet.launch.py")),
        launch_arguments={"weights": str(weights), "device": "cpu"}.items(),
    )
    return launch.LaunchDescription([stdnet, launch_testing.actions.ReadyToTest()])


class TestStdnetLaunch(unittest.TestCase):
    def test_frames_in_super_resolved_depth_out(self):
        peer = Peer(int(os.environ.get("ROS_DOMAIN_ID", "0")))
        try:
            self.assertTrue(peer.wait_matched(60))
            rng = np.random.default_rng(0)
            for k in range(50):
                stamp = 1_000_000_000_000 + k * 50_000_000
                depth = (1 + rng.random((H // S, W // S))).astype(np.float32)
                peer.publish("depth/camera_info", camera_info(40.0, 40.0, 7.5, 5.5, W // S, H // S))
                peer.send(*frame(stamp, rng.integers(0, 256, (H, W, 3), dtype=np.uint8), depth))
                if peer.spin_until(lambda: bool(peer.received["points"]), 0.2):
                    break
            self.assertTrue(peer.received["depth"] and peer.received["points"] and peer.received["status"])
            self.assertEqual((peer.received["depth"][0].height, peer.received["depth"][0].width), (H, W))
        finally:
            peer.close()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
