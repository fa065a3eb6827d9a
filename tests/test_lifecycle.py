"""The server on its own: with the embedded store it starts with nothing
configured, and however it stops, it leaves no process behind."""
import os
import signal
import time

import pytest

from gavel_server import Api, GavelServer
from helpers import session_body

pytestmark = pytest.mark.gen_test(timeout=60)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def gone_soon(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_server_and_its_embedded_store_cleanly(tmp_path, sig):
    server = GavelServer(tmp_path, mongodb_url="", redis=False, SMS_SANDBOX="").start()
    try:
        status, health = await Api(server.url).get("/healthz")
        assert health["store"] == "embedded" and health["redis"].startswith("not used")
        token, _ = await Api(server.url).login("13700000001")  # the sandbox is on without MONGODB_URL
        store_pid = int((tmp_path / "mongo.pid").read_text())
        assert alive(store_pid)
    finally:
        code = server.stop(sig)
    assert code == 0, server.log_text()
    assert gone_soon(store_pid) and not (tmp_path / "mongo.pid").exists()


async def test_a_killed_server_takes_its_embedded_store_with_it_and_starts_again(tmp_path):
    server = GavelServer(tmp_path, mongodb_url="", redis=False).start()
    admin = Api(server.url, server.admin_token)
    status, auction = await admin.post("/api/admin/auctions", session_body(title="kept"))
    assert status == 201
    store_pid = int((tmp_path / "mongo.pid").read_text())
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    assert gone_soon(store_pid), "the embedded store outlived its server"
    server.start()  # same data directory: the data is still there
    try:
        assert (await admin.get(f"/api/auctions/{auction['id']}"))[1]["title"] == "kept"
    finally:
        server.stop()


async def test_the_generated_operator_token_is_kept_in_the_data_dir(tmp_path):
    server = GavelServer(tmp_path, mongodb_url="", redis=False, ADMIN_TOKEN="")
    server.env.pop("ADMIN_TOKEN")
    server.start()
    try:
        token = (tmp_path / "admin_token").read_text().strip()
        assert f"Operator token: {token}" in server.log_text()
        status, me = await Api(server.url, token).get("/api/me")
        assert status == 200 and me["role"] == "operator"
    finally:
        server.stop()
    server.start()
    try:
        assert (tmp_path / "admin_token").read_text().strip() == token
        assert (await Api(server.url, token).get("/api/me"))[0] == 200
    finally:
        server.stop()
