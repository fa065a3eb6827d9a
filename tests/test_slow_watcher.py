"""A watcher that stops reading is dropped with 1013 after a bounded buffer,
and the others go on receiving every bid at once."""
import asyncio
import socket
import struct
import time

import pytest

from gavel_server import Api
from helpers import bidder, live_lot, of_type, raw_subscriber, send_frame, watching

pytestmark = pytest.mark.gen_test(timeout=90)


def close_code(sock: socket.socket, timeout: float = 15) -> int | None:
    """Read frames until the server's close frame; its code, or None if the
    connection was cut without one."""
    sock.settimeout(timeout)
    buf = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
            while len(buf) >= 10:
                opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
                start = 2
                if n == 126:
                    n, start = struct.unpack("!H", buf[2:4])[0], 4
                elif n == 127:
                    n, start = struct.unpack("!Q", buf[2:10])[0], 10
                if len(buf) < start + n:
                    break
                if opcode == 0x8:
                    return struct.unpack("!H", buf[start:start + 2])[0]
                buf = buf[start + n:]
    except ConnectionResetError:
        return None


async def test_a_watcher_that_stops_reading_is_dropped_with_1013_and_the_others_keep_up(server_factory):
    server = server_factory("slow", WS_MAX_BUFFER=16384, BID_RATE_PER_SECOND=1000, WS_MESSAGES_PER_SECOND=100000)
    admin, api = Api(server.url, server.admin_token), Api(server.url)
    auction, (lot,) = await live_lot(admin)
    tokens = [(await bidder(api, auction["id"]))[0] for _ in range(2)]
    slow = raw_subscriber(server.port, lot["id"])
    fast, _ = await watching(server, lot["id"])
    price, late = 10000, []
    for i in range(200):
        if i == 20:
            # Snapshots of 20 bids, asked for again and again and never read: megabytes owed to one socket.
            for _ in range(3000):
                send_frame(slow, {"op": "subscribe", "lot": lot["id"]})
        sent = time.monotonic()
        status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=tokens[i % 2])
        assert status == 201, body
        frame = await fast.until(of_type("bid", seq=i + 1))
        late.append(time.monotonic() - sent)
        assert frame["price"] == price
        price += 1000
    assert sorted(late)[int(len(late) * 0.99)] < 0.25  # the stalled socket held nobody up
    code = await asyncio.get_running_loop().run_in_executor(None, close_code, slow)
    assert code == 1013
    slow.close()
    fast.close()
