"""The node's parameters: one table (:data:`SPECS`) gives each name, default, constraint, description and whether
it may change while the node runs. config/stdnet.yaml repeats every default (test_node_params keeps them equal).

* Live parameters are applied to the next frame.
* Configure-time parameters (the model, its device and the QoS of topics) are read in the lifecycle configure
  transition; while the node is configured, setting one is rejected with the reason (deactivate, clean up, set,
  configure again).
* ``autostart`` is read once at start-up (read-only).
"""

import re
from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from stdnet_ros.model.config import SCALES
from stdnet_ros.pipeline import MODES
from stdnet_ros.streaming import PRECISION_CHOICES

RELIABILITIES = ("best_effort", "reliable")
# transport -> the suffix of the subscribed topic, as image_transport names them (messages/compressed.py)
RGB_TRANSPORTS = {"raw": "", "compressed": "/compressed"}
DEPTH_TRANSPORTS = {"raw": "", "compressedDepth": "/compressedDepth"}


@dataclass(frozen=True)
class Spec:
    name: str
    default: bool | int | float | str
    description: str
    choices: tuple = ()  # allowed values (strings or ints), checked by :func:`check`
    bounds: tuple | None = None  # inclusive (min, max), a descriptor range that rclpy checks
    pattern: str | None = None  # regular expression a string must match entirely
    live: bool = False  # may change while configured
    read_only: bool = False


SPECS = (
    Spec(
        "autostart", True, "configure and activate at start-up (false: wait for lifecycle transitions)", read_only=True
    ),
    Spec(
        "mode",
        "causal",
        "causal: output t at input t; bidirectional: delayed output using future frames",
        choices=MODES,
    ),
    Spec("scale", 4, "super-resolution factor: RGB size = depth size x scale", choices=SCALES),
    Spec(
        "weights",
        "stdnet-lite",
        "a .safetensors file, or a shipped preset name (stdnet_ros/weights/{preset}-x{scale}-{mode}.safetensors)",
        pattern=r".+",
    ),
    Spec("device", "auto", "auto (CUDA when available), cpu, cuda or cuda:N", pattern=r"auto|cpu|cuda(:\d+)?"),
    Spec(
        "precision",
        "auto",
        "auto (bf16 where the device computes it natively, else fp32), fp32, bf16 autocast "
        "(CPU or CUDA) or fp16 autocast (CUDA only)",
        choices=PRECISION_CHOICES,
    ),
    Spec(
        "rgb_transport",
        "raw",
        "raw: rgb/image (sensor_msgs/Image); compressed: rgb/image/compressed (CompressedImage, JPEG or PNG)",
        choices=tuple(RGB_TRANSPORTS),
    ),
    Spec(
        "depth_transport",
        "raw",
        "raw: depth/image (Image); compressedDepth: depth/image/compressedDepth (CompressedImage, 16UC1 or 32FC1 PNG)",
        choices=tuple(DEPTH_TRANSPORTS),
    ),
    Spec(
        "max_gap",
        0.5,
        "seconds between input stamps above which the temporal state resets",
        bounds=(0.001, 3600.0),
        live=True,
    ),
    Spec(
        "queue_size",
        5,
        "messages per input kept by the synchronizer while waiting for a partner",
        bounds=(1, 100),
        live=True,
    ),
    Spec(
        "slop",
        0.015,
        "approximate sync: max stamp difference of an RGB + depth pair, seconds",
        bounds=(0.0001, 1.0),
        live=True,
    ),
    Spec("exact_sync", False, "pair only identical stamps (TimeSynchronizer) instead of approximate sync", live=True),
    Spec(
        "output_encoding",
        "32FC1",
        "depth_sr/image encoding: 32FC1 metres (NaN invalid) or 16UC1 mm (0 invalid)",
        choices=("32FC1", "16UC1"),
        live=True,
    ),
    Spec(
        "min_depth",
        0.0,
        "metres: output depths nearer than this are NaN (the cloud follows); 0: no lower limit",
        bounds=(0.0, 1000.0),
        live=True,
    ),
    Spec(
        "max_depth",
        0.0,
        "metres: output depths farther than this are NaN (the cloud follows); 0: no upper limit",
        bounds=(0.0, 1000.0),
        live=True,
    ),
    Spec("publish_cloud", True, "publish depth_sr/points (built only while it has a subscriber)", live=True),
    Spec(
        "cloud_fields",
        "xyzrgb",
        "xyz (point_step 16) or xyzrgb (PCL layout, point_step 32)",
        choices=("xyz", "xyzrgb"),
        live=True,
    ),
    Spec("cloud_decimation", 1, "keep every n-th row and column in the cloud", bounds=(1, 16), live=True),
    Spec(
        "input_qos.reliability",
        "best_effort",
        "subscriptions: best_effort (matches every publisher, REP 2003) or reliable",
        choices=RELIABILITIES,
    ),
    Spec("input_qos.depth", 5, "subscriptions: keep-last depth", bounds=(1, 100)),
    Spec(
        "output_qos.reliability",
        "reliable",
        "publishers: reliable (RViz default) or best_effort",
        choices=RELIABILITIES,
    ),
    Spec("output_qos.depth", 2, "publishers: keep-last depth", bounds=(1, 100)),
)
BY_NAME = {spec.name: spec for spec in SPECS}


def descriptor(spec: Spec) -> ParameterDescriptor:
    """Descriptor with the description, the constraints as text, the range and read_only."""
    constraints = []
    if spec.choices:
        constraints.append("one of " + ", ".join(str(c) for c in spec.choices))
    if spec.pattern:
        constraints.append(f"matches {spec.pattern}")
    constraints.append(
        "changes live"
        if spec.live
        else "read at start-up only"
        if spec.read_only
        else "changes only while unconfigured"
    )
    desc = ParameterDescriptor(
        description=spec.description, additional_constraints="; ".join(constraints), read_only=spec.read_only
    )
    if spec.bounds and isinstance(spec.default, int):
        desc.integer_range = [IntegerRange(from_value=spec.bounds[0], to_value=spec.bounds[1], step=1)]
    elif spec.bounds:
        desc.floating_point_range = [FloatingPointRange(from_value=spec.bounds[0], to_value=spec.bounds[1])]
    return desc


def check(name: str, value, configured: bool) -> str | None:
    """Why ``value`` is rejected for parameter ``name`` (None: accepted). Ranges and types are rclpy's job."""
    spec = BY_NAME.get(name)
    if spec is None:
        return None  # not ours (use_sim_time, ...)
    if spec.choices and value not in spec.choices:
        return f"{name}: {value!r} is not one of {', '.join(str(c) for c in spec.choices)}"
    if spec.pattern and not (isinstance(value, str) and re.fullmatch(spec.pattern, value)):
        return f"{name}: {value!r} does not match {spec.pattern}"
    if configured and not spec.live and not spec.read_only:
        return (
            f"{name}: cannot change while the node is configured (it is read in the configure transition): "
            "deactivate and clean up the node, set it, then configure again"
        )
    return None


def declare(node) -> None:
    """Declare every parameter of :data:`SPECS` on ``node`` (values from --params-file / -p override defaults).

    Call after registering the on-set callback that uses :func:`check`, so start-up values are checked too.
    """
    for spec in SPECS:
        node.declare_parameter(spec.name, spec.default, descriptor(spec))


def read(node) -> dict:
    """{name: current value} of every parameter in :data:`SPECS`."""
    return {spec.name: node.get_parameter(spec.name).value for spec in SPECS}


def check_depth_range(min_depth: float, max_depth: float) -> str | None:
    """Why the pair is rejected (None: accepted): max_depth must be 0 (no upper limit) or above min_depth."""
    if max_depth and max_depth <= min_depth:
        return f"max_depth: {max_depth} m must be 0 (no upper limit) or greater than min_depth {min_depth} m"
    return None


def image_topics(settings: dict) -> tuple[str, str]:
    """The RGB and depth image topics to subscribe (relative names) for the transports in ``settings``."""
    return (
        "rgb/image" + RGB_TRANSPORTS[settings["rgb_transport"]],
        "depth/image" + DEPTH_TRANSPORTS[settings["depth_transport"]],
    )


def qos(settings: dict, direction: str) -> QoSProfile:
    """Keep-last, volatile QoS of ``direction`` ("input_qos" or "output_qos") from the settings."""
    reliability = settings[f"{direction}.reliability"]
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=settings[f"{direction}.depth"],
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )
