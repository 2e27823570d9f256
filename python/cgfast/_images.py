"""Image folders (one subfolder per class, as torchvision's ImageFolder reads) into a .npy cache.

The folder is checked first (classes, images, one size and mode for all, or ``image_size``),
reading only the images' headers. Then the images are decoded in parallel threads (Pillow
releases the GIL while decoding), their raw pixels written straight to disk, and a second pass
scales them to [0, 1] and centres and scales each channel by its mean and standard deviation
over the whole dataset, as the authors' transforms do, into a float32 .npy cache (``_cache``:
in the cache folder, never in the image folder). Memory stays bounded whatever the number of
images; the cache is reused while the folder is unchanged.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ._atomic import temporary_prefix
from ._cache import (
    RowWriter,
    build_cache,
    cache_path,
    check_cache_shape,
    open_cache,
    origin_key,
    source_key,
)
from ._dataset import Dataset

IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
)  # fmt: skip
# Images decoded per task: large enough to amortise the pool, small enough to bound memory.
_CHUNK = 256
_FORMAT = 1  # bump when the cache's content changes for the same files


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "reading an image folder needs Pillow: pip install 'cgfast[images]'"
        ) from None
    return Image


def parse_size(image_size: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"32x32"`` or ``(32, 32)`` as (height, width)."""
    if image_size is None:
        return None
    if isinstance(image_size, str):
        parts = image_size.lower().split("x")
        try:
            size = tuple(int(p) for p in parts)
        except ValueError:
            size = ()
    else:
        size = tuple(image_size)
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ValueError(
            f"image size must be HxW with positive integers, e.g. 32x32, got {image_size!r}"
        )
    return size  # type: ignore[return-value]


def scan_folder(folder: Path) -> tuple[list[Path], list[str]]:
    """Every image of ``folder``'s class subfolders (recursively, sorted) and its class name.

    Hidden files and folders (a leading dot) are left out, as are files of other types.
    """
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(
            f"{folder} has no class subfolders: put each class's images in a subfolder "
            "named after the class (e.g. digits/0/a.png, digits/1/b.png)"
        )
    if len(classes) == 1:
        raise ValueError(
            f"{folder} has one class subfolder ({classes[0].name}); cgfast needs two or more"
        )
    files: list[Path] = []
    labels: list[str] = []
    for sub in classes:
        found = sorted(
            p
            for p in sub.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(sub).parts)
        )
        if not found:
            raise ValueError(f"class subfolder {sub} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        files += found
        labels += [sub.name] * len(found)
    return files, labels


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _header(path: Path) -> tuple[tuple[int, int], str] | str:
    """(width, height) and mode from the file's header, or why it cannot be read."""
    Image = _pillow()
    try:
        with Image.open(path) as image:
            return image.size, _mode(image.mode)
    except Exception as err:  # Pillow raises many types for a bad file
        return f"{type(err).__name__}: {err}"


def _mode(mode: str) -> str:
    """The mode pixels are stored in: palettes and 1-bit images become 8-bit ones."""
    return {"P": "RGB", "PA": "RGBA", "1": "L"}.get(mode, mode)


_SCALE = {"L": 255.0, "LA": 255.0, "RGB": 255.0, "RGBA": 255.0, "CMYK": 255.0, "YCbCr": 255.0,
          "I;16": 65535.0, "I": 1.0, "F": 1.0}  # fmt: skip


def _raw_dtype(mode: str) -> np.dtype:
    return np.dtype(np.uint8) if _SCALE[mode] == 255.0 else np.dtype(np.float32)


def _check(
    files: list[Path], folder: Path, size: tuple[int, int] | None, skip: bool, workers: int
) -> tuple[list[int], tuple[int, int], str, list[str]]:
    """Reads every header: the images kept, their (height, width), mode, and the skipped."""
    kept, skipped = [], []
    sizes: dict[tuple[int, int], Path] = {}
    modes: dict[str, Path] = {}

    def headers(first: int) -> list[tuple[tuple[int, int], str] | str]:
        return [_header(path) for path in files[first : first + _CHUNK]]

    with ThreadPoolExecutor(workers) as pool:  # one task per chunk: few futures alive at once
        found = (h for chunk in pool.map(headers, range(0, len(files), _CHUNK)) for h in chunk)
        for i, header in enumerate(found):
            if isinstance(header, str):
                if not skip:
                    raise ValueError(
                        f"cannot read the image {files[i]} ({header}); "
                        "--skip-unreadable (skip_unreadable=True) leaves such files out"
                    )
                skipped.append(str(files[i].relative_to(folder)))
                continue
            kept.append(i)
            sizes.setdefault(header[0], files[i])
            modes.setdefault(header[1], files[i])
    if not kept:
        raise ValueError(f"no image of {folder} could be read")
    if len(modes) > 1:
        (a, first), (b, second) = list(modes.items())[:2]
        raise ValueError(
            f"images have different modes: {first} is {a}, {second} is {b}; "
            "convert them to one mode (e.g. all RGB)"
        )
    mode = next(iter(modes))
    if mode not in _SCALE:
        raise ValueError(f"image mode {mode} ({modes[mode]}) is not supported")
    if size is None:
        if len(sizes) > 1:
            (a, first), (b, second) = list(sizes.items())[:2]
            raise ValueError(
                f"images have different sizes: {first} is {a[0]}x{a[1]}, {second} is "
                f"{b[0]}x{b[1]} (width x height); give --image-size HxW (image_size=) to "
                "resize them all"
            )
        width, height = next(iter(sizes))
        size = (height, width)
    return kept, size, mode, skipped


def _shape(n: int, size: tuple[int, int], mode: str) -> tuple[int, ...]:
    channels = len(mode) if mode in ("LA", "RGB", "RGBA", "CMYK", "YCbCr") else 1
    return (n, *size) if channels == 1 else (n, *size, channels)


def _decode(path: Path, size: tuple[int, int], mode: str, resize: bool) -> np.ndarray | str:
    Image = _pillow()
    try:
        with Image.open(path) as image:
            if _mode(image.mode) != image.mode:
                image = image.convert(_mode(image.mode))
            if resize and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(image)
    except Exception as err:  # a truncated or corrupt file shows only when decoded
        return f"{type(err).__name__}: {err}"
    return pixels


def open_images(
    folder: str | os.PathLike,
    *,
    image_size: str | tuple[int, int] | None = None,
    skip_unreadable: bool = False,
    cache: str | os.PathLike | None = None,
    progress: bool = False,
    workers: int | None = None,
) -> Dataset:
    """An image folder as X (float32, (n, h, w) or (n, h, w, channels), memory-mapped from a
    .npy cache), labels (the class subfolders' names) and ids (paths relative to ``folder``).

    Pixels are scaled to [0, 1], then centred and scaled per channel by the mean and standard
    deviation of that channel over every pixel of every image (torchvision's ``Normalize``
    with the dataset's own statistics, as the authors do for each dataset).
    """
    folder = Path(folder)
    size = parse_size(image_size)
    files, labels = scan_folder(folder)
    _pillow()
    workers = workers or _cpus()
    relative = [str(p.relative_to(folder).as_posix()) for p in files]
    settings = {"format": "images", "version": _FORMAT, "size": size, "skip": skip_unreadable}
    origin = origin_key(str(folder.resolve()), settings)
    path = cache_path(source_key(files, settings), origin, cache)
    found = open_cache(path)
    if found is not None:
        X, record = found
        skipped = set(record.get("skipped", ()))
        kept = [i for i, name in enumerate(relative) if name not in skipped]
        if check_cache_shape(path, X, (len(kept), *X.shape[1:])):
            return _dataset(X, labels, relative, kept)
    kept, size, mode, skipped = _check(files, folder, size, skip_unreadable, workers)
    X, more = _convert(files, kept, size, mode, path, skip_unreadable, workers, progress, folder)
    skipped += more
    gone = set(more)
    return _dataset(X, labels, relative, [i for i in kept if relative[i] not in gone])


def _dataset(X: Any, labels: list[str], relative: list[str], kept: list[int]) -> Dataset:
    return Dataset(X, np.array([labels[i] for i in kept]), np.array([relative[i] for i in kept]))


def _convert(
    files: list[Path],
    kept: list[int],
    size: tuple[int, int],
    mode: str,
    path: Path,
    skip: bool,
    workers: int,
    progress: bool,
    folder: Path,
) -> tuple[np.memmap, list[str]]:
    """Decodes the kept images into a raw temporary file, then writes the normalised cache."""
    raw_dtype = _raw_dtype(mode)
    shape = _shape(len(kept), size, mode)
    channels = 1 if len(shape) == 3 else shape[3]
    fd, raw_name = tempfile.mkstemp(prefix=temporary_prefix(f"{path.name}.raw"), dir=path.parent)
    raw_path = Path(raw_name)
    try:
        with os.fdopen(fd, "r+b") as handle:
            writer = RowWriter(handle.fileno(), 0, shape, raw_dtype)
            handle.truncate(len(kept) * writer.row_bytes)
            failed, sums, squares = _decode_all(
                files, kept, size, mode, writer, skip, workers, progress, channels
            )
        good = np.ones(len(kept), dtype=bool)
        good[[position for position, _ in failed]] = False
        count = int(good.sum()) * int(np.prod(shape[1:-1] if channels > 1 else shape[1:]))
        if count == 0:
            raise ValueError(f"no image of {folder} could be decoded")
        scale = _SCALE[mode]
        mean = sums / count / scale
        std = np.sqrt(np.maximum(squares / count / scale**2 - mean**2, 0.0))
        std[std == 0] = 1.0
        skipped = [str(files[kept[p]].relative_to(folder).as_posix()) for p, _ in failed]
        meta = {"skipped": skipped, "mean": mean.tolist(), "std": std.tolist(), "mode": mode}
        reader = os.open(raw_path, os.O_RDONLY)
        final = (int(good.sum()), *shape[1:])

        def fill(out: RowWriter) -> None:
            start = 0
            with tqdm(total=len(kept), desc="cgfast: normalising", unit="image",
                      disable=not progress) as bar:  # fmt: skip
                for first in range(0, len(kept), _CHUNK * 4):
                    stop = min(first + _CHUNK * 4, len(kept))
                    data = os.pread(
                        reader, (stop - first) * writer.row_bytes, first * writer.row_bytes
                    )  # read, not mapped: memory stays bounded
                    part = np.frombuffer(data, dtype=raw_dtype).reshape(stop - first, *shape[1:])
                    block = part[good[first:stop]].astype(np.float32)
                    block /= np.float32(scale)
                    block -= mean.astype(np.float32)
                    block /= std.astype(np.float32)
                    out.write(start, block)
                    start += len(block)
                    bar.update(stop - first)

        try:
            X = build_cache(path, final, np.dtype(np.float32), fill, meta)
        finally:
            os.close(reader)
    finally:
        raw_path.unlink(missing_ok=True)
    return X, skipped


def _decode_all(
    files: list[Path],
    kept: list[int],
    size: tuple[int, int],
    mode: str,
    writer: RowWriter,
    skip: bool,
    workers: int,
    progress: bool,
    channels: int,
) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray]:
    """Decodes the images in parallel chunks; returns the failures and per-channel sums."""
    expected = _shape(1, size, mode)[1:]

    def chunk(first: int) -> tuple[list[tuple[int, str]], np.ndarray, np.ndarray]:
        stop = min(first + _CHUNK, len(kept))
        block = np.zeros((stop - first, *expected), dtype=writer.dtype)
        failed = []
        for j in range(first, stop):
            pixels = _decode(files[kept[j]], size, mode, resize=True)
            if isinstance(pixels, str) or pixels.shape != expected:
                why = pixels if isinstance(pixels, str) else f"decoded to shape {pixels.shape}"
                failed.append((j, why))
                continue
            block[j - first] = pixels
        good = np.ones(len(block), dtype=bool)
        good[[j - first for j, _ in failed]] = False
        values = block[good].reshape(-1, channels).astype(np.float64)
        writer.write(first, block)
        return failed, values.sum(axis=0), np.einsum("ij,ij->j", values, values)

    failed: list[tuple[int, str]] = []
    sums = np.zeros(channels)
    squares = np.zeros(channels)
    starts = range(0, len(kept), _CHUNK)
    pool = ThreadPoolExecutor(workers)
    try:
        with tqdm(total=len(kept), desc="cgfast: decoding images", unit="image",
                  disable=not progress) as bar:  # fmt: skip
            for first, (bad, s, q) in zip(starts, pool.map(chunk, starts)):
                if bad and not skip:
                    j, why = bad[0]
                    raise ValueError(
                        f"cannot decode the image {files[kept[j]]} ({why}); "
                        "--skip-unreadable (skip_unreadable=True) leaves such files out"
                    )
                failed += bad
                sums += s
                squares += q
                bar.update(min(_CHUNK, len(kept) - first))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # stop decoding at the first error
    return failed, sums, squares
