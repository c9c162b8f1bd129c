"""ROS-free data layer: synthetic RGB-D video and dataset folders on disk (the project layout and TarTanAir)."""

from stdnet_ros.data.datasets import find_sequences, open_sequence
from stdnet_ros.data.folders import FolderSequence, write_sequence
from stdnet_ros.data.reader import DatasetError, SequenceReader
from stdnet_ros.data.synthetic import SPLITS, Frame, SyntheticSequence, generate_sequence, split_seed
from stdnet_ros.data.tartanair import TartanAirSequence

__all__ = [
    "SPLITS",
    "DatasetError",
    "FolderSequence",
    "Frame",
    "SequenceReader",
    "SyntheticSequence",
    "TartanAirSequence",
    "find_sequences",
    "generate_sequence",
    "open_sequence",
    "split_seed",
    "write_sequence",
]
