"""Which topics of a bag are the RGB image, the ToF depth, the ground truth and their camera_infos.

A topic given by name is checked (present, an Image or CompressedImage, a supported encoding); otherwise it is
detected from the first well-formed message of every image topic: RGB = the topic with a colour encoding, depth =
a depth encoding (16UC1 / 32FC1) smaller than the RGB, ground truth = a depth encoding at the RGB's size. A
CompressedImage counts as its decoded image: ``compressed`` JPEG / PNG as rgb8, ``compressedDepth`` as its depth
encoding (messages/compressed.py). A camera_info is the CameraInfo topic next to its image (``/ns/image`` or
``/ns/image/compressed`` -> ``/ns/camera_info``), as image_transport pairs them.
"""

from dataclasses import dataclass

from stdnet_ros.bags import BagError
from stdnet_ros.bags.reader import BagReader
from stdnet_ros.messages.compressed import compressed_depth_to_m, compressed_to_rgb
from stdnet_ros.messages.image import DEPTH_ENCODINGS, RGB_ENCODINGS, ImageFormatError

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
TRANSPORT_SUFFIXES = ("/compressed", "/compressedDepth")


@dataclass(frozen=True)
class ImageSummary:
    """What detection needs of an image message: its (decoded) encoding and size."""

    encoding: str
    width: int
    height: int


def summary(msg) -> ImageSummary:
    """An Image's encoding and size, or a CompressedImage's after decoding it (ImageFormatError if it does not)."""
    if hasattr(msg, "encoding"):
        return ImageSummary(msg.encoding, int(msg.width), int(msg.height))
    if "compressedDepth" in str(msg.format):
        depth = compressed_depth_to_m(msg, "compressedDepth")
        return ImageSummary(str(msg.format).split(";")[0].strip(), depth.shape[1], depth.shape[0])
    rgb = compressed_to_rgb(msg, "compressed")
    return ImageSummary("rgb8", rgb.shape[1], rgb.shape[0])


@dataclass(frozen=True)
class BagTopics:
    rgb: str
    depth: str
    rgb_info: str | None
    depth_info: str | None
    gt: str | None


def _first_image(
    bag: BagReader, topic: str, encodings: tuple[str, ...] = RGB_ENCODINGS + DEPTH_ENCODINGS
) -> ImageSummary:
    """The summary of the topic's first message with one of ``encodings`` and a non-zero size (a malformed first
    frame does not decide), else of its first message (an undecodable one: encoding "undecodable")."""
    first = None
    for _, _, msg in bag.messages([topic]):
        try:
            info = summary(msg)
        except ImageFormatError:
            info = ImageSummary("undecodable", 0, 0)
        first = first or info
        if info.encoding in encodings and info.width > 0 and info.height > 0:
            return info
    if first is None:
        raise BagError(f"{bag.path}: topic {topic} has no messages")
    return first


def _checked(bag: BagReader, topic: str, role: str, encodings: tuple[str, ...], option: str) -> ImageSummary:
    if bag.topics.get(topic) not in IMAGE_TYPES:
        bag.require(topic, IMAGE_TYPE, role)  # raises, naming the topic and what the bag has
    info = _first_image(bag, topic, encodings)
    if info.encoding not in encodings:
        raise BagError(
            f"{bag.path}: topic {topic} (the {role}, {option}) has encoding {info.encoding!r}; "
            f"supported: {', '.join(encodings)}"
        )
    return info


def _only(bag: BagReader, candidates: list[str], role: str, option: str) -> str | None:
    if len(candidates) > 1:
        raise BagError(f"{bag.path}: several topics could be the {role} ({', '.join(candidates)}); pass {option}")
    return candidates[0] if candidates else None


def _camera_info(bag: BagReader, image_topic: str) -> str | None:
    for suffix in TRANSPORT_SUFFIXES:
        image_topic = image_topic.removesuffix(suffix)
    topic = image_topic.rsplit("/", 1)[0] + "/camera_info"
    return topic if bag.topics.get(topic) == CAMERA_INFO_TYPE else None


def detect_topics(bag: BagReader, rgb: str | None = None, depth: str | None = None, gt: str | None = None) -> BagTopics:
    """The topics to process; a BagError names the bag and what is missing, ambiguous or unsupported."""
    images = {t: None for kind in IMAGE_TYPES for t in bag.topics_of_type(kind)}
    if not images and not (rgb or depth):
        raise BagError(
            f"{bag.path}: no {IMAGE_TYPE} or {COMPRESSED_TYPE} topic; the bag has "
            f"{', '.join(f'{t} ({m})' for t, m in sorted(bag.topics.items())) or 'no topics'}"
        )
    for topic in images:
        images[topic] = _first_image(bag, topic) if bag.count(topic) else None
    colour = [t for t, m in images.items() if m is not None and m.encoding in RGB_ENCODINGS]
    depths = [t for t, m in images.items() if m is not None and m.encoding in DEPTH_ENCODINGS]
    if rgb is None:
        rgb = _only(bag, colour, "RGB image", "--rgb-topic")
        if rgb is None:
            found = ", ".join(f"{t} ({m.encoding})" for t, m in images.items() if m is not None) or "none"
            raise BagError(
                f"{bag.path}: no RGB image topic (an Image with encoding {', '.join(RGB_ENCODINGS)}); "
                f"Image topics: {found}"
            )
    rgb_info = _checked(bag, rgb, "RGB image", RGB_ENCODINGS, "--rgb-topic")
    size = (rgb_info.width, rgb_info.height)
    if depth is None:
        depth = _only(bag, [t for t in depths if images[t].width < size[0]], "ToF depth image", "--depth-topic")
        if depth is None:
            raise BagError(
                f"{bag.path}: no depth image topic (an Image with encoding "
                f"{', '.join(DEPTH_ENCODINGS)} smaller than the RGB {size[0]}x{size[1]})"
            )
    _checked(bag, depth, "ToF depth image", DEPTH_ENCODINGS, "--depth-topic")
    if gt is None:
        gt = _only(
            bag,
            [t for t in depths if (images[t].width, images[t].height) == size and t != depth],
            "ground-truth depth",
            "--gt-topic",
        )
    if gt is not None:
        gt_info = _checked(bag, gt, "ground-truth depth", DEPTH_ENCODINGS, "--gt-topic")
        if (gt_info.width, gt_info.height) != size:
            raise BagError(
                f"{bag.path}: ground truth {gt} is {gt_info.width}x{gt_info.height}, expected the RGB size "
                f"{size[0]}x{size[1]}"
            )
    return BagTopics(rgb, depth, _camera_info(bag, rgb), _camera_info(bag, depth), gt)
