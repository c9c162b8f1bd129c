"""``stdnet bag sample``: a bag of a generated RGB-D clip, the demo's embedded default data.

Topics (all reliable, KEEP_LAST 10, frame ``camera_optical_frame``, depth registered to the RGB camera):

* ``/camera/rgb/image`` rgb8 W x H and ``/camera/rgb/camera_info``;
* ``/camera/depth/image`` 16UC1 millimetres, (W / scale) x (H / scale), made from the ground truth by the default
  sensor (depth/degradation.py, the indoor one), seeded per frame as ``stdnet eval --lr indoor`` seeds a folder
  named ``test_<sequence>``, and ``/camera/depth/camera_info``;
* ``/camera/depth_gt/image`` 16UC1 millimetres W x H: the ground truth (aligned with the RGB).

With ``compressed`` the RGB and the ToF depth are written as image_transport writes them instead
(messages/compressed.py): ``/camera/rgb/image/compressed`` JPEG (quality 95) and
``/camera/depth/image/compressedDepth`` 16UC1 PNG; camera_infos and ground truth stay as above.

Frames are 30 Hz; the first stamp is the wall clock when writing starts. Every message of a frame carries
the same header stamp, which is also its log time. The pixels are those of ``stdnet data`` folders written
from the same sequence (16-bit millimetre PNGs), so a bag and a folder of one seed evaluate identically.
"""

import time
import zlib
from pathlib import Path

from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from stdnet_ros.bags.messages import header
from stdnet_ros.bags.writer import BagWriter
from stdnet_ros.data import generate_sequence, split_seed
from stdnet_ros.depth.degradation import DEFAULT_SENSOR, SENSORS, degrade_numpy
from stdnet_ros.messages.camera_info import camera_info_from_intrinsics
from stdnet_ros.messages.compressed import depth_m_to_compressed_depth, rgb_to_compressed
from stdnet_ros.messages.image import depth_m_to_image, rgb_to_image

RGB_TOPIC = "/camera/rgb/image"
RGB_INFO_TOPIC = "/camera/rgb/camera_info"
DEPTH_TOPIC = "/camera/depth/image"
DEPTH_INFO_TOPIC = "/camera/depth/camera_info"
GT_TOPIC = "/camera/depth_gt/image"
FRAME_ID = "camera_optical_frame"
FPS = 30
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"


def lr_seed(sequence: int, index: int) -> int:
    """Seed of the LR simulation of frame ``index`` (the evaluation's rule for a folder test_<sequence>)."""
    return zlib.crc32(f"test_{sequence:06d}/{index}".encode())


def write_sample_bag(
    path: Path,
    frames: int = 60,
    width: int = 320,
    height: int = 240,
    scale: int = 4,
    sequence: int = 0,
    storage: str = "mcap",
    compressed: bool = False,
) -> int:
    """Write the sample bag of synthetic test sequence ``sequence``; returns the number of frames."""
    start_ns = time.time_ns()
    count = 0
    rgb_topic = RGB_TOPIC + "/compressed" if compressed else RGB_TOPIC
    depth_topic = DEPTH_TOPIC + "/compressedDepth" if compressed else DEPTH_TOPIC
    image_type = COMPRESSED_TYPE if compressed else IMAGE_TYPE
    with BagWriter(path, storage) as bag:
        for topic, msgtype in (
            (rgb_topic, image_type),
            (RGB_INFO_TOPIC, CAMERA_INFO_TYPE),
            (depth_topic, image_type),
            (DEPTH_INFO_TOPIC, CAMERA_INFO_TYPE),
            (GT_TOPIC, IMAGE_TYPE),
        ):
            bag.add_topic(topic, msgtype)
        for i, frame in enumerate(generate_sequence(split_seed("test", sequence), frames, width, height)):
            t_ns = start_ns + i * 1_000_000_000 // FPS
            hdr = header(t_ns, FRAME_ID)
            lr_m = degrade_numpy(frame.depth_m, frame.rgb, scale, SENSORS[DEFAULT_SENSOR], lr_seed(sequence, i))
            if compressed:
                rgb_msg = rgb_to_compressed(frame.rgb, CompressedImage, hdr)
                depth_msg = depth_m_to_compressed_depth(lr_m, CompressedImage, hdr)
            else:
                rgb_msg, depth_msg = rgb_to_image(frame.rgb, Image, hdr), depth_m_to_image(lr_m, Image, hdr, "16UC1")
            bag.write(rgb_topic, rgb_msg, t_ns)
            bag.write(RGB_INFO_TOPIC, camera_info_from_intrinsics(frame.intrinsics, CameraInfo, hdr), t_ns)
            bag.write(depth_topic, depth_msg, t_ns)
            bag.write(
                DEPTH_INFO_TOPIC, camera_info_from_intrinsics(frame.intrinsics.scaled(1 / scale), CameraInfo, hdr), t_ns
            )
            bag.write(GT_TOPIC, depth_m_to_image(frame.depth_m, Image, hdr, "16UC1"), t_ns)
            count = i + 1
    return count


def run(args) -> int:
    start = time.perf_counter()
    count = write_sample_bag(
        args.out, args.frames, args.width, args.height, args.scale, args.sequence, args.storage, args.compressed
    )
    print(
        f"wrote {args.out}: {count} frames {args.width}x{args.height} RGB, "
        f"{args.width // args.scale}x{args.height // args.scale} ToF depth (x{args.scale})"
        f"{' (compressed, compressedDepth)' if args.compressed else ''}, ground truth, "
        f"at {FPS} Hz ({args.storage}, {time.perf_counter() - start:.1f} s)"
    )
    return 0
