"""How `/ws` writes to one socket, in-process so its state can be looked at:
frames go straight to the socket only while nothing waits in the stream
(Tornado's own pongs and close frames included), and never interleave."""
import asyncio
import socket
from contextlib import asynccontextmanager
from types import SimpleNamespace

import orjson
import pytest
import tornado.web

from domain.ratelimit import Limiter
from handlers.messages import text_frame
from handlers.ws import LiveSocket
from helpers import raw_client, server_frames
from server.hub import Hub
from server.settings import Settings

pytestmark = pytest.mark.gen_test(timeout=20)


@asynccontextmanager
async def live_socket():
    """A Tornado app serving only `/ws` on a free port, and a raw client on it
    that reads nothing until told: yields (handler, client)."""
    ctx = SimpleNamespace(settings=Settings(), sockets=set(), hub=Hub("n1"), connects=Limiter(100, 100))
    app = tornado.web.Application([(r"/ws", LiveSocket, {"ctx": ctx})])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = app.listen(port, address="127.0.0.1")
    client = await asyncio.get_running_loop().run_in_executor(None, raw_client, port)
    try:
        while not ctx.sockets:
            await asyncio.sleep(0.01)
        handler = next(iter(ctx.sockets))
        handler.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # full after a few frames
        yield handler, client
    finally:
        client.close()
        server.stop()


def read_available(client: socket.socket) -> bytes:
    client.settimeout(0.2)
    got = b""
    try:
        while chunk := client.recv(1 << 16):
            got += chunk
    except TimeoutError:
        pass
    return got


async def read_all(handler, client: socket.socket) -> bytes:
    """Everything the server has written or queued for the client so far."""
    loop = asyncio.get_running_loop()
    data = await loop.run_in_executor(None, read_available, client)
    while handler.stream.writing():
        data += await loop.run_in_executor(None, read_available, client)
    return data + await loop.run_in_executor(None, read_available, client)


async def test_frames_go_straight_to_the_socket_only_while_nothing_is_queued_in_the_stream():
    async with live_socket() as (handler, client):
        assert handler.direct is handler.sock
        sent = 0
        while handler.direct is not None:  # the client reads nothing: the kernel's buffers fill, then the stream's
            sent += 1
            handler.push(text_frame(b'{"n":%d}' % sent))
            assert handler.direct is None or not handler.stream.writing()
        data = await read_all(handler, client)
        handler.push(text_frame(b'{"n":%d}' % (sent + 1)))  # drained: straight to the socket again
        assert handler.direct is handler.sock
        data += await read_all(handler, client)
        assert [orjson.loads(payload)["n"] for _, payload in server_frames(data)] == list(range(1, sent + 2))


async def test_tornados_own_writes_that_queue_stop_direct_writes_until_the_stream_drains():
    async with live_socket() as (handler, client):
        pings = 0
        while not handler.stream.writing():  # only Tornado writes here: its pings, not our push
            pings += 1
            handler.ping(b"p%d" % pings)
        assert handler.direct is None  # a frame written to the socket now would overtake the queued ping
        handler.push(text_frame(b'{"n":1}'))
        data = await read_all(handler, client)
        assert server_frames(data) == [(0x9, b"p%d" % i) for i in range(1, pings + 1)] + [(0x1, b'{"n":1}')]


async def test_nothing_is_written_after_the_close_frame():
    async with live_socket() as (handler, client):
        handler.close(1001, "server shutting down")
        assert handler.direct is None
        handler.push(text_frame(b'{"n":1}'))
        data = await read_all(handler, client)
        assert [opcode for opcode, _ in server_frames(data)][-1] == 0x8
        assert b'{"n":1}' not in data
