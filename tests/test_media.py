"""The content repository over HTTP on both backends: upload, create + fill, download,
the safe headers, quota and size limits, and attacks on ids and paths."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.services import Homeserver, build_homeserver
from tests.conftest import Account, make_config, register

UPLOAD = "/_matrix/media/v3/upload"
CREATE = "/_matrix/media/v1/create"
V1 = "/_matrix/client/v1/media"
LEGACY = "/_matrix/media/v3"
MAX_UPLOAD = 8192
QUOTA = 20_000


@pytest.fixture
async def server(tmp_path: Path, database_url: str, clock: FakeClock) -> Homeserver:
    # A body limit below the upload limit: uploads must get past it, and only them.
    return await build_homeserver(make_config(tmp_path, database_url, **{
        "limits.max_body_bytes": 1024, "media.max_upload_bytes": MAX_UPLOAD,
        "media.max_bytes_per_user": QUOTA, "media.max_pending_uploads": 2,
    }), clock)


@pytest.fixture
async def client(server: Homeserver, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(create_app(server))


async def upload(client: TestClient, who: Account, data: bytes | Any,
                 content_type: str = "application/octet-stream", filename: str | None = None,
                 status: int = 200) -> Any:
    params = {"filename": filename} if filename is not None else {}
    resp = await client.post(UPLOAD, data=data, params=params,
                             headers={**who.auth, "Content-Type": content_type})
    body = await resp.json()
    assert resp.status == status, body
    return body


def media_path(uri: str) -> str:
    assert uri.startswith("mxc://test.local/")
    return uri.removeprefix("mxc://")


async def test_upload_then_download_gives_the_same_bytes(client: TestClient) -> None:
    alice = await register(client, "alice")
    data = os.urandom(5000)  # above limits.max_body_bytes, within the upload limit
    uri = (await upload(client, alice, data, "application/pdf", "report.pdf"))["content_uri"]
    for path, headers in ((f"{V1}/download/{media_path(uri)}", alice.auth),
                          (f"{LEGACY}/download/{media_path(uri)}", {}),
                          ("/_matrix/media/r0/download/" + media_path(uri), {})):
        resp = await client.get(path, headers=headers)
        assert resp.status == 200, path
        assert await resp.read() == data
        assert resp.headers["Content-Type"] == "application/pdf"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
        # Streamed, yet readable by a browser client on another origin (Element Web).
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_same_content_is_kept_once_on_disk(client: TestClient, server: Homeserver,
                                                 tmp_path: Path) -> None:
    alice = await register(client, "alice")
    first = await upload(client, alice, b"same bytes")
    second = await upload(client, alice, b"same bytes")
    assert first["content_uri"] != second["content_uri"]
    files = [p for p in (tmp_path / "media" / "content").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == b"same bytes"
    assert not list((tmp_path / "media" / "tmp").iterdir())  # no part file left behind


async def test_v1_paths_need_a_token(client: TestClient) -> None:
    alice = await register(client, "alice")
    uri = (await upload(client, alice, b"secret"))["content_uri"]
    for path in (f"{V1}/download/{media_path(uri)}", f"{V1}/thumbnail/{media_path(uri)}"
                 "?width=32&height=32", f"{V1}/config", f"{V1}/preview_url?url=https://a.b",
                 f"{LEGACY}/config"):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert (await resp.json())["errcode"] == "M_MISSING_TOKEN"
    resp = await client.post(UPLOAD, data=b"x")
    assert resp.status == 401
    resp = await client.post(CREATE)
    assert resp.status == 401


async def test_config_and_preview(client: TestClient) -> None:
    alice = await register(client, "alice")
    for path in (f"{V1}/config", f"{LEGACY}/config"):
        resp = await client.get(path, headers=alice.auth)
        assert await resp.json() == {"m.upload.size": MAX_UPLOAD}
    # No URL is fetched (SSRF): the preview is empty, whatever it names.
    resp = await client.get(f"{V1}/preview_url", params={"url": "http://127.0.0.1:5432/"},
                            headers=alice.auth)
    assert resp.status == 200 and await resp.json() == {}
    resp = await client.get(f"{V1}/preview_url", headers=alice.auth)
    assert (await resp.json())["errcode"] == "M_MISSING_PARAM"
    resp = await client.get(f"{V1}/preview_url", params={"url": "file:///etc/passwd"},
                            headers=alice.auth)
    assert resp.status == 400


async def test_create_then_fill_once_by_its_creator(client: TestClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    resp = await client.post(CREATE, headers=alice.auth)
    created = await resp.json()
    assert resp.status == 200 and created["unused_expires_at"] > 0
    path = media_path(created["content_uri"])
    resp = await client.get(f"{V1}/download/{path}", headers=alice.auth)
    assert resp.status == 504 and (await resp.json())["errcode"] == "M_NOT_YET_UPLOADED"
    put = f"{LEGACY}/upload/{path}"
    resp = await client.put(put, data=b"bob's",
                            headers={**bob.auth, "Content-Type": "text/plain"})
    assert resp.status == 403 and (await resp.json())["errcode"] == "M_FORBIDDEN"
    resp = await client.put(put, data=b"hello", params={"filename": "hi.txt"},
                            headers={**alice.auth, "Content-Type": "text/plain"})
    assert resp.status == 200, await resp.text()
    resp = await client.put(put, data=b"again",
                            headers={**alice.auth, "Content-Type": "text/plain"})
    assert resp.status == 409
    assert (await resp.json())["errcode"] == "M_CANNOT_OVERWRITE_MEDIA"
    resp = await client.get(f"{V1}/download/{path}", headers=bob.auth)
    assert await resp.read() == b"hello"
    assert resp.headers["Content-Disposition"] == 'inline; filename="hi.txt"'
    resp = await client.put(f"{LEGACY}/upload/test.local/nosuchmedia", data=b"x",
                            headers=alice.auth)
    assert resp.status == 404 and (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_create_is_bounded_and_expires(client: TestClient, clock: FakeClock) -> None:
    alice = await register(client, "alice")
    paths = [media_path((await (await client.post(CREATE, headers=alice.auth)).json())
                        ["content_uri"]) for _ in range(2)]
    resp = await client.post(CREATE, headers=alice.auth)
    assert resp.status == 429 and (await resp.json())["errcode"] == "M_LIMIT_EXCEEDED"
    clock.advance(24 * 3600 + 1)
    resp = await client.put(f"{LEGACY}/upload/{paths[0]}", data=b"late", headers=alice.auth)
    assert resp.status == 404
    resp = await client.post(CREATE, headers=alice.auth)  # the expired ones count no more
    assert resp.status == 200


async def test_oversize_upload_is_413_with_or_without_a_length(client: TestClient,
                                                              tmp_path: Path) -> None:
    alice = await register(client, "alice")
    body = await upload(client, alice, b"x" * (MAX_UPLOAD + 1), status=413)
    assert body["errcode"] == "M_TOO_LARGE"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: cut off while streaming
        for _ in range(20):
            yield b"y" * 1000

    body = await upload(client, alice, chunked(), status=413)
    assert body["errcode"] == "M_TOO_LARGE"
    assert not list((tmp_path / "media" / "tmp").iterdir())
    # The upload limit is for uploads only: other routes keep limits.max_body_bytes.
    resp = await client.put("/_matrix/client/v3/profile/@alice:test.local/displayname",
                            data=b"{" + b" " * 2000 + b"}", headers=alice.auth)
    assert resp.status == 413


async def test_quota_per_user(client: TestClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    await upload(client, alice, b"a" * 8000)
    await upload(client, alice, b"b" * 8000)
    body = await upload(client, alice, b"c" * 8000, status=403)
    assert body["errcode"] == "M_FORBIDDEN"

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"d" * 1000

    await upload(client, alice, chunked(), status=403)
    await upload(client, alice, b"e" * 4000)  # what still fits
    await upload(client, bob, b"c" * 8000)  # bob's quota is his own


async def test_safe_headers_and_disposition(client: TestClient) -> None:
    alice = await register(client, "alice")
    html = (await upload(client, alice, b"<script>alert(1)</script>", "text/html",
                         "page.html"))["content_uri"]
    resp = await client.get(f"{V1}/download/{media_path(html)}", headers=alice.auth)
    assert resp.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    assert resp.headers["Content-Security-Policy"].startswith(
        "sandbox; default-src 'none'; script-src 'none';")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    svg = (await upload(client, alice, b"<svg/>", "image/svg+xml"))["content_uri"]
    resp = await client.get(f"{LEGACY}/download/{media_path(svg)}")
    assert resp.headers["Content-Disposition"] == "attachment"
    png = (await upload(client, alice, b"\x89PNG...", "image/png", 'ç "x"; a=b.png'))[
        "content_uri"]
    resp = await client.get(f"{V1}/download/{media_path(png)}", headers=alice.auth)
    assert resp.headers["Content-Disposition"] == (
        "inline; filename*=utf-8''%C3%A7%20%22x%22%3B%20a%3Db.png")
    # A name in the path wins over the uploaded one, and is encoded the same way.
    resp = await client.get(f"{V1}/download/{media_path(png)}/na%C3%AFve.png",
                            headers=alice.auth)
    assert resp.headers["Content-Disposition"] == "inline; filename*=utf-8''na%C3%AFve.png"


@pytest.mark.parametrize("filename", ["x" * 256, "a\x01b"])
async def test_bad_filename_is_refused(client: TestClient, filename: str) -> None:
    alice = await register(client, "alice")
    body = await upload(client, alice, b"x", filename=filename, status=400)
    assert body["errcode"] == "M_INVALID_PARAM"


@pytest.mark.parametrize("content_type", ["nonsense", "a/b/c", "text/html\u00e9"])
async def test_bad_content_type_is_refused(client: TestClient, content_type: str) -> None:
    alice = await register(client, "alice")
    resp = await client.post(UPLOAD, data=b"x", headers={
        **alice.auth, "Content-Type": content_type.encode().decode("latin-1")})
    assert resp.status == 400


@pytest.mark.parametrize(("path", "status"), [
    ("test.local/..%2F..%2Fetc%2Fpasswd", 400),
    ("test.local/..", 400),
    ("test.local/abc%00", 400),
    ("test.local/abc$def", 400),
    ("bad_server!/abcdef", 400),
    ("test.local/" + "a" * 300, 400),
    ("test.local/unknownmedia", 404),
    ("other.example/abcdef", 404),
])
async def test_bad_media_ids_are_refused(client: TestClient, path: str, status: int) -> None:
    alice = await register(client, "alice")
    for url in (f"{V1}/download/{path}", f"{LEGACY}/download/{path}",
                f"{V1}/thumbnail/{path}?width=32&height=32"):
        resp = await client.get(url, headers=alice.auth)
        assert resp.status in (status, 404), (url, resp.status)
        body = await resp.json()
        assert body["errcode"].startswith("M_"), body


async def test_path_traversal_never_reads_a_file(client: TestClient) -> None:
    alice = await register(client, "alice")
    for url in ("/_matrix/media/v3/download/test.local/../../../../etc/passwd",
                "/_matrix/media/v3/download/test.local/%2e%2e/%2e%2e/etc/passwd",
                "/_matrix/client/v1/media/download/..%2f..%2f..%2fetc/passwd"):
        resp = await client.get(url, headers=alice.auth)
        assert resp.status in (400, 404), url
        assert b"root:" not in await resp.read()


async def test_avatar_url_must_name_real_media(client: TestClient) -> None:
    alice = await register(client, "alice")
    put = "/_matrix/client/v3/profile/@alice:test.local/avatar_url"
    for bad in ("https://evil.example/a.png", "mxc://test.local/../x", "mxc://test.local/",
                "mxc://bad server/abc", "mxc://test.local/a/b"):
        resp = await client.put(put, json={"avatar_url": bad}, headers=alice.auth)
        assert resp.status == 400, bad
        assert (await resp.json())["errcode"] == "M_INVALID_PARAM"
    resp = await client.put(put, json={"avatar_url": "mxc://test.local/nosuchmedia"},
                            headers=alice.auth)
    assert resp.status == 404
    created = await (await client.post(CREATE, headers=alice.auth)).json()
    resp = await client.put(put, json={"avatar_url": created["content_uri"]}, headers=alice.auth)
    assert resp.status == 404  # an ID without content yet
    uri = (await upload(client, alice, b"\x89PNG", "image/png"))["content_uri"]
    resp = await client.put(put, json={"avatar_url": uri}, headers=alice.auth)
    assert resp.status == 200
    resp = await client.put(put, json={"avatar_url": "mxc://other.example/abc123"},
                            headers=alice.auth)
    assert resp.status == 200  # another server's media is checked by grammar only
    resp = await client.get("/_matrix/client/v3/profile/@alice:test.local")
    assert (await resp.json())["avatar_url"] == "mxc://other.example/abc123"
    resp = await client.put(put, json={"avatar_url": None}, headers=alice.auth)
    assert resp.status == 200


async def test_a_range_of_a_local_file(client: TestClient) -> None:
    alice = await register(client, "alice")
    data = os.urandom(6000)
    path = f"{LEGACY}/download/{media_path((await upload(client, alice, data))['content_uri'])}"
    resp = await client.get(path, headers={"Range": "bytes=100-199"})
    assert resp.status == 206 and await resp.read() == data[100:200]
    assert resp.headers["Content-Range"] == "bytes 100-199/6000"
    resp = await client.get(path, headers={"Range": "bytes=6000-"})
    assert resp.status == 416 and (await resp.json())["errcode"] == "M_UNKNOWN"
    resp = await client.get(path)
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["Content-Length"] == "6000" and resp.headers["Accept-Ranges"] == "bytes"


async def test_empty_content_downloads_empty(client: TestClient) -> None:
    alice = await register(client, "alice")
    uri = (await upload(client, alice, b""))["content_uri"]
    resp = await client.get(f"{LEGACY}/download/{media_path(uri)}")
    assert resp.status == 200 and await resp.read() == b""
    assert resp.headers["Content-Length"] == "0"
