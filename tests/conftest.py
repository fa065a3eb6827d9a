import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gavel_server import Api, GavelServer  # noqa: E402
from mongo_fixture import embedded_mongo  # noqa: E402


@pytest.fixture(scope="session")
def mongo_base_url():
    """`mongodb://127.0.0.1:PORT` of the session's nx-27017; add a database name."""
    with embedded_mongo() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def server_factory(mongo_base_url, tmp_path_factory):
    """Start Gavel servers that share the session's store, each with its own
    database unless told otherwise (or on another store: `mongodb_url`); all
    are stopped at the end. Nodes of one database share its ADMIN_TOKEN, as a
    cluster's nodes must."""
    started, tokens = [], {}

    def start(name: str = "", database: str = "", mongodb_url: str = "", **kw) -> GavelServer:
        name = name or f"s{len(started)}"
        database = database or f"gavel_{name}_{len(started)}"
        url = mongodb_url or f"{mongo_base_url}/{database}"
        kw.setdefault("ADMIN_TOKEN", tokens.setdefault(url, secrets.token_urlsafe(24)))
        server = GavelServer(tmp_path_factory.mktemp(name), url, **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(server_factory, request):
    """One server per test module."""
    return server_factory(request.module.__name__.rsplit(".", 1)[-1].replace("test_", ""))


@pytest.fixture
def api(server):
    return Api(server.url)


@pytest.fixture
def admin(server):
    return Api(server.url, server.admin_token)
