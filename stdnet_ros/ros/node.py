"""``stdnet_node``: the STDNet super-resolution lifecycle node (DDS I/O, parameters, lifecycle, diagnostics).

The per-frame work is :class:`stdnet_ros.pipeline.Pipeline`; this module only moves messages in and out.

Subscribes (relative names, remappable; QoS ``input_qos.*``, default best effort keep-last 5):
  ``rgb/image`` (rgb8, bgr8, rgba8, bgra8, mono8), ``depth/image`` (16UC1 mm or 32FC1 m, registered to the RGB
  camera, RGB size / scale), ``rgb/camera_info`` (optional, HR), ``depth/camera_info`` (LR). With
  ``rgb_transport: compressed`` the RGB comes from ``rgb/image/compressed`` and with ``depth_transport:
  compressedDepth`` the depth from ``depth/image/compressedDepth`` (CompressedImage in image_transport's layouts).
Publishes (QoS ``output_qos.*``, default reliable keep-last 2), stamped with the input frame they describe and
the RGB frame_id:
  ``depth_sr/image`` (32FC1 m, NaN invalid; or 16UC1 mm, 0 invalid), ``depth_sr/image/compressedDepth`` (the
  same as image_transport's compressedDepth PNG, depths up to 10 m; built only while subscribed),
  ``depth_sr/camera_info``,
  ``depth_sr/points`` (organized PointCloud2, built only while subscribed), ``~/status``
  (stdnet_ros_interfaces/SuperResolutionStatus, one per output) and ``/diagnostics`` (1 Hz).

Threads: subscription, timer, parameter and lifecycle callbacks run in one single-threaded executor; a
synchronised pair goes into a one-slot queue (a newer pair replaces it: dropped and counted) drained by the
inference thread, which runs the pipeline and publishes.
"""

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import rclpy
import torch
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from stdnet_ros.messages.camera_info import camera_info_from_intrinsics
from stdnet_ros.messages.compressed import depth_m_to_compressed_depth
from stdnet_ros.messages.image import depth_m_to_image
from stdnet_ros.messages.pointcloud2 import CloudMessage
from stdnet_ros.pipeline import InputError, Output, Pipeline, Topics, load_pipeline, message_kind
from stdnet_ros.ros import InterfacesNotBuiltError, load_interfaces, parameters
from stdnet_ros.ros.diagnostics import NodeStats, diagnostic_array, memory_mib
from stdnet_ros.ros.sync import InputSync

NODE_NAME = "stdnet_node"
LOG_THROTTLE_S = 5.0
OUTPUT_PARAMETERS = ("output_encoding", "publish_cloud", "cloud_fields", "cloud_decimation")
SYNC_PARAMETERS = ("queue_size", "slop", "exact_sync")


class LatestQueue:
    """Bounded FIFO between the executor and the inference thread: :meth:`put` on a full queue drops the oldest
    item (and says so), so a slow model always works on the newest frames and latency stays bounded."""

    def __init__(self, maxlen: int):
        self._items = deque(maxlen=maxlen)
        self._ready = threading.Condition()

    def put(self, item) -> bool:
        """Append ``item``; True when the oldest item was dropped to make room."""
        with self._ready:
            dropped = len(self._items) == self._items.maxlen
            self._items.append(item)
            self._ready.notify()
        return dropped

    def get(self, timeout: float):
        """The oldest item, or None after ``timeout`` seconds without one."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            return self._items.popleft() if self._items else None

    def clear(self) -> None:
        with self._ready:
            self._items.clear()


@dataclass(frozen=True)
class OutputSettings:
    """The live output parameters, swapped as one object so a frame never sees half an update."""

    encoding: str
    publish_cloud: bool
    cloud_fields: str
    cloud_decimation: int

    @classmethod
    def from_settings(cls, settings: dict) -> "OutputSettings":
        return cls(*(settings[name] for name in OUTPUT_PARAMETERS))


def stamp_msg(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


class StdnetNode(LifecycleNode):
    """See the module docstring. ``autostart()`` configures and activates; weights load in configure."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        load_interfaces()
        from stdnet_ros_interfaces.msg import SuperResolutionStatus  # importable only after load_interfaces

        self._status_cls = SuperResolutionStatus
        self._state = "unconfigured"
        self._configure_error = ""
        self._last_log: dict[str, float] = {}
        self.stats = NodeStats()
        self.add_on_set_parameters_callback(self._check_parameters)
        parameters.declare(self)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.topics = self._input_topics(parameters.read(self))
        self._pipeline: Pipeline | None = None
        self._outputs: dict = {}
        self._inputs: list = []
        self._sync: InputSync | None = None
        self._retired_sync_drops = 0  # of synchronizers replaced (sync parameter change, deactivation)
        self._queue = LatestQueue(maxlen=1)
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_invalid = 0
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0, lambda: self._diagnostics.publish(self.diagnostics()))

    # --- lifecycle ---
    def autostart(self) -> None:
        """Configure, then activate if configuring succeeded (the ``autostart`` parameter)."""
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def _input_topics(self, settings: dict) -> Topics:
        """The resolved input topics for the configured transports (rgb/image or rgb/image/compressed, ...)."""
        images = parameters.image_topics(settings)
        return Topics(*(self.resolve_topic_name(t) for t in (*images, "rgb/camera_info", "depth/camera_info")))

    def _qos_overrides(self, topic: str, entity: str) -> QoSOverridingOptions | None:
        """rclpy's standard per-topic QoS parameters, ``qos_overrides.<topic>.<entity>.<history|depth|reliability>``
        (entity: publisher or subscription), for a topic the user gave one of them for at start-up (params file,
        launch, command line): they then override input_qos / output_qos for that topic, which stay the defaults
        of every other topic. Read at start-up only (rclpy declares them read-only)."""
        prefix = f"qos_overrides.{self.resolve_topic_name(topic)}.{entity}."
        given = any(name.startswith(prefix) for name in self._parameter_overrides)  # rclpy's start-up values
        return QoSOverridingOptions.with_default_policies() if given else None

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = parameters.read(self)
        self.topics = self._input_topics(settings)
        try:
            self._pipeline = load_pipeline(
                settings["weights"],
                settings["scale"],
                settings["mode"],
                settings["device"],
                settings["precision"],
                settings["max_gap"],
                self.topics,
                self._warn,
            )
            self._pipeline.depth_range_m = (settings["min_depth"], settings["max_depth"])
        except Exception as exc:  # any failure to build the model fails the transition, node stays up
            self._configure_error = f"configure failed: {exc}"
            self.get_logger().error(self._configure_error)
            return TransitionCallbackReturn.FAILURE
        self._configure_error = ""
        outputs = {
            "depth": (Image, "depth_sr/image"),
            "depth_compressed": (CompressedImage, "depth_sr/image/compressedDepth"),
            "info": (CameraInfo, "depth_sr/camera_info"),
            "cloud": (PointCloud2, "depth_sr/points"),
            "status": (self._status_cls, "~/status"),
        }
        self._outputs = {
            name: self.create_lifecycle_publisher(
                msg_type,
                topic,
                parameters.qos(settings, "output_qos"),
                qos_overriding_options=self._qos_overrides(topic, "publisher"),
            )
            for name, (msg_type, topic) in outputs.items()
        }
        self._cloud = CloudMessage(PointCloud2, PointField)
        self._output_settings = OutputSettings.from_settings(settings)
        self._state = "inactive"
        engine = self._pipeline.engine
        self.get_logger().info(
            f"configured: weights {settings['weights']!r}, mode {settings['mode']} ({self._pipeline.mode}, "
            f"delay {self._pipeline.delay} frames), scale {self._pipeline.scale}, device {engine.device}, "
            f"precision {engine.precision}; inputs {', '.join(vars(self.topics).values())}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = parameters.read(self)
        self._sync = self._make_sync(settings)
        rgb_type = Image if settings["rgb_transport"] == "raw" else CompressedImage
        depth_type = Image if settings["depth_transport"] == "raw" else CompressedImage
        inputs = (
            (rgb_type, self.topics.rgb, lambda m: self._on_image(m, 0)),
            (depth_type, self.topics.depth, lambda m: self._on_image(m, 1)),
            (CameraInfo, self.topics.rgb_info, lambda m: self._on_camera_info(m, "rgb")),
            (CameraInfo, self.topics.depth_info, lambda m: self._on_camera_info(m, "depth")),
        )
        self._inputs = [
            self.create_subscription(
                msg_type,
                topic,
                callback,
                parameters.qos(settings, "input_qos"),  # one profile each: a QoS override edits it in place
                qos_overriding_options=self._qos_overrides(topic, "subscription"),
            )
            for msg_type, topic, callback in inputs
        ]
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="stdnet_inference", daemon=True)
        self._worker.start()
        self._state = "active"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._release()
        self._state = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self) -> None:
        """Destroy the subscriptions, stop the inference thread and end the stream (nothing received is lost)."""
        for sub in self._inputs:
            self.destroy_subscription(sub)
        self._inputs = []
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self._sync is not None:
            self._retire(self._sync)
            self._sync = None
        if self._pipeline is not None:
            self._finish_stream()

    def _finish_stream(self) -> None:
        """Process the queued pair, then publish the frames still pending (delayed mode: the last ``delay``
        frames, computed with the end-of-clip rule) and reset, as at the end of a recording."""
        pair = self._queue.get(timeout=0)
        if pair is not None:
            self.process(*pair)
        try:
            for out in self._pipeline.flush():
                self.publish(out)
        except Exception as exc:  # e.g. the context is already shutting down: say so, leave a clean state
            self.get_logger().error(f"pending frames not published at the end of the stream: {exc!r}")
            self._pipeline.reset()

    def _release(self) -> None:
        """Destroy the publishers and drop the model (and its CUDA memory)."""
        for pub in self._outputs.values():
            self.destroy_lifecycle_publisher(pub)
        self._outputs = {}
        on_cuda = self._pipeline is not None and self._pipeline.engine.device.type == "cuda"
        self._pipeline = None
        if on_cuda:
            torch.cuda.empty_cache()
        self._state = "unconfigured"

    # --- parameters ---
    def _check_parameters(self, params) -> SetParametersResult:
        configured = self._state in ("inactive", "active")
        reasons = [parameters.check(param.name, param.value, configured) for param in params]
        names = ("min_depth", "max_depth")
        if not any(reasons) and set(names) & {p.name for p in params} and all(map(self.has_parameter, names)):
            new = {p.name: p.value for p in params}  # (while declaring, the configure transition checks the pair)
            reasons.append(parameters.check_depth_range(*(new.get(n, self.get_parameter(n).value) for n in names)))
        reason = next((r for r in reasons if r), None)
        if reason:
            self.get_logger().warning(f"parameter rejected: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params) -> None:
        names = {p.name for p in params}
        if self._pipeline is None:
            return  # read in the next configure
        settings = parameters.read(self)
        if names & set(OUTPUT_PARAMETERS):
            self._output_settings = OutputSettings.from_settings(settings)
        if "max_gap" in names:
            self._pipeline.max_gap = settings["max_gap"]
        if names & {"min_depth", "max_depth"}:
            self._pipeline.depth_range_m = (settings["min_depth"], settings["max_depth"])
        if names & set(SYNC_PARAMETERS) and self._sync is not None:
            self._retire(self._sync)
            self._sync = self._make_sync(settings)
        self.get_logger().info(
            "parameters applied: " + ", ".join(f"{n}={settings[n]!r}" for n in sorted(names) if n in settings)
        )

    def _retire(self, sync: InputSync) -> None:
        """Count what a synchronizer being replaced dropped or still holds as sync drops."""
        self._retired_sync_drops += sync.dropped + sync.pending

    def _make_sync(self, settings: dict) -> InputSync:
        return InputSync(
            2,
            self._on_pair,
            queue_size=settings["queue_size"],
            slop=settings["slop"],
            exact_sync=settings["exact_sync"],
        )

    # --- input (executor thread) ---
    def _on_image(self, msg: Image, index: int) -> None:
        self.stats.count_input(self.topics.rgb if index == 0 else self.topics.depth)
        self._sync.push(msg, index)

    def _on_pair(self, rgb_msg: Image, depth_msg: Image) -> None:
        if self._queue.put((rgb_msg, depth_msg)):
            self.stats.count_queue_drop()

    def _on_camera_info(self, msg: CameraInfo, camera: str) -> None:
        self.stats.count_input(self.topics.rgb_info if camera == "rgb" else self.topics.depth_info)
        try:
            self._pipeline.set_camera_info(msg, camera)
        except InputError as exc:
            self.stats.count_invalid(exc.topic, exc.reason)
            if self._throttled(str(exc)):
                self.get_logger().error(f"ignored: {exc}")

    # --- inference thread ---
    def _work(self) -> None:
        while not self._stop.is_set():
            pair = self._queue.get(timeout=0.1)
            if pair is not None:
                self.process(*pair)

    def process(self, rgb_msg: Image, depth_msg: Image) -> None:
        """Run one synchronised pair through the pipeline and publish what became final."""
        now_ns = self.get_clock().now().nanoseconds  # 0 while use_sim_time waits for /clock: no future check
        try:
            for out in self._pipeline.push(rgb_msg, depth_msg, now_ns or None):
                self.publish(out)
        except InputError as exc:
            self.stats.count_invalid(exc.topic, exc.reason)
            if self._throttled(str(exc)):
                self.get_logger().error(f"dropped: {exc}")
        except Exception as exc:  # e.g. CUDA out of memory: drop the frame and restart the stream, stay up
            self.stats.count_invalid("processing", type(exc).__name__)
            if self._throttled(f"processing:{type(exc).__name__}"):
                self.get_logger().error(f"frame dropped and temporal state reset: {exc!r}")
            self._pipeline.reset()

    def publish(self, out: Output) -> None:
        """Publish depth, camera_info, cloud (when subscribed) and status of one output frame."""
        header = Header(stamp=stamp_msg(out.stamp_ns), frame_id=out.frame_id)
        settings = self._output_settings
        self._outputs["depth"].publish(depth_m_to_image(out.depth_m, Image, header, settings.encoding))
        compressed_pub = self._outputs["depth_compressed"]
        if compressed_pub.get_subscription_count() > 0:
            compressed_pub.publish(depth_m_to_compressed_depth(out.depth_m, CompressedImage, header, settings.encoding))
        if out.intrinsics is not None:
            self._outputs["info"].publish(camera_info_from_intrinsics(out.intrinsics, CameraInfo, header))
            cloud_pub = self._outputs["cloud"]
            if settings.publish_cloud and cloud_pub.get_subscription_count() > 0:
                rgb = out.rgb if settings.cloud_fields == "xyzrgb" else None
                cloud_pub.publish(self._cloud.fill(out.depth_m, out.intrinsics, header, rgb, settings.cloud_decimation))
        latency_ms = (self.get_clock().now().nanoseconds - out.stamp_ns) / 1e6
        self.stats.count_output(latency_ms, out.model_ms)
        self._outputs["status"].publish(self._status(header, out, latency_ms))

    def _status(self, header: Header, out: Output, latency_ms: float):
        pipeline = self._pipeline
        return self._status_cls(
            header=header,
            input_stamp=stamp_msg(out.input_stamp_ns),
            mode=pipeline.mode,
            scale=pipeline.scale,
            delay_frames=pipeline.delay,
            model_ms=out.model_ms,
            latency_ms=latency_ms,
            sync_drops=self.sync_drops,
            queue_drops=self.stats.queue_drops,
            invalid_drops=self.stats.invalid_drops,
            resets=pipeline.resets,
        )

    @property
    def sync_drops(self) -> int:
        """Input messages discarded without a synchronised partner, since start-up."""
        sync = self._sync
        return self._retired_sync_drops + (sync.dropped if sync is not None else 0)

    # --- logging and diagnostics ---
    def _throttled(self, key: str) -> bool:
        """True unless ``key`` was already logged in the last LOG_THROTTLE_S seconds (then records this one).

        Numbers in the key are ignored: the same error with other sizes or stamps is throttled as one."""
        key = message_kind(key)
        now = time.monotonic()
        if now - self._last_log.get(key, -LOG_THROTTLE_S) < LOG_THROTTLE_S:
            return False
        self._last_log[key] = now
        return True

    def _warn(self, message: str) -> None:
        if self._throttled(message):
            self.get_logger().warning(message)

    def diagnostics(self) -> DiagnosticArray:
        """The /diagnostics message: state, model, rates and drops since the previous call, latency."""
        input_hz, output_hz = self.stats.rates()
        invalid = self.stats.invalid_drops
        new_invalid, self._last_invalid = invalid - self._last_invalid, invalid
        pipeline = self._pipeline
        if self._configure_error:
            level, message = DiagnosticStatus.ERROR, self._configure_error
        elif self._state != "active":
            level, message = DiagnosticStatus.WARN, f"{self._state}: not processing"
        elif new_invalid:
            level, message = DiagnosticStatus.WARN, f"{new_invalid} invalid inputs dropped in the last second (see log)"
        else:
            level, message = DiagnosticStatus.OK, f"{self._state}: {output_hz:.1f} frames/s"
        values = [("state", self._state)]
        if pipeline is not None:
            engine = pipeline.engine
            values += [
                ("mode", pipeline.mode),
                ("scale", pipeline.scale),
                ("delay frames", pipeline.delay),
                ("device", engine.device),
                ("precision", engine.precision),
                ("memory", memory_mib(engine.device)),
            ]
        values += [(f"input rate {topic} (Hz)", hz) for topic, hz in sorted(input_hz.items())]
        values += [
            ("output rate (Hz)", output_hz),
            ("outputs", self.stats.outputs),
            ("sync drops", self.sync_drops),
            ("queue drops", self.stats.queue_drops),
            ("invalid drops", invalid),
        ]
        values += [(f"invalid drops {topic} ({reason})", n) for (topic, reason), n in self.stats.invalid_counts()]
        values += [("resets", pipeline.resets if pipeline is not None else 0)]
        values += [(k.replace("_", " "), v) for k, v in self.stats.percentiles().items()]
        return diagnostic_array(
            self.get_clock().now().to_msg(),
            f"{self.get_name()}: depth super-resolution",
            self.get_fully_qualified_name(),
            level,
            message,
            values,
        )


def main(args=None) -> int:
    """Console script ``stdnet_node``: ``stdnet_node --ros-args --params-file config/stdnet.yaml``."""
    try:
        load_interfaces()
    except InterfacesNotBuiltError as exc:
        print(
            f"stdnet_node: {exc}. On a robot, build both packages in the workspace (colcon build "
            "--packages-up-to stdnet_ros) and source install/setup.bash.",
            file=sys.stderr,
        )
        return 1
    rclpy.init(args=args)
    node = None
    try:
        node = StdnetNode()
        if node.get_parameter("autostart").value:
            node.autostart()
        rclpy.spin(node)
    except ParameterException as exc:
        print(f"stdnet_node: invalid parameter: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node._stop_inputs()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
