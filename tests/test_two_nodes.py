"""Two real server processes sharing Redis and one store: what happens on
one node reaches the watchers of the other."""
import time

import pytest

from gavel_server import Api
from helpers import bidder, live_lot, of_type, wait_for, watching

pytestmark = pytest.mark.gen_test(timeout=60)


@pytest.fixture(scope="module")
def nodes(server_factory):
    first = server_factory("node-1", database="gavel_cluster", prefix=f"cluster-{time.time_ns()}:")
    second = server_factory("node-2", database="gavel_cluster", prefix=first.env["REDIS_PREFIX"])
    return first, second


async def test_a_bid_on_node_a_reaches_a_watcher_on_node_b_within_50_ms(nodes):
    a, b = nodes
    admin, api = Api(a.url, a.admin_token), Api(a.url)
    auction, (lot,) = await live_lot(admin)
    sockets = [(await watching(a, lot["id"], (await bidder(api, auction["id"]))[0]))[0] for _ in range(2)]
    watcher, _ = await watching(b, lot["id"])
    delays = []
    for i in range(10):
        sent = time.monotonic()
        await sockets[i % 2].send({"op": "bid", "lot": lot["id"], "price": 10000 + i * 1000, "id": f"n{i}"})
        event = await watcher.until(of_type("bid"))
        delays.append(time.monotonic() - sent)
        assert (event["seq"], event["price"]) == (i + 1, 10000 + i * 1000)
    assert sorted(delays)[-2] < 0.05, delays  # nine of ten well within; one may meet a GC pause
    for s in sockets + [watcher]:
        s.close()


async def test_outbid_reaches_the_previous_leader_on_the_other_node(nodes):
    a, b = nodes
    admin, api_a, api_b = Api(a.url, a.admin_token), Api(a.url), Api(b.url)
    auction, (lot,) = await live_lot(admin)
    token_1, _ = await bidder(api_a, auction["id"])
    token_2, _ = await bidder(api_a, auction["id"])
    leader_on_b, _ = await watching(b, lot["id"], token_1)
    assert (await api_b.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token_1))[0] == 201
    assert (await api_a.post(f"/api/lots/{lot['id']}/bids", {"price": 11000}, token=token_2))[0] == 201
    outbid = await leader_on_b.until(of_type("outbid"))
    assert outbid["price"] == 11000
    leader_on_b.close()


async def test_watcher_counts_add_up_across_nodes(nodes):
    a, b = nodes
    admin = Api(a.url, a.admin_token)
    auction, (lot,) = await live_lot(admin)
    on_a = [(await watching(a, lot["id"]))[0] for _ in range(3)]
    on_b = [(await watching(b, lot["id"]))[0] for _ in range(2)]
    count = await on_a[0].until(lambda f: f["type"] == "watchers" and f["count"] == 5, timeout=5)
    assert count["lot"] == lot["id"]
    assert (await on_b[0].until(lambda f: f["type"] == "watchers" and f["count"] == 5, timeout=5))["count"] == 5
    on_b[1].close()
    await on_a[1].until(lambda f: f["type"] == "watchers" and f["count"] == 4, timeout=5)
    for s in on_a + on_b[:1]:
        s.close()


async def test_a_bid_sent_again_after_an_operator_undid_it_gets_its_first_answer_on_either_node(nodes):
    a, b = nodes
    admin, api_a, api_b = Api(a.url, a.admin_token), Api(a.url), Api(b.url)
    auction, (lot,) = await live_lot(admin)
    token_1, _ = await bidder(api_a, auction["id"])
    token_2, _ = await bidder(api_a, auction["id"])
    assert (await api_a.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token_1))[0] == 201
    sock, _ = await watching(a, lot["id"], token_2)
    await sock.send({"op": "bid", "lot": lot["id"], "price": 11000, "id": "c-2"})
    first = await sock.until(of_type("ack", id="c-2"))
    assert first["seq"] == 2
    assert (await admin.post(f"/api/admin/lots/{lot['id']}/undo"))[0] == 200  # seq 3: the correction

    await sock.send({"op": "bid", "lot": lot["id"], "price": 11000, "id": "c-2"})  # a reconnecting client resends
    assert await sock.until(of_type("ack", id="c-2")) == first
    status, body = await api_b.post(f"/api/lots/{lot['id']}/bids", {"price": 11000, "client_id": "c-2"}, token=token_2)
    assert status == 201 and body["bid"]["seq"] == 2 and body["bid"]["status"] == "void"
    status, seen = await api_b.get(f"/api/lots/{lot['id']}")
    assert seen["seq"] == 3 and seen["price"] == 10000
    status, fresh = await api_b.post(f"/api/lots/{lot['id']}/bids", {"price": 11000, "client_id": "c-9"}, token=token_2)
    assert status == 201 and fresh["bid"]["seq"] == 4  # a new id bids again
    sock.close()


ADDRESS = {"name": "张三", "phone": "13800138000", "province": "浙江", "city": "杭州", "county": "西湖区", "detail": "1 号"}


@pytest.mark.parametrize("won, may_bid", [((30000,), False), ((15000,), False), ((15000, 10000), True)],
                         ids=["deposit used up", "its rest refunded", "its rest kept for another order"])
async def test_after_paying_with_a_session_deposit_every_node_lets_its_holder_bid_as_far_as_what_is_left(
        nodes, won, may_bid):
    a, b = nodes
    admin, api_a, api_b = Api(a.url, a.admin_token), Api(a.url), Api(b.url)
    auction, lots = await live_lot(admin, lots=len(won) + 1, end_in=4, deposit=20000)
    *prizes, still_open = lots
    buyer, _ = await bidder(api_a, auction["id"])
    rival, _ = await bidder(api_a, auction["id"])
    # Node B learns that the buyer's session deposit covers the session: the buyer bids there, then is outbid.
    assert (await api_b.post(f"/api/lots/{still_open['id']}/bids", {"price": 10000}, token=buyer))[0] == 201
    assert (await api_a.post(f"/api/lots/{still_open['id']}/bids", {"price": 11000}, token=rival))[0] == 201
    for lot, price in zip(prizes, won):
        assert (await api_a.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=buyer))[0] == 201
    assert (await admin.post(f"/api/admin/lots/{still_open['id']}/pause"))[0] == 200  # open past the session's end
    status, orders = await wait_for(lambda: api_a.get("/api/orders?status=unpaid", token=buyer),
                                    lambda r: len(r[1]["unpaid"]["items"]) == len(won))
    first = next(o for o in orders["unpaid"]["items"] if o["price"] == won[0])
    address = (await api_a.post("/api/addresses", ADDRESS, token=buyer))[1]
    status, paid = await api_a.post(f"/api/orders/{first['id']}/pay", {"address_id": address["id"],
                                                                       "pay_type": "balance"}, token=buyer)
    assert status == 200 and paid["order"]["status"] == "to_receive", paid
    (deposit,) = (await api_a.get("/api/deposits", token=buyer))[1]["items"]
    assert (deposit["state"], deposit["remaining"]) == (
        ("held", 5000) if may_bid else ("used", 0) if won[0] >= 20000 else ("refunded", 0))
    assert (await admin.post(f"/api/admin/lots/{still_open['id']}/resume"))[0] == 200
    status, answer = await api_b.post(f"/api/lots/{still_open['id']}/bids", {"price": 12000}, token=buyer)
    if may_bid:
        assert status == 201, answer
    else:
        assert (status, answer["error"]["code"]) == (403, "deposit_required")
        status, answer = await api_a.post(f"/api/lots/{still_open['id']}/bids", {"price": 12000}, token=buyer)
        assert (status, answer["error"]["code"]) == (403, "deposit_required")
