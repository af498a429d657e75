"""Thumbnails over HTTP on both backends: the standard sizes, scale and crop, made once,
and images that must not be decoded (decompression bombs)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.media.backend import MediaBackend
from homeserver.media.thumbnails import nearest_size
from homeserver.services import Homeserver, build_homeserver
from tests.conftest import Account, make_config, register

UPLOAD = "/_matrix/media/v3/upload"
V1 = "/_matrix/client/v1/media"


def png_bytes(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30) if mode == "RGB" else 0).save(out, "PNG")
    return out.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)) * 16, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))


def png_with_broken_second_idat(side: int = 64) -> bytes:
    """A PNG whose pixels are split over two IDAT chunks, the second with a bad chunk type:
    Pillow's decoder raises a bare SyntaxError ("broken PNG file") for it."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"".join(b"\x00" + b"\x80" * 3 * side for _ in range(side)))
    half = len(rows) // 2
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows[:half])
            + chunk(b"ID\x00T", rows[half:]) + chunk(b"IEND", b""))


class CountingBackend:
    """The real backend, counting how often content is fetched to make a thumbnail."""

    def __init__(self, real: MediaBackend) -> None:
        self.real = real
        self.copies = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    @asynccontextmanager
    async def local_copy(self, sha256: str) -> AsyncIterator[Path]:
        self.copies += 1
        async with self.real.local_copy(sha256) as path:
            yield path


def count_copies(server: Homeserver) -> CountingBackend:
    counting = CountingBackend(server.media.backend)
    server.media.backend = counting  # type: ignore[assignment]
    return counting


async def upload(client: TestClient, who: Account, data: bytes, content_type: str) -> str:
    resp = await client.post(UPLOAD, data=data, headers={**who.auth,
                                                         "Content-Type": content_type})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["content_uri"].removeprefix("mxc://")


async def thumbnail(client: TestClient, who: Account, path: str, status: int = 200,
                    **query: Any) -> Any:
    resp = await client.get(f"{V1}/thumbnail/{path}", params=query, headers=who.auth)
    assert resp.status == status, await resp.text()
    if status != 200:
        return await resp.json()
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"].startswith("sandbox")
    return await resp.read(), resp.headers["Content-Type"]


def test_nearest_standard_size() -> None:
    assert nearest_size(20, 20, "crop") == (32, 32)
    assert nearest_size(33, 10, "crop") == (96, 96)
    assert nearest_size(500, 500, "crop") == (96, 96)
    assert nearest_size(300, 200, "scale") == (320, 240)
    assert nearest_size(321, 100, "scale") == (640, 480)
    assert nearest_size(4000, 4000, "scale") == (800, 600)


async def test_scale_and_crop_sizes(client: TestClient) -> None:
    alice = await register(client, "alice")
    path = await upload(client, alice, png_bytes(1000, 500), "image/png")
    data, kind = await thumbnail(client, alice, path, width=300, height=200, method="scale")
    assert kind == "image/jpeg"
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == (320, 160)  # fit inside 320x240
    data, _ = await thumbnail(client, alice, path, width=90, height=90, method="crop")
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (96, 96)  # filled, then cut
        assert image.getpixel((48, 48))[0] > 150
    data, _ = await thumbnail(client, alice, path, width=640, height=480)  # scale by default
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (640, 320)


async def test_small_images_are_not_enlarged_by_scale(client: TestClient) -> None:
    alice = await register(client, "alice")
    path = await upload(client, alice, png_bytes(50, 40), "image/png")
    data, _ = await thumbnail(client, alice, path, width=800, height=600)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (50, 40)


async def test_transparency_is_kept_as_png(client: TestClient) -> None:
    alice = await register(client, "alice")
    path = await upload(client, alice, png_bytes(200, 200, "RGBA"), "image/png")
    data, kind = await thumbnail(client, alice, path, width=32, height=32, method="crop")
    assert kind == "image/png"
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA" and image.size == (32, 32)


async def test_a_thumbnail_is_made_once(client: TestClient, homeserver: Homeserver) -> None:
    alice = await register(client, "alice")
    path = await upload(client, alice, png_bytes(400, 400), "image/png")
    first, _ = await thumbnail(client, alice, path, width=96, height=96, method="crop")
    assert homeserver.media.thumbnails_made == 1
    # Another size that rounds to the same standard one, and the legacy path: the cache.
    second, _ = await thumbnail(client, alice, path, width=40, height=90, method="crop")
    resp = await client.get(f"/_matrix/media/v3/thumbnail/{path}",
                            params={"width": "96", "height": "96", "method": "crop"})
    assert resp.status == 200
    assert first == second == await resp.read()
    assert homeserver.media.thumbnails_made == 1
    await thumbnail(client, alice, path, width=32, height=32, method="crop")
    assert homeserver.media.thumbnails_made == 2


@pytest.mark.parametrize(("width", "height"), [(6000, 6000), (100_000, 100_000),
                                               (2**31 - 1, 2**31 - 1)])
async def test_decompression_bomb_is_refused(client: TestClient, homeserver: Homeserver,
                                             width: int, height: int) -> None:
    alice = await register(client, "alice")
    bomb = png_claiming(width, height)
    assert len(bomb) < 10_000
    path = await upload(client, alice, bomb, "image/png")
    body = await thumbnail(client, alice, path, status=400, width=320, height=240)
    assert body["errcode"] == "M_UNKNOWN"
    # Refused from the header: decoding would have failed later, on the missing rows.
    assert "too large" in body["error"]
    assert homeserver.media.thumbnails_made == 0
    # The server still answers, and a real image still gets its thumbnail.
    good = await upload(client, alice, png_bytes(64, 64), "image/png")
    await thumbnail(client, alice, good, width=32, height=32, method="crop")


async def test_what_is_not_an_image_gets_no_thumbnail(client: TestClient) -> None:
    alice = await register(client, "alice")
    text = await upload(client, alice, b"hello", "text/plain")
    body = await thumbnail(client, alice, text, status=400, width=32, height=32)
    assert body["errcode"] == "M_UNKNOWN"
    lying = await upload(client, alice, b"not a png at all", "image/png")
    await thumbnail(client, alice, lying, status=400, width=32, height=32)
    svg = await upload(client, alice, b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                       "image/svg+xml")
    await thumbnail(client, alice, svg, status=400, width=32, height=32)


@pytest.mark.parametrize("query", [
    {}, {"width": "32"}, {"height": "32"}, {"width": "x", "height": "32"},
    {"width": "0", "height": "32"}, {"width": "-5", "height": "32"},
    {"width": "32", "height": "99999999"}, {"width": "32", "height": "32", "method": "zoom"},
    {"width": " 32", "height": "32"},
])
async def test_bad_thumbnail_parameters(client: TestClient, query: dict[str, str]) -> None:
    alice = await register(client, "alice")
    path = await upload(client, alice, png_bytes(10, 10), "image/png")
    body = await thumbnail(client, alice, path, status=400, **query)
    assert body["errcode"] in ("M_MISSING_PARAM", "M_INVALID_PARAM")


async def test_a_broken_png_is_400_not_500(client: TestClient) -> None:
    alice = await register(client, "alice")
    path = await upload(client, alice, png_with_broken_second_idat(), "image/png")
    for _ in range(2):
        body = await thumbnail(client, alice, path, status=400, width=32, height=32,
                               method="crop")
        assert body["errcode"] == "M_UNKNOWN"
        assert "broken PNG" in body["error"]
    # Unauthenticated, on the legacy path: the same refusal, never a 500.
    resp = await client.get(f"/_matrix/media/v3/thumbnail/{path}",
                            params={"width": "320", "height": "240"})
    assert resp.status == 400


async def test_a_video_is_refused_without_reading_it(client: TestClient,
                                                     homeserver: Homeserver) -> None:
    counting = count_copies(homeserver)
    alice = await register(client, "alice")
    path = await upload(client, alice, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000,
                        "video/mp4")
    for width in (32, 96, 320, 640, 800):
        await thumbnail(client, alice, path, status=400, width=width, height=width)
        resp = await client.get(f"/_matrix/media/v3/thumbnail/{path}",
                                params={"width": str(width), "height": str(width)})
        assert resp.status == 400
    assert counting.copies == 0


async def test_a_broken_image_is_read_once_then_refused_at_once(
        client: TestClient, homeserver: Homeserver, tmp_path: Path, database_url: str,
        aiohttp_client: Any) -> None:
    counting = count_copies(homeserver)
    alice = await register(client, "alice")
    path = await upload(client, alice, png_with_broken_second_idat(), "image/png")
    first = await thumbnail(client, alice, path, status=400, width=32, height=32,
                            method="crop")
    assert counting.copies == 1
    # Every size and method, authenticated or not: the remembered verdict, no second read.
    for method, width in (("crop", 32), ("crop", 96), ("scale", 320), ("scale", 800)):
        again = await thumbnail(client, alice, path, status=400, width=width, height=width,
                                method=method)
        assert again == first
        resp = await client.get(f"/_matrix/media/v3/thumbnail/{path}",
                                params={"width": str(width), "height": str(width),
                                        "method": method})
        assert resp.status == 400
    assert counting.copies == 1
    assert homeserver.media.thumbnails_made == 0
    # Another worker on the same database and media path knows it too (the row).
    other = await build_homeserver(make_config(tmp_path, database_url), FakeClock())
    other_counting = count_copies(other)
    other_client = await aiohttp_client(create_app(other))
    assert await thumbnail(other_client, alice, path, status=400, width=640, height=480) \
        == first
    assert other_counting.copies == 0


async def test_an_image_past_the_source_bound_is_refused_unread(
        tmp_path: Path, database_url: str, aiohttp_client: Any) -> None:
    server = await build_homeserver(make_config(tmp_path, database_url, **{
        "media.max_thumbnail_source_bytes": 2048}), FakeClock())
    counting = count_copies(server)
    client = await aiohttp_client(create_app(server))
    alice = await register(client, "alice")
    big = await upload(client, alice, png_bytes(300, 300, "RGB") + b"\x00" * 4096,
                       "image/png")
    body = await thumbnail(client, alice, big, status=400, width=32, height=32)
    assert "too large" in body["error"]
    assert counting.copies == 0
    small = await upload(client, alice, png_bytes(30, 30), "image/png")
    await thumbnail(client, alice, small, width=32, height=32, method="crop")
    assert counting.copies == 1
