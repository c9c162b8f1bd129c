"""``stdnet demo``: the end-to-end live chain (sample bag -> stdnet_node over DDS -> recorded bag, quality table and
latency); see :mod:`stdnet_ros.demo_chain`."""
from stdnet_ros.demo_chain import register

__all__ = ["register"]
