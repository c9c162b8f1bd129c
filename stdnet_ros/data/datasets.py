"""Open dataset sequences of either layout and find every sequence under a root folder."""

import os
from pathlib import Path

from stdnet_ros.data.folders import FolderSequence, is_folder_sequence
from stdnet_ros.data.reader import DatasetError, SequenceReader
from stdnet_ros.data.tartanair import TartanAirSequence, is_tartanair_sequence


def is_sequence(path: Path) -> bool:
    """Whether ``path`` is a sequence folder of either layout."""
    return is_folder_sequence(path) or is_tartanair_sequence(path)


def open_sequence(path: str | Path) -> SequenceReader:
    """A reader for a sequence folder: the project layout (rgb/, depth/) or TarTanAir (image_left/, depth_left/)."""
    path = Path(path)
    if is_folder_sequence(path):
        return FolderSequence(path)
    if is_tartanair_sequence(path):
        return TartanAirSequence(path)
    raise DatasetError(f"{path}: not a sequence folder (no rgb/ and depth/, nor TarTanAir image_left/ and depth_left/)")


def find_sequences(root: str | Path) -> list[Path]:
    """Sequence folders under ``root``, sorted: [root] if it is one, else every sequence folder below it."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    if is_sequence(root):
        return [root]
    found = []
    for folder, subfolders, _ in os.walk(root):
        subfolders.sort()
        here = Path(folder)
        if here != root and is_sequence(here):
            found.append(here)
            subfolders.clear()
    if not found:
        raise DatasetError(f"{root}: no sequence folders found (a sequence has rgb/ and depth/, or image_left/)")
    return sorted(found)
