"""A node whose store is gone answers every bid and read with a clear
`unavailable` (503) at once, acknowledges nothing, and says why on /healthz."""
import os
import signal
import time

import pytest

from gavel_server import Api, Socket
from helpers import bidder, live_lot, of_type
from server.embedded_store import EmbeddedStore

pytestmark = pytest.mark.gen_test(timeout=60)


async def test_bids_and_reads_answer_unavailable_quickly_once_the_store_is_gone(server_factory, tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    url = await store.start()
    try:
        server = server_factory("orphaned", mongodb_url=url)
        admin, api = Api(server.url, server.admin_token), Api(server.url)
        auction, (lot,) = await live_lot(admin)
        token, _ = await bidder(api, auction["id"])
        sock = await Socket.open(server.ws_url, token)
        await sock.until(of_type("auth"))
        os.kill(store.pid, signal.SIGKILL)

        answers = []
        for price in (10000, 11000, 12000):
            started = time.monotonic()
            status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=token)
            answers.append((status, body["error"]["code"], time.monotonic() - started))
        assert all(status == 503 and code == "unavailable" for status, code, _ in answers), answers
        assert max(seconds for *_, seconds in answers) < 1.5, answers
        for path in (f"/api/lots/{lot['id']}", "/api/auctions", "/api/me"):
            status, body = await api.get(path, token=token)
            assert (status, body["error"]["code"]) == (503, "unavailable"), path
        await sock.send({"op": "bid", "lot": lot["id"], "price": 10000, "id": "b"})
        refused = await sock.until(lambda f: f["type"] in ("error", "ack"))
        assert (refused["type"], refused["code"]) == ("error", "unavailable")
        status, health = await api.get("/healthz")
        assert status == 503 and health["mongodb"].startswith("down: no writable MongoDB server")
        sock.close()
    finally:
        await store.stop()
