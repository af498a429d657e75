"""Media content in an S3-compatible bucket (moto's server, in a thread), on both
database backends: upload, download (whole and by range), thumbnails, two servers
sharing one bucket, a lost object, an unreachable store, and a half-filled config."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp.test_utils import TestClient
from moto.server import ThreadedMotoServer

from homeserver.app import create_app
from homeserver.clock import FakeClock
from homeserver.config import ConfigError
from homeserver.services import Homeserver, build_homeserver
from tests.conftest import Account, make_config, register
from tests.test_thumbnails import png_bytes

UPLOAD = "/_matrix/media/v3/upload"
V1 = "/_matrix/client/v1/media"
LEGACY = "/_matrix/media/v3"
PREFIX = "hs1/"
MAX_UPLOAD = 4 * 1024 * 1024


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> Any:
    """A fresh bucket for each test, and a client to look into it."""
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test")
    name = f"media-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=name)
    s3.bucket_name = name
    return s3


def s3_settings(endpoint: str, bucket_name: str, **extra: Any) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "bucket": bucket_name, "region": "us-east-1",
            "access_key_id": "test", "secret_access_key": "test", "prefix": PREFIX, **extra}


async def s3_server(tmp_path: Path, database_url: str, s3: dict[str, Any]) -> Homeserver:
    return await build_homeserver(make_config(tmp_path, database_url, **{
        "media.max_upload_bytes": MAX_UPLOAD, "media.s3": s3}), FakeClock())


@pytest.fixture
async def server(tmp_path: Path, database_url: str, s3_endpoint: str, bucket: Any) -> Homeserver:
    return await s3_server(tmp_path, database_url, s3_settings(s3_endpoint, bucket.bucket_name))


@pytest.fixture
async def client(server: Homeserver, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(create_app(server))


def objects(bucket: Any) -> dict[str, bytes]:
    listing = bucket.list_objects_v2(Bucket=bucket.bucket_name).get("Contents", [])
    return {o["Key"]: bucket.get_object(Bucket=bucket.bucket_name, Key=o["Key"])["Body"].read()
            for o in listing}


async def upload(client: TestClient, who: Account, data: bytes,
                 content_type: str = "application/octet-stream", filename: str | None = None,
                 status: int = 200) -> Any:
    params = {"filename": filename} if filename else {}
    resp = await client.post(UPLOAD, data=data, params=params,
                             headers={**who.auth, "Content-Type": content_type})
    body = await resp.json()
    assert resp.status == status, body
    return body


def media_path(uri: str) -> str:
    return uri.removeprefix("mxc://")


async def test_content_lives_in_the_bucket_and_comes_back(
        client: TestClient, bucket: Any, tmp_path: Path) -> None:
    alice = await register(client, "alice")
    data = os.urandom(1_500_000)  # several read chunks
    uri = (await upload(client, alice, data, "application/pdf", "report.pdf"))["content_uri"]
    first = await upload(client, alice, data)  # the same bytes are kept once
    assert first["content_uri"] != uri
    sha = hashlib.sha256(data).hexdigest()
    assert objects(bucket) == {f"{PREFIX}content/{sha[:2]}/{sha[2:4]}/{sha}": data}
    assert not (tmp_path / "media" / "content").exists()  # nothing kept locally
    assert not list((tmp_path / "media" / "tmp").iterdir())  # no part file left behind
    for path, headers in ((f"{V1}/download/{media_path(uri)}", alice.auth),
                          (f"{LEGACY}/download/{media_path(uri)}", {})):
        resp = await client.get(path, headers=headers)
        assert resp.status == 200, path
        assert await resp.read() == data
        assert resp.headers["Content-Type"] == "application/pdf"
        assert resp.headers["Content-Length"] == str(len(data))
        assert resp.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
        assert resp.headers["Content-Security-Policy"].startswith("sandbox;")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_ranges_of_the_object(client: TestClient) -> None:
    alice = await register(client, "alice")
    data = os.urandom(100_000)
    path = f"{LEGACY}/download/{media_path((await upload(client, alice, data))['content_uri'])}"
    for header, first, last in (("bytes=10-19", 10, 19), ("bytes=99990-", 99990, 99999),
                                ("bytes=-5", 99995, 99999), ("bytes=0-999999", 0, 99999)):
        resp = await client.get(path, headers={"Range": header})
        assert resp.status == 206, header
        assert await resp.read() == data[first:last + 1]
        assert resp.headers["Content-Range"] == f"bytes {first}-{last}/100000"
    resp = await client.get(path, headers={"Range": "bytes=100000-"})
    assert resp.status == 416
    assert resp.headers["Content-Range"] == "bytes */100000"
    assert (await resp.json())["errcode"] == "M_UNKNOWN"
    for ignored in ("bytes=1-2,5-6", "items=0-1", "bytes=x-1", "bytes=" + "9" * 300):
        resp = await client.get(path, headers={"Range": ignored})
        assert resp.status == 200, ignored
        assert await resp.read() == data


async def test_thumbnails_are_made_from_and_kept_in_the_bucket(
        client: TestClient, server: Homeserver, bucket: Any) -> None:
    alice = await register(client, "alice")
    uri = (await upload(client, alice, png_bytes(400, 300), "image/png"))["content_uri"]
    for _ in range(2):
        resp = await client.get(f"{V1}/thumbnail/{media_path(uri)}",
                                params={"width": "96", "height": "96", "method": "crop"},
                                headers=alice.auth)
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert (await resp.read())[:2] == b"\xff\xd8"
    assert server.media.thumbnails_made == 1
    assert len(objects(bucket)) == 2  # the image and its one thumbnail
    # A thumbnail whose object is gone is made again rather than answered as missing.
    thumb_key = next(k for k, v in objects(bucket).items() if v[:2] == b"\xff\xd8")
    bucket.delete_object(Bucket=bucket.bucket_name, Key=thumb_key)
    resp = await client.get(f"{V1}/thumbnail/{media_path(uri)}",
                            params={"width": "96", "height": "96", "method": "crop"},
                            headers=alice.auth)
    assert resp.status == 200 and server.media.thumbnails_made == 2


async def test_two_servers_share_one_bucket(
        tmp_path: Path, database_url: str, s3_endpoint: str, bucket: Any,
        aiohttp_client: Any) -> None:
    s3 = s3_settings(s3_endpoint, bucket.bucket_name)
    one = await aiohttp_client(create_app(await s3_server(tmp_path / "one", database_url, s3)))
    two = await aiohttp_client(create_app(await s3_server(tmp_path / "two", database_url, s3)))
    alice = await register(one, "alice")
    data = os.urandom(70_000)
    uri = (await upload(one, alice, data, "image/png"))["content_uri"]
    resp = await two.get(f"{V1}/download/{media_path(uri)}", headers=alice.auth)
    assert resp.status == 200
    assert await resp.read() == data
    assert not (tmp_path / "two" / "media" / "content").exists()


async def test_a_lost_object_is_not_found(client: TestClient, bucket: Any) -> None:
    alice = await register(client, "alice")
    uri = (await upload(client, alice, b"soon gone"))["content_uri"]
    for key in objects(bucket):
        bucket.delete_object(Bucket=bucket.bucket_name, Key=key)
    resp = await client.get(f"{LEGACY}/download/{media_path(uri)}")
    assert resp.status == 404
    assert (await resp.json())["errcode"] == "M_NOT_FOUND"


async def test_an_unreachable_store_is_502_not_500(
        tmp_path: Path, database_url: str, aiohttp_client: Any) -> None:
    # Nothing listens on port 9 (discard) on this host: every request is refused.
    s3 = s3_settings("http://127.0.0.1:9", "media-nowhere")
    client = await aiohttp_client(create_app(await s3_server(tmp_path, database_url, s3)))
    alice = await register(client, "alice")
    body = await upload(client, alice, b"nowhere to go", status=502)
    assert body["errcode"] == "M_UNKNOWN"
    assert not list((tmp_path / "media" / "tmp").iterdir())  # the part file is gone


@pytest.mark.parametrize(
    ("s3", "names"),
    [
        ({"endpoint_url": "http://s3"}, "media.s3.bucket"),
        ({"bucket": "media", "region": "r", "access_key_id": "a", "secret_access_key": "s"},
         "media.s3.endpoint_url"),
        ({"endpoint_url": "http://s3", "bucket": "media", "region": "r",
          "access_key_id": "a"}, "media.s3.secret_access_key"),
        ({"endpoint_url": "ftp://s3", "bucket": "media", "region": "r", "access_key_id": "a",
          "secret_access_key": "s"}, "media.s3.endpoint_url"),
        ({"endpoint_url": "http://s3", "bucket": "No_Such", "region": "r",
          "access_key_id": "a", "secret_access_key": "s"}, "media.s3.bucket"),
        ({"endpoint_url": "http://s3", "bucket": "media", "region": "r", "access_key_id": "a",
          "secret_access_key": "s", "prefix": "/abs"}, "media.s3.prefix"),
        ({"endpoint_url": "http://s3", "bucket": "media", "region": "r", "access_key_id": "a",
          "secret_access_key": "s", "addressing_style": "dns"}, "media.s3.addressing_style"),
        ({"endpoint_url": "http://s3", "bucket": "media", "region": "r", "access_key_id": "a",
          "secret_access_key": "s", "secret": "typo"}, "media.s3.secret"),
        ({"endpoint_url": "http://s3", "bucket": "media", "region": "r", "access_key_id": "a",
          "secret_access_key": ""}, "media.s3.secret_access_key"),
        ("yes", "media.s3"),
    ],
)
def test_a_half_filled_s3_config_names_the_key(tmp_path: Path, s3: Any, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        make_config(tmp_path, None, **{"media.s3": s3})


def test_the_secret_key_stays_out_of_the_config_repr(tmp_path: Path) -> None:
    config = make_config(tmp_path, None, **{"media.s3": s3_settings("http://s3", "media", **{
        "secret_access_key": "hunter2-very-secret"})})
    assert "hunter2-very-secret" not in repr(config)
