"""rosbag2 bags (sqlite3 and mcap) without rosbag2, via the ``rosbags`` library: the ``stdnet bag`` tools.

Bags hold CDR bytes; the tools build and read them as rclpy messages (the node's classes, so the same
conversion code runs on both paths) and use ``rosbags`` only for the storage and the stored type
definitions (:mod:`.typestore`).
"""


class BagError(ValueError):
    """A bag cannot be used: the message names the bag and what is missing or wrong."""
