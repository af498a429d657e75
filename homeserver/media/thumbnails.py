"""Thumbnails with Pillow: the standard sizes, and making one within bounds.

A request is answered with the nearest of a few standard sizes (as Synapse
does), so each image has at most five thumbnails however many sizes clients
ask for. An image's pixel count is read from its header and checked before
anything is decoded: a small file that claims 50,000 x 50,000 pixels (a
decompression bomb) is refused instead of costing 10 GB. This module's
functions block; the repository runs them on its own threads.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from homeserver.errors import MatrixError

METHODS = ("scale", "crop")
# (width, height, method), as Synapse's default thumbnail_sizes.
STANDARD_SIZES: tuple[tuple[int, int, str], ...] = (
    (32, 32, "crop"), (96, 96, "crop"),
    (320, 240, "scale"), (640, 480, "scale"), (800, 600, "scale"),
)
# What Pillow may decode as a thumbnail's source, by the type the uploader declared.
THUMBNAIL_SOURCES = {
    "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/png": "PNG", "image/gif": "GIF",
    "image/webp": "WEBP", "image/bmp": "BMP",
}


class CannotThumbnail(MatrixError):
    status, errcode = 400, "M_UNKNOWN"


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    content_type: str


def nearest_size(width: int, height: int, method: str) -> tuple[int, int]:
    """The smallest standard size of ``method`` that covers the request, else the largest."""
    sizes = sorted((w, h) for w, h, m in STANDARD_SIZES if m == method)
    for w, h in sizes:
        if w >= width and h >= height:
            return w, h
    return sizes[-1]


def make_thumbnail(source: Path, declared_type: str, width: int, height: int, method: str,
                   max_pixels: int) -> Thumbnail:
    """Scale (fit inside, never enlarge) or crop (fill, then cut) ``source`` to the size."""
    with _open_bounded(source, declared_type, max_pixels) as opened:
        return _resize(opened, width, height, method)


def _resize(image: Image.Image, width: int, height: int, method: str) -> Thumbnail:
    try:
        image.seek(0)  # an animation's first frame
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        if method == "crop":
            image = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
        else:
            image.thumbnail((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if image.mode == "RGBA":
            image.save(out, "PNG", optimize=True)
            return Thumbnail(out.getvalue(), "image/png")
        image.save(out, "JPEG", quality=80)
        return Thumbnail(out.getvalue(), "image/jpeg")
    except Exception as exc:
        # Pillow's decoders raise more than OSError: a PNG whose second IDAT chunk has a
        # bad type raises a bare SyntaxError ("broken PNG file"). Whatever the content
        # makes it raise is the content's fault, not ours: never a 500.
        raise CannotThumbnail(f"Cannot make a thumbnail: {exc}") from None


def check_source(declared_type: str, size: int, max_bytes: int) -> str:
    """Pillow's format for content of this type and size, or CannotThumbnail.

    Checked from the media's row, before its content is fetched from the backend.
    """
    fmt = THUMBNAIL_SOURCES.get(declared_type)
    if fmt is None:
        raise CannotThumbnail(f"No thumbnails for {declared_type or 'this content'}")
    if size > max_bytes:
        raise CannotThumbnail(f"The image is too large to thumbnail ({size} bytes)")
    return fmt


def _open_bounded(source: Path, declared_type: str, max_pixels: int) -> Image.Image:
    fmt = THUMBNAIL_SOURCES.get(declared_type)
    if fmt is None:
        raise CannotThumbnail(f"No thumbnails for {declared_type or 'this content'}")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb bound warns below 2x MAX_IMAGE_PIXELS; ours is the check.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source, formats=[fmt])  # reads the header only
    except Image.DecompressionBombError:  # past Pillow's own bound, 2x MAX_IMAGE_PIXELS
        raise CannotThumbnail("The image is too large to thumbnail") from None
    except Exception as exc:  # as in _resize: any failure to read is the content's
        raise CannotThumbnail(f"Cannot read the image: {exc}") from None
    w, h = image.size
    if w <= 0 or h <= 0 or w * h > max_pixels:
        image.close()
        raise CannotThumbnail(f"The image is too large to thumbnail ({w}x{h} pixels)")
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("LA", "PA") or "transparency" in image.info
