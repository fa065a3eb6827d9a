"""How `/ws` writes to one socket, in-process so its state can be looked at:
frames go straight to the socket only while nothing waits in the stream
(Tornado's own pongs and close frames included), and never interleave."""
import asyncio
import socket
from types import SimpleNamespace

import orjson
import pytest
import tornado.web

from handlers.ws import LiveSocket
from server.hub import Hub, text_frame
from server.settings import Settings
from test_slow_watcher import raw_client

pytestmark = pytest.mark.gen_test(timeout=20)


async def live_socket():
    """A Tornado app serving only `/ws` on a free port, and a raw client on it
    that reads nothing until told; returns (server, handler, client)."""
    ctx = SimpleNamespace(settings=Settings(), sockets=set(), hub=Hub("n1"))
    app = tornado.web.Application([(r"/ws", LiveSocket, {"ctx": ctx})])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = app.listen(port, address="127.0.0.1")
    client = await asyncio.get_running_loop().run_in_executor(None, raw_client, port)
    while not ctx.sockets:
        await asyncio.sleep(0.01)
    handler = next(iter(ctx.sockets))
    handler.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # full after a few frames
    return server, handler, client


def read_all(client: socket.socket) -> bytes:
    client.settimeout(0.2)
    got = b""
    try:
        while chunk := client.recv(1 << 16):
            got += chunk
    except TimeoutError:
        pass
    return got


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame; fails on a torn one."""
    out = []
    while data:
        opcode, n, start = data[0] & 0x0F, data[1] & 0x7F, 2
        if n == 126:
            n, start = int.from_bytes(data[2:4], "big"), 4
        assert len(data) >= start + n, "a frame was cut short"
        out.append((opcode, data[start:start + n]))
        data = data[start + n:]
    return out


async def test_frames_go_straight_to_the_socket_only_while_nothing_is_queued_in_the_stream():
    server, handler, client = await live_socket()
    loop = asyncio.get_running_loop()
    try:
        assert handler.direct is handler.sock
        sent = 0
        while handler.direct is not None:  # the client reads nothing: the kernel's buffers fill, then the stream's
            sent += 1
            handler.push(text_frame(b'{"n":%d}' % sent))
            assert handler.direct is None or not handler.stream.writing()
        data = await loop.run_in_executor(None, read_all, client)
        while handler.stream.writing():
            data += await loop.run_in_executor(None, read_all, client)
        handler.push(text_frame(b'{"n":%d}' % (sent + 1)))  # drained: straight to the socket again
        assert handler.direct is handler.sock
        data += await loop.run_in_executor(None, read_all, client)
        assert [orjson.loads(payload)["n"] for _, payload in frames(data)] == list(range(1, sent + 2))
    finally:
        client.close()
        server.stop()


async def test_tornados_own_writes_that_queue_stop_direct_writes_until_the_stream_drains():
    server, handler, client = await live_socket()
    loop = asyncio.get_running_loop()
    try:
        pings = 0
        while not handler.stream.writing():  # only Tornado writes here: its pings, not our push
            pings += 1
            handler.ping(b"p%d" % pings)
        assert handler.direct is None  # a frame written to the socket now would overtake the queued ping
        handler.push(text_frame(b'{"n":1}'))
        data = b""
        while handler.stream.writing():
            data += await loop.run_in_executor(None, read_all, client)
        data += await loop.run_in_executor(None, read_all, client)
        got = [(opcode, payload) for opcode, payload in frames(data) if opcode in (0x9, 0x1)]
        assert got[-pings - 1:] == [(0x9, b"p%d" % i) for i in range(1, pings + 1)] + [(0x1, b'{"n":1}')]
    finally:
        client.close()
        server.stop()


async def test_nothing_is_written_after_the_close_frame():
    server, handler, client = await live_socket()
    loop = asyncio.get_running_loop()
    try:
        handler.close(1001, "server shutting down")
        assert handler.direct is None
        handler.push(text_frame(b'{"n":1}'))
        data = await loop.run_in_executor(None, read_all, client)
        assert [opcode for opcode, _ in frames(data)][-1] == 0x8
        assert b'{"n":1}' not in data
    finally:
        client.close()
        server.stop()
