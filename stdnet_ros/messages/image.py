"""sensor_msgs/Image <-> numpy for the node and the bag tools (numpy only, no cv_bridge, no rclpy import).

Reading uses only the message fields encoding, height, width, step, is_bigendian and data, so rclpy messages
and ``rosbags`` dataclasses both work (``data`` may be bytes, array.array, a list or a numpy array). Writing
takes the message class to build (``image_cls``: rclpy's or a rosbags typestore's ``sensor_msgs/msg/Image``).

Units: depth arrays are float32 metres with NaN for invalid. Millimetres exist only in 16UC1 messages
(uint16, 0 = invalid), following REP 118 and depth_image_proc.

cv_bridge is deliberately not used even where installed: Kilted cv_bridge byte-swaps big-endian images with
``ndarray.newbyteorder()``, which NumPy 2 removed, and a second code path that only exists on robots would go
untested here. test_image_conversion.py compares the two where cv_bridge is importable.
"""

import array

import numpy as np

RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "32FC1")
# 32FC1 depth beyond this is invalid: no ToF sensor measures it, and a stray 1e30 would set the frame's depth scale
MAX_DEPTH_M = 1000.0

# encoding -> (channels, dtype without byte order)
_LAYOUT = {
    "rgb8": (3, "u1"),
    "bgr8": (3, "u1"),
    "rgba8": (4, "u1"),
    "bgra8": (4, "u1"),
    "mono8": (1, "u1"),
    "16UC1": (1, "u2"),
    "32FC1": (1, "f4"),
}
# channel indices that give R, G, B
_TO_RGB = {"rgb8": [0, 1, 2], "bgr8": [2, 1, 0], "rgba8": [0, 1, 2], "bgra8": [2, 1, 0], "mono8": [0, 0, 0]}


class ImageFormatError(ValueError):
    """An Image message or array does not have the encoding, size or layout the conversion needs."""


def payload(msg) -> np.ndarray:
    """msg.data as a flat uint8 array (a view where the container allows: bytes, array.array, numpy; a list is
    copied)."""
    data = msg.data
    return np.asarray(data, dtype=np.uint8) if isinstance(data, list) else np.frombuffer(data, dtype=np.uint8)


def _raw_view(msg, name: str, allowed: tuple[str, ...]) -> np.ndarray:
    """(H, W, C) view of msg.data with the encoding's dtype and byte order; row padding (step) is skipped."""
    encoding = msg.encoding
    if encoding not in allowed:
        raise ImageFormatError(f"{name}: encoding {encoding!r} unsupported (expected one of {', '.join(allowed)})")
    channels, kind = _LAYOUT[encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"{name}: zero-size image (height {height}, width {width})")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError(f"{name}: step {step} < width {width} × {channels * dtype.itemsize} bytes per pixel")
    buf = payload(msg)
    if buf.size != step * height:
        raise ImageFormatError(f"{name}: data length {buf.size} != step {step} × height {height}")
    return np.ndarray(
        (height, width, channels), dtype=dtype, buffer=buf, strides=(step, channels * dtype.itemsize, dtype.itemsize)
    )


def image_to_rgb(msg, name: str = "rgb/image") -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8, bgr8, rgba8, bgra8 or mono8 Image (alpha dropped, mono replicated).

    Copies only when channels must be reordered or padding removed; the result may share memory with
    (and be read-only like) ``msg.data``. ``name`` prefixes error messages (e.g. the topic).
    """
    raw = _raw_view(msg, name, RGB_ENCODINGS)
    order = _TO_RGB[msg.encoding]
    if order == [0, 1, 2] and raw.shape[2] == 3 and raw.flags.c_contiguous:
        return raw
    return np.ascontiguousarray(raw[:, :, order])


def image_to_depth_m(msg, name: str = "depth/image") -> np.ndarray:
    """(H, W) float32 depth in metres, NaN where invalid, from a 16UC1 (mm, 0 invalid) or 32FC1 (m) Image.

    32FC1 pixels that are NaN, infinite, zero, negative or beyond MAX_DEPTH_M are invalid (depth_image_proc would
    turn a 0.0 into a point at the camera origin; we do not). Always a new writable array.
    """
    raw = _raw_view(msg, name, DEPTH_ENCODINGS)[:, :, 0]
    if msg.encoding == "16UC1":
        depth = raw.astype(np.float32)
        depth *= np.float32(0.001)
        depth[raw == 0] = np.nan
        return depth
    depth = raw.astype(np.float32)  # native byte order, contiguous copy
    depth[~((depth > 0) & (depth <= MAX_DEPTH_M))] = np.nan  # NaN compares False
    return depth


def with_uint8_payload(msg, arr: np.ndarray):
    """Set ``msg.data`` to arr's bytes, in the container msg's type stores uint8[] in; returns msg.

    rosbags dataclasses (they carry ``__msgtype__``) serialise numpy uint8 arrays. rclpy messages store
    array.array('B'): it is filled from a memoryview and assigned after construction, because the setter keeps
    an array.array as is while the generated constructor copies it again (7 ms for a 9.8 MB cloud) and an
    ndarray would be copied element by element (~57 ms per MB).
    """
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    if hasattr(type(msg), "__msgtype__"):
        msg.data = flat
    else:
        payload = array.array("B")
        payload.frombytes(flat.data)
        msg.data = payload
    return msg


def _build(image_cls, header, arr: np.ndarray, encoding: str):
    height, width = arr.shape[:2]
    msg = image_cls(
        header=header, height=height, width=width, encoding=encoding, is_bigendian=0, step=arr.strides[0], data=[]
    )
    return with_uint8_payload(msg, arr)


def depth_m_to_image(depth_m: np.ndarray, image_cls, header, encoding: str = "32FC1"):
    """Image of (H, W) depth in metres (NaN, inf or <= 0 invalid), little-endian, no row padding.

    32FC1: metres, invalid written as NaN (REP 118; never 0.0, which consumers treat as a valid point).
    16UC1: millimetres rounded to the nearest integer, invalid written as 0. Depths beyond the uint16 range
    (> 65.535 m) are also written as 0 = invalid rather than clipped to 65535, so a far surface never
    masquerades as one at 65.5 m; depths under 0.5 mm round to 0 and become invalid too.
    """
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2 or depth_m.size == 0 or not np.issubdtype(depth_m.dtype, np.floating):
        raise ImageFormatError(
            f"depth: expected a non-empty (H, W) float array in metres, got {depth_m.dtype} {depth_m.shape}"
        )
    valid = np.isfinite(depth_m) & (depth_m > 0)
    if encoding == "32FC1":
        out = np.where(valid, depth_m, np.nan).astype("<f4")
    elif encoding == "16UC1":
        mm = np.rint(np.where(valid, depth_m, 0.0) * 1000.0)
        out = np.where(mm <= 65535, mm, 0).astype("<u2")
    else:
        raise ImageFormatError(
            f"depth: encoding {encoding!r} unsupported (expected one of {', '.join(DEPTH_ENCODINGS)})"
        )
    return _build(image_cls, header, out, encoding)


def rgb_to_image(rgb: np.ndarray, image_cls, header):
    """rgb8 Image of an (H, W, 3) uint8 RGB array (no row padding)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise ImageFormatError(f"rgb: expected a non-empty (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    return _build(image_cls, header, np.ascontiguousarray(rgb), "rgb8")
