"""Operations: `/metrics` counts what happens, `/api/openapi.json` describes
the API from the code itself."""
import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from gavel_server import Socket
from handlers.base import BaseHandler
from handlers.openapi import path_template
from helpers import bidder, live_lot, wait_for

gen_test = pytest.mark.gen_test(timeout=60)


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(s.value for s in samples(text) if s.name == name and labels.items() <= s.labels.items())


async def scrape(api) -> str:
    status, text = await api.get("/metrics", token="")
    assert status == 200 and isinstance(text, str), text
    return text


@gen_test
async def test_metrics_count_http_requests_by_route_method_and_status(api):
    before = value(await scrape(api), "gavel_http_requests_total", route="/api/auctions", method="GET", status="200")
    for _ in range(3):
        assert (await api.get("/api/auctions"))[0] == 200
    assert (await api.get("/api/lots/ffff"))[0] == 404
    assert (await api.get("/api/no-such-route"))[0] == 404

    text = await scrape(api)
    assert value(text, "gavel_http_requests_total", route="/api/auctions", method="GET", status="200") == before + 3
    assert value(text, "gavel_http_requests_total", route="/api/lots/{id}", status="404") >= 1
    assert value(text, "gavel_http_requests_total", route="(unmatched)", status="404") >= 1
    assert value(text, "gavel_http_request_duration_seconds_count", route="/api/auctions", method="GET") >= 3
    assert value(text, "process_cpu_seconds_total") > 0
    assert any(s.name == "python_info" for s in samples(text))


@gen_test
async def test_the_websocket_gauge_follows_open_sockets(api, server):
    before = value(await scrape(api), "gavel_websocket_connections")
    sock = await Socket.open(server.ws_url)
    await wait_for(lambda: scrape(api), lambda t: value(t, "gavel_websocket_connections") == before + 1)
    sock.close()
    await wait_for(lambda: scrape(api), lambda t: value(t, "gavel_websocket_connections") == before)


@gen_test
async def test_bids_are_counted_accepted_and_refused_with_their_latency(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    watcher = await Socket.open(server.ws_url)
    await watcher.send({"op": "subscribe", "lot": lot["id"]})
    await watcher.until(lambda f: f["type"] == "snapshot")
    text = await scrape(api)
    accepted = value(text, "gavel_bids_accepted_total")
    refused = value(text, "gavel_bids_refused_total", code="already_leading")
    frames = value(text, "gavel_hub_frames_pushed_total")
    assert value(text, "gavel_scheduler_jobs_pending") >= 1  # the live lot's closing timer

    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token)
    assert status == 201, body
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 11000}, token=token)
    assert status == 409 and body["error"]["code"] == "already_leading", body
    await watcher.until(lambda f: f["type"] == "bid")
    watcher.close()

    text = await scrape(api)
    assert value(text, "gavel_bids_accepted_total") == accepted + 1
    assert value(text, "gavel_bids_refused_total", code="already_leading") == refused + 1
    assert value(text, "gavel_bid_decision_seconds_count", outcome="accepted") >= 1
    assert value(text, "gavel_bid_decision_seconds_count", outcome="refused") >= 1
    assert value(text, "gavel_hub_frames_pushed_total") >= frames + 1


@gen_test
async def test_openapi_describes_the_routes_bodies_errors_and_auth(api):
    status, doc = await api.get("/api/openapi.json", token="")
    assert status == 200 and isinstance(doc, dict), doc
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    for path in ("/api/auctions", "/api/admin/auctions/{id}", "/api/lots/{id}/bids", "/metrics", "/healthz"):
        assert path in doc["paths"], path
    assert set(doc["paths"]["/api/admin/auctions/{id}"]) == {"get", "put", "delete"}
    assert doc["paths"]["/api/lots/{id}/bids"]["get"]["parameters"][0]["name"] == "id"

    create = doc["paths"]["/api/admin/auctions"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/AuctionCreate"
    schema = doc["components"]["schemas"]["AuctionCreate"]
    assert "title" in schema["required"]
    assert schema["properties"]["auction_start"] == {"format": "date-time", "title": "Auction Start", "type": "string",
                                                     "description": "ISO-8601, in the years 2000 to 2099"}
    assert create["responses"]["201"] and create["responses"]["403"]["$ref"] == "#/components/responses/E403"
    assert {"token", "bearer"} <= set(doc["components"]["securitySchemes"])
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message"]
    assert "bid_too_low" in doc["components"]["responses"]["E409"]["description"]


def test_route_patterns_become_path_templates():
    assert path_template(r"/api/lots/([0-9a-f]{1,64})/bids")[0] == "/api/lots/{id}/bids"
    path, params = path_template(r"/api/admin/lots/([0-9a-f]{1,64})/(pause|resume|undo)")
    assert path == "/api/admin/lots/{id}/{action}"
    assert params[1]["schema"]["enum"] == ["pause", "resume", "undo"]
    assert path_template(r"/api/openapi\.json")[0] == "/api/openapi.json"
    assert [p["name"] for p in path_template(r"/a/([0-9a-f]+)/b/([0-9a-f]+)")[1]] == ["id", "id2"]


def test_every_handler_that_parses_a_body_declares_its_model():
    import server.app  # noqa: F401 - imports every handler module

    todo, missing = [BaseHandler], []
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for method in ("get", "post", "put", "patch", "delete"):
            func = cls.__dict__.get(method)
            if func and "parse" in func.__code__.co_names and method not in cls.bodies:
                missing.append(f"{cls.__name__}.{method}")
    assert not missing, f"add `bodies = {{method: Model}}` to: {missing}"
