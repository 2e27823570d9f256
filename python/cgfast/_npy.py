"""The header of a .npy file, read to check the file's size before it is memory-mapped.

A memory map of a file shorter than its header says fails at once; touching a page of a map
whose file was cut short kills the process with SIGBUS, which no Python code can catch. So the
size is checked before the run, and the rows are read from the file with positioned reads rather
than through the map (``_data.Rows``), where a file cut short gives a short read.
"""

from __future__ import annotations

import os

import numpy as np


def npy_shortfall(path: str | os.PathLike) -> str | None:
    """Why the .npy ``path`` holds fewer bytes than its header says (None when it does not, or
    when its header cannot be read: ``np.load`` then says why)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            offset = handle.tell()
    except (OSError, ValueError):
        return None
    if dtype.hasobject:
        return None
    needed = offset + int(np.prod(shape)) * dtype.itemsize
    size = os.path.getsize(path)
    if size >= needed:
        return None
    return (
        f"holds {size} bytes but its header ({shape} {dtype}) needs {needed}: the file was cut "
        "short (an interrupted copy or write?)"
    )
