"""A WebSocket client on a bare socket, for tests that need a peer that really stops reading.

Client libraries read from the socket into their own buffers whether or not
the test asks for a frame, so "not calling receive()" does not stop the bytes.
This client reads only when asked, with a tiny receive buffer, so the
server's writes back up exactly as they would behind a stalled phone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

RECEIVE_BUFFER = 4096


class RawSocket:
    """One client WebSocket over a non-blocking socket; reads happen only on request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def connect(cls, host: str, port: int, path: str,
                      headers: dict[str, str]) -> RawSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setblocking(False)
        raw = cls(sock)
        await raw.loop.sock_connect(sock, (host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
        await raw.loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await raw._read_until(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        return raw

    async def _fill(self) -> bool:
        chunk = await self.loop.sock_recv(self.sock, 65536)
        self.buffer += chunk
        return bool(chunk)

    async def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not await self._fill():
                raise ConnectionError("closed during the handshake")
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    async def _read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not await self._fill():
                raise EOFError
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    async def frame(self) -> tuple[int, bytes]:
        """The next (opcode, payload); EOFError or ConnectionError when the stream ends."""
        first, second = await self._read_exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._read_exactly(8))
        return first & 0x0F, await self._read_exactly(length)

    async def json_frame(self) -> dict[str, Any]:
        opcode, payload = await self.frame()
        assert opcode == 0x1, (opcode, payload[:100])
        return json.loads(payload)

    async def send_frame(self, opcode: int, payload: bytes) -> None:
        """One final, masked frame as a client must send it, whatever the payload."""
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        await self.loop.sock_sendall(self.sock, head + mask + masked)

    def close(self) -> None:
        self.sock.close()
