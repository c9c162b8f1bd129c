"""sensor_msgs/CompressedImage <-> numpy, in the layouts of ROS image_transport's plugins (OpenCV codecs, no rclpy).

- ``compressed`` (RGB, ``<topic>/compressed``): ``data`` is a JPEG or PNG file; ``format`` is "jpeg" / "png" or
  the plugin's "<encoding>; <jpeg|png> compressed <encoding>" (e.g. "rgb8; jpeg compressed bgr8").
- ``compressedDepth`` (depth, ``<topic>/compressedDepth``): ``format`` is "<16UC1|32FC1>; compressedDepth png"
  (or "...; compressedDepth" of older plugins); ``data`` is a 12-byte header (int32 compression format, float32
  depthQuantA, float32 depthQuantB, little-endian) followed by a 16-bit PNG. 16UC1: the PNG holds millimetres
  (0 = invalid). 32FC1: it holds quantised inverse depth q = A / d + B (0 = invalid), decoded as d = A / (q - B);
  the plugin's defaults depth_max 10 m and depth_quantization 100 give A = 100 * 101 and B = 1 - A / depth_max.
  The "rvl" compression of the same plugin is refused with a message saying so.

Decoded arrays follow image.py: RGB (H, W, 3) uint8; depth (H, W) float32 metres, NaN where invalid, with the same
validity rule as a raw 32FC1 Image (> 0 and <= MAX_DEPTH_M).
"""

import struct

import cv2
import numpy as np

from .image import MAX_DEPTH_M, ImageFormatError, payload, with_uint8_payload

DEPTH_HEADER = struct.Struct("<iff")  # compression format (0 = INV_DEPTH), depthQuantA, depthQuantB
INV_DEPTH = 0
DEPTH_MAX_M = 10.0  # the plugin's default depth_max
DEPTH_QUANTIZATION = 100.0  # the plugin's default depth_quantization
RGB_FORMATS = ("jpeg", "png")


def is_compressed(msg) -> bool:
    """Whether ``msg`` is a CompressedImage (it has ``format`` and no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def compressed_to_rgb(msg, name: str = "rgb/image/compressed") -> np.ndarray:
    """(H, W, 3) uint8 RGB of a ``compressed`` CompressedImage (JPEG or PNG; grey is replicated)."""
    fmt = str(msg.format)
    codec = fmt.split(";")[-1].strip().split(" ")[0].lower() if fmt else ""
    if codec not in RGB_FORMATS:
        raise ImageFormatError(
            f"{name}: format {fmt!r} unsupported (expected jpeg or png, e.g. 'rgb8; jpeg compressed bgr8')"
        )
    bgr = cv2.imdecode(payload(msg), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageFormatError(f"{name}: data ({len(msg.data)} bytes) is not a decodable {codec} image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _depth_format(fmt: str, name: str) -> str:
    """The depth encoding of a compressedDepth ``format``; ImageFormatError for anything but PNG compression."""
    encoding, sep, compression = (part.strip() for part in fmt.partition(";"))
    if encoding not in ("16UC1", "32FC1") or (sep and compression not in ("compressedDepth", "compressedDepth png")):
        hint = " (rvl compression is not supported: set the publisher's format to png)" if "rvl" in compression else ""
        raise ImageFormatError(
            f"{name}: format {fmt!r} unsupported (expected '16UC1; compressedDepth png' or "
            f"'32FC1; compressedDepth png'){hint}"
        )
    return encoding


def compressed_depth_to_m(msg, name: str = "depth/image/compressedDepth") -> np.ndarray:
    """(H, W) float32 metres, NaN invalid, of a ``compressedDepth`` CompressedImage (module docstring)."""
    encoding = _depth_format(str(msg.format), name)
    data = payload(msg)
    if data.size <= DEPTH_HEADER.size:
        raise ImageFormatError(f"{name}: data has {data.size} bytes, expected a 12-byte header and a PNG")
    _, quant_a, quant_b = DEPTH_HEADER.unpack(data[: DEPTH_HEADER.size].tobytes())
    raw = cv2.imdecode(data[DEPTH_HEADER.size :], cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 2 or raw.dtype != np.uint16 or raw.size == 0:
        got = "undecodable" if raw is None else f"{raw.dtype} {raw.shape}"
        raise ImageFormatError(f"{name}: the payload after the header is not a 16-bit one-channel PNG ({got})")
    if encoding == "16UC1":
        depth = raw.astype(np.float32) * np.float32(0.001)
        depth[raw == 0] = np.nan
        return depth
    if not (np.isfinite(quant_a) and np.isfinite(quant_b)):
        raise ImageFormatError(f"{name}: header depthQuantA {quant_a}, depthQuantB {quant_b}: expected finite")
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = (np.float32(quant_a) / (raw.astype(np.float32) - np.float32(quant_b))).astype(np.float32)
    depth[~((raw > 0) & (depth > 0) & (depth <= MAX_DEPTH_M))] = np.nan
    return depth


def rgb_to_compressed(rgb: np.ndarray, compressed_cls, header, codec: str = "jpeg", quality: int = 95):
    """A ``compressed`` CompressedImage of (H, W, 3) uint8 RGB, format "rgb8; <codec> compressed bgr8"."""
    if codec not in RGB_FORMATS:
        raise ImageFormatError(f"rgb: codec {codec!r} unsupported (expected one of {', '.join(RGB_FORMATS)})")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if codec == "jpeg" else []
    ok, buf = cv2.imencode(f".{'jpg' if codec == 'jpeg' else 'png'}", np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise ImageFormatError(f"rgb: OpenCV could not encode {rgb.dtype} {rgb.shape} as {codec}")
    msg = compressed_cls(header=header, format=f"rgb8; {codec} compressed bgr8", data=[])
    return with_uint8_payload(msg, buf)


def depth_m_to_compressed_depth(depth_m: np.ndarray, compressed_cls, header, encoding: str = "16UC1"):
    """A ``compressedDepth`` CompressedImage (PNG) of (H, W) metres (NaN, inf, <= 0 invalid), as the plugin with
    its defaults writes it: 16UC1 millimetres (0 beyond DEPTH_MAX_M or 65.535 m), or 32FC1 inverse depth."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth_m) & (depth_m > 0) & (depth_m < DEPTH_MAX_M)
    if encoding == "16UC1":
        quant_a = quant_b = 0.0
        raw = np.where(valid, np.rint(depth_m * 1000.0), 0).astype(np.uint16)
    elif encoding == "32FC1":
        quant_a = DEPTH_QUANTIZATION * (DEPTH_QUANTIZATION + 1.0)
        quant_b = 1.0 - quant_a / DEPTH_MAX_M
        q = np.where(valid, quant_a / np.where(valid, depth_m, 1.0) + quant_b, 0.0)
        raw = np.where(q < 65536, q, 0).astype(np.uint16)  # nearer than A / (65535 - B), about 0.15 m: invalid
    else:
        raise ImageFormatError(f"depth: encoding {encoding!r} unsupported (expected 16UC1 or 32FC1)")
    ok, png = cv2.imencode(".png", raw)
    if not ok:
        raise ImageFormatError(f"depth: OpenCV could not encode {raw.shape} as PNG")
    data = np.concatenate([np.frombuffer(DEPTH_HEADER.pack(INV_DEPTH, quant_a, quant_b), np.uint8), png.ravel()])
    msg = compressed_cls(header=header, format=f"{encoding}; compressedDepth png", data=[])
    return with_uint8_payload(msg, data)
