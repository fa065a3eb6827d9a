"""Issue 16: with the defaults (no MONGODB_URL, so the embedded store and
the SMS sandbox), the server keeps to loopback and says so; serving sandbox
codes on another address takes an explicit SMS_SANDBOX=1, and a real store
sends codes rather than showing them."""
import socket

import pytest

from gavel_server import Api, GavelServer
from helpers import next_phone

pytestmark = pytest.mark.gen_test(timeout=60)

DEFAULTS = {"MONGODB_URL": "", "SMS_SANDBOX": "", "REDIS_URL": ""}  # as `make run` starts it


def reachable(host: str, port: int) -> bool:
    """127.0.0.2 is loopback too, but not the address 127.0.0.1 alone binds."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def started(tmp_path):
    servers = []

    def start(**env) -> GavelServer:
        server = GavelServer(tmp_path / f"s{len(servers)}", **{**DEFAULTS, **env})
        servers.append(server)
        return server.start(timeout=40)

    yield start
    for server in servers:
        server.stop()


async def test_the_default_sandbox_listens_on_loopback_only_and_says_so(started):
    server = started()
    assert reachable("127.0.0.1", server.port) and not reachable("127.0.0.2", server.port)
    assert "SMS sandbox on (no MONGODB_URL)" in server.log_text() and "loopback only" in server.log_text()
    status, sent = await Api(server.url).post("/api/auth/code", {"phone": next_phone()})
    assert status == 200 and "dev_code" in sent


async def test_the_default_sandbox_refuses_to_start_on_a_public_address(started):
    with pytest.raises(RuntimeError, match="SMS_SANDBOX=1") as failed:
        started(HOST="0.0.0.0")
    assert "exited with 1" in str(failed.value)


async def test_an_explicit_sandbox_may_listen_anywhere_and_warns(started):
    server = started(SMS_SANDBOX="1", HOST="0.0.0.0")
    assert reachable("127.0.0.2", server.port)
    assert "anyone who can reach this server can log in as any phone" in server.log_text()


async def test_a_real_store_sends_codes_and_shows_none(server_factory):
    server = server_factory("no-sandbox", SMS_SANDBOX="")
    status, sent = await Api(server.url).post("/api/auth/code", {"phone": next_phone()})
    assert status == 200 and sent == {"sent": True}
    assert "SMS sandbox" not in server.log_text()
