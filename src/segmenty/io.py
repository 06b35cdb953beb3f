"""Reading images safely and writing files atomically.

Every image that enters segmenty (backgrounds, photos, pattern files) goes through
`read_image`, so EXIF orientation, odd modes and hostile files are handled in one place.
"""
from __future__ import annotations

import contextlib
import errno
import io as _io
import os
import queue
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import SegmentyError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")

# Refuse anything larger than this many pixels before decoding it (a decompression bomb).
MAX_PIXELS = 120_000_000


WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS,
               background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """Read an image file as RGB uint8 H×W×3 with its EXIF orientation applied.

    Grayscale, RGBA (composited on `background`, white: a photo or a sheet shows its paper
    where it is transparent), palette and 16-bit images are converted.
    Raises SegmentyError naming the file for anything unreadable.
    """
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size == 0:
            raise SegmentyError(f"{path}: empty file (0 bytes), expected an image")
        with warnings.catch_warnings():
            # Pillow warns on opening a large image; MAX_PIXELS below is the limit that applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise SegmentyError(f"{path}: image claims {w}x{h} pixels, more than the "
                                    f"{max_pixels:,} allowed (refused before decoding)")
            if w < 1 or h < 1:
                raise SegmentyError(f"{path}: image has no pixels ({w}x{h})")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
            # In place: a copy of every photo otherwise, even one with nothing to turn.
            ImageOps.exif_transpose(im, in_place=True)
            return _to_rgb(im, background)
    except SegmentyError:
        raise
    except FileNotFoundError:
        raise SegmentyError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SegmentyError(f"{path}: is a folder, expected an image file") from None
    except PermissionError:
        raise SegmentyError(f"{path}: permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SegmentyError(f"{path}: image claims too many pixels, more than the {max_pixels:,} allowed "
                            "(a decompression bomb? refused before decoding)") from None
    except Image.UnidentifiedImageError:
        if str(path).lower().endswith(VIDEO_SUFFIXES):
            raise SegmentyError(f"{path}: a video where an image was expected (segmenty predict and "
                                "calibrate take videos)") from None
        raise SegmentyError(f"{path}: not an image file (or an unsupported format)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SegmentyError(f"{path}: symbolic link loop (the link points back at itself)") from None
        if exc.errno is not None:  # an I/O error reading the file, not its contents
            raise SegmentyError(f"{path}: cannot read ({exc.strerror})") from None
        raise SegmentyError(f"{path}: cannot decode image ({exc})") from None
    except (SyntaxError, ValueError) as exc:
        # Truncated or corrupt data; Pillow reports these as OSError/SyntaxError.
        raise SegmentyError(f"{path}: cannot decode image ({exc})") from None


def read_images_skipping(paths: Iterable[str | os.PathLike], what: str = "",
                         skipped: dict[str, str] | None = None) -> Iterator[tuple[Path, np.ndarray]]:
    """(path, RGB) for each readable image; an unreadable one is skipped with one warning
    ("skipping <what> <path>: <problem>") and noted in `skipped`, so the work goes on."""
    for path in paths:
        try:
            rgb = read_image(path)
        except SegmentyError as exc:
            warnings.warn(f"skipping {what + ' ' if what else ''}{exc}")
            if skipped is not None:
                skipped[str(path)] = str(exc)
            continue
        yield Path(path), rgb


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        under = Image.new("RGBA", im.size, (*background, 255))
        im = Image.alpha_composite(under, im)
    rgb = np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)  # (convert copies even RGB)
    return np.ascontiguousarray(rgb)


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask image as H×W bool: pixels brighter than mid-grey are inside. Its alpha
    channel counts: laid over black, a transparent pixel is outside (a mask drawn white on a
    transparent layer is the white shape, not the whole sheet); an opaque mask reads as is."""
    rgb = read_image(path, background=BLACK)
    mask = rgb.max(axis=2) >= 128
    if shape is not None and mask.shape != tuple(shape):
        raise SegmentyError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, "
                            f"expected {shape[1]}x{shape[0]} like the pattern image")
    return mask


def list_images(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Every image file below `folder`, sorted; symlink loops are not followed twice."""
    folder = Path(folder)
    if not folder.exists():
        raise SegmentyError(f"{folder}: no such file or folder")
    if folder.is_file():
        return [folder]
    found: list[Path] = []
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symlink loop: this folder was walked already
            dirs[:] = []
            continue
        seen.add(real)
        for name in files:
            if name.lower().endswith(IMAGE_SUFFIXES):
                found.append(Path(root) / name)
        if not recursive:
            break
        dirs.sort()
    return sorted(found)


def expand_inputs(inputs: list[str | os.PathLike], *, keep_missing: bool = False) -> list[Path]:
    """Image files named directly plus the images inside named folders.

    A path that does not exist raises SegmentyError, or with `keep_missing` stays in the list
    (reading it then fails with "no such file"), so a command that goes on past unreadable
    photos reports it with them and still does the others.
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(list_images(p))
        elif p.exists() or p.is_symlink() or keep_missing:
            out.append(p)
        else:
            raise SegmentyError(f"{p}: no such file or folder")
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    No half-written file ever sits under the final name, even if the process is killed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _named_as(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the usual permissions for new files.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        with _named_as(path, tmp_path):
            yield tmp_path
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def _named_as(path: Path, tmp: Path | None = None) -> Iterator[None]:
    """An OSError on the temporary file (or, with no `tmp`, on any file beside `path`: mkstemp's
    own try) names `path`, the file the user asked for, not the hidden name it is written to."""
    try:
        yield
    except OSError as exc:
        where = Path(exc.filename) if exc.filename is not None else None
        if where is not None and (where == tmp or (tmp is None and where.parent == path.parent)):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_renamed(path: str | os.PathLike, data) -> None:
    """Write `data` (bytes or a buffer) to a temporary name beside `path`, then rename: never a
    half-written file under the final name, even if the process is killed; but not flushed
    to disk. For the many files of one job (a photo's masks, a data set's samples), where a
    flush each would cost more than making the file: the job flushes them all once
    (`flush_to_disk`) before the durable record that lists them (predictions.json, index.json)."""
    path = Path(path)
    # Process and thread keep concurrent writers apart; a final name is never shared.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with _named_as(path, tmp):
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def encode_image(rgb_or_gray: np.ndarray, suffix: str, *, quality: int = 95) -> bytes:
    """Encode an RGB or grayscale uint8 array as PNG/JPEG bytes."""
    im = Image.fromarray(rgb_or_gray)
    buf = _io.BytesIO()
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".gif": "GIF"}[suffix.lower()]
    if fmt == "JPEG":
        im.save(buf, fmt, quality=quality)
    elif fmt == "PNG":
        # zlib's fastest level: a 640x480 heat map 4x faster than Pillow's default (6), the
        # file ~10% larger (masks are written for every photo and every synthetic sample)
        im.save(buf, fmt, compress_level=1)
    else:
        im.save(buf, fmt)
    return buf.getvalue()


def flush_to_disk() -> None:
    """Everything written so far onto the disk, at once: the one flush of the files a job wrote
    with `write_renamed`, before the record that lists them."""
    if hasattr(os, "sync"):
        os.sync()


def write_image(path: str | os.PathLike, rgb_or_gray: np.ndarray, *, quality: int = 95, durable: bool = True) -> None:
    """Write an RGB or grayscale uint8 image atomically; the format follows the suffix.
    durable=False: renamed into place but not flushed to disk (`write_renamed`)."""
    path = Path(path)
    data = encode_image(rgb_or_gray, path.suffix, quality=quality)
    (atomic_write_bytes if durable else write_renamed)(path, data)


def check_out_dir(path: str | os.PathLike, option: str = "--out", *, create: bool = True) -> Path:
    """Create an output folder; refuse a path that is an existing file. `create=False` only
    checks: a command checks --out first and creates it once its inputs proved good, so that
    a refused command leaves no empty folder behind."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SegmentyError(f"{option} {path}: exists and is a file, expected a folder")
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


_PREFETCH_DONE = object()
T = TypeVar("T")


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """The items of `items`, produced by a background thread up to `depth` ahead (an exception
    there is raised here, in order)."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((item, None))
        except BaseException as exc:  # handed to the consumer, raised there
            buffer.put((_PREFETCH_DONE, exc))
            return
        buffer.put((_PREFETCH_DONE, None))

    thread = threading.Thread(target=produce, name="segmenty-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _PREFETCH_DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(0.01)
