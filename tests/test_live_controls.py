"""Anti-sniping, proxy bids, operator pause/resume/undo, and resuming a
watch with `since`."""
import asyncio
import time

import pytest

from gavel_server import Socket
from helpers import bidder, database, live_lot, ms, of_type, wait_for, watching

pytestmark = pytest.mark.gen_test(timeout=60)


async def test_a_bid_inside_the_window_extends_the_lot_and_its_close(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=2.5, extend_window_s=2, extend_by_s=3)
    token, _ = await bidder(api, auction["id"])
    await asyncio.sleep(max(0, ms(lot["end_at"]) / 1000 - time.time() - 1.2))  # inside the 2 s window
    sock, _ = await watching(server, lot["id"], token)
    bid_at = time.time()
    await sock.send({"op": "bid", "lot": lot["id"], "price": 10000, "id": "late"})
    frames = [await sock.recv(), await sock.recv()]  # the bid event and the ack, in either order
    assert sorted(f["type"] for f in frames) == ["ack", "bid"], frames
    event = next(f for f in frames if f["type"] == "bid")
    assert abs(ms(event["end_at"]) / 1000 - (bid_at + 3)) < 0.5
    assert ms(event["end_at"]) > ms(lot["end_at"])
    status, during = await api.get(f"/api/lots/{lot['id']}")
    assert during["status"] == "live"
    await asyncio.sleep(max(0, ms(lot["end_at"]) / 1000 - time.time() + 0.3))
    assert (await api.get(f"/api/lots/{lot['id']}"))[1]["status"] == "live"  # the old end passed: still open
    closed = await sock.until(of_type("status", status="sold"), timeout=5)
    assert abs(time.time() - ms(event["end_at"]) / 1000) < 1 and closed["deal_price"] == 10000
    sock.close()


async def test_a_bid_outside_the_window_does_not_extend(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=60, extend_window_s=5, extend_by_s=10)
    token, _ = await bidder(api, auction["id"])
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token)
    assert body["lot"]["end_at"] == lot["end_at"]


async def test_a_proxy_bids_one_increment_at_a_time_for_its_owner(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token_a, _ = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    status, body = await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 15000}, token=token_a)
    assert status == 200 and body["leading"] and body["lot"]["price"] == 10000  # opens at the start price
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 12000}, token=token_b)
    assert status == 201
    current = await wait_for(lambda: api.get(f"/api/lots/{lot['id']}"), lambda r: r[1]["seq"] == 3)
    assert current[1]["price"] == 13000  # A's proxy answered with one increment
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 16000}, token=token_b)
    assert status == 201  # beyond A's maximum: B leads and nothing answers
    await asyncio.sleep(0.3)
    status, final = await api.get(f"/api/lots/{lot['id']}")
    assert final["price"] == 16000 and final["seq"] == 4


async def test_two_proxies_settle_at_the_lower_maximum_plus_one_increment(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token_a, _ = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 30000}, token=token_a)
    status, body = await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 50000}, token=token_b)
    assert status == 200
    final = await wait_for(lambda: api.get(f"/api/lots/{lot['id']}"), lambda r: r[1]["price"] == 31000)
    assert final[1]["leader"] == body["lot"]["leader"] or final[1]["price"] == 31000
    status, mine = await api.get(f"/api/lots/{lot['id']}/proxy", token=token_b)
    status, me_b = await api.get("/api/me", token=token_b)
    status, history = await api.get(f"/api/lots/{lot['id']}/bids")
    assert history["items"][0]["price"] == 31000


async def test_equal_maxima_the_earlier_proxy_leads(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token_a, user_a = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 30000}, token=token_a)
    await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 30000}, token=token_b)
    final = await wait_for(lambda: api.get(f"/api/lots/{lot['id']}"), lambda r: r[1]["price"] == 30000)
    status, history = await admin.get(f"/api/admin/lots/{lot['id']}/bids")
    assert history["items"][0]["user_id"] == user_a["id"] and history["items"][0]["price"] == 30000
    assert final[1]["price"] == 30000


async def test_pause_refuses_bids_and_resume_moves_the_close_by_the_paused_time(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=60)
    token, _ = await bidder(api, auction["id"])
    watcher, _ = await watching(server, lot["id"])
    status, paused = await admin.post(f"/api/admin/lots/{lot['id']}/pause")
    assert status == 200 and paused["status"] == "paused"
    assert (await watcher.until(of_type("status")))["status"] == "paused"
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token)
    assert status == 409 and body["error"]["code"] == "lot_not_live"
    await asyncio.sleep(1)
    status, resumed = await admin.post(f"/api/admin/lots/{lot['id']}/resume")
    assert status == 200 and resumed["status"] == "live"
    assert 900 <= ms(resumed["end_at"]) - ms(lot["end_at"]) < 2000
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token))[0] == 201
    status, bidder_view = await api.post(f"/api/admin/lots/{lot['id']}/pause", token=token)
    assert status == 403
    status, trail = await admin.get(f"/api/admin/audit?target={lot['id']}")
    assert [(e["action"], e["actor"]) for e in trail["items"] if e["action"] in ("paused", "resumed")] == [
        ("paused", "operator"), ("resumed", "operator")]
    watcher.close()


async def test_undo_puts_the_previous_bid_back_in_the_lead_and_tells_everyone(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token_a, _ = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token_a)
    b_socket, _ = await watching(server, lot["id"], token_b)
    watcher, _ = await watching(server, lot["id"])
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 11000}, token=token_b)
    assert (await watcher.until(of_type("bid")))["seq"] == 2
    status, undone = await admin.post(f"/api/admin/lots/{lot['id']}/undo")
    assert status == 200 and undone["price"] == 10000 and undone["seq"] == 3 and undone["next_min"] == 11000
    correction = await watcher.until(of_type("bid"))
    assert correction["seq"] == 3 and correction["correction"] is True and correction["voided_seq"] == 2
    assert correction["price"] == 10000
    told = await b_socket.until(of_type("bid_undone"))
    assert told["seq"] == 2 and told["price"] == 11000
    status, history = await api.get(f"/api/lots/{lot['id']}/bids")  # as bidders read it: the withdrawn bid, no correction row
    assert [(b["seq"], b["price"], b["status"], b["status_text"]) for b in history["items"]] == [
        (2, 11000, "void", "已撤销"), (1, 10000, "bidding", "竞价")]
    status, full = await admin.get(f"/api/admin/lots/{lot['id']}/bids")
    assert [(b["seq"], b["kind"], b["status"]) for b in full["items"]] == [(3, "undo", "void"), (2, "bid", "void"),
                                                                          (1, "bid", "bidding")]
    again, snap = await watching(server, lot["id"])
    assert [(b["seq"], b["status"]) for b in snap["bids"]] == [(2, "void"), (1, "bidding")]
    again.close()
    # B may bid again, and A is the leader
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10500}, token=token_a))[1]["error"]["code"] == "already_leading"
    watcher.close()
    b_socket.close()


async def test_resubscribing_with_since_replays_the_missed_bids(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    watcher, _ = await watching(server, lot["id"])
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token)
    assert (await watcher.until(of_type("bid")))["seq"] == 1
    watcher.close()
    for price, who in ((11000, token_b), (12000, token), (13000, token_b)):
        await api.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=who)
    back = await Socket.open(server.ws_url)
    await back.send({"op": "subscribe", "lot": lot["id"], "since": 1})
    frames = [await back.recv() for _ in range(3)]
    assert [(f["type"], f["seq"]) for f in frames] == [("bid", 2), ("bid", 3), ("bid", 4)]
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 14000}, token=token)
    assert (await back.until(of_type("bid")))["seq"] == 5
    far = await Socket.open(server.ws_url)
    await far.send({"op": "subscribe", "lot": lot["id"], "since": 999})
    snap = await far.until(lambda f: f["type"] in ("snapshot", "bid"))
    assert snap["type"] == "snapshot" and snap["lot"]["seq"] == 5
    back.close()
    far.close()


async def test_extensions_stop_at_the_sessions_cap(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=2, extend_window_s=2, extend_by_s=10, max_extend_s=1)
    token, _ = await bidder(api, auction["id"])
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token)
    assert status == 201
    assert ms(body["lot"]["end_at"]) == ms(auction["auction_end"]) + 1000  # not bid time + 10 s


async def test_a_proxy_counted_but_never_stored_costs_nothing(admin, api, server):
    """A proxy is counted on the lot before it is stored; a crash between the
    two leaves the count too high: bids go on, a later proxy still answers."""
    auction, (lot,) = await live_lot(admin)
    token_a, _ = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    async with database(server.env["MONGODB_URL"]) as db:
        await db.lots.update_one({"_id": lot["id"]}, {"$inc": {"proxy_count": 1}})
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token_b))[0] == 201
    await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 15000}, token=token_a)
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 12000}, token=token_b))[0] == 201
    current = await wait_for(lambda: api.get(f"/api/lots/{lot['id']}"), lambda r: r[1]["price"] == 13000)
    assert current[1]["seq"] == 4  # B, A's proxy, B, A's proxy again


async def test_the_higher_maximum_leads_at_its_cap_whichever_was_set_first(admin, api, server):
    """Issue 15's first case: 20,000 left over HTTP, then 19,500 over /ws: the first leads at 20,000."""
    auction, (lot,) = await live_lot(admin)
    token_a, user_a = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    watcher, _ = await watching(server, lot["id"])
    assert (await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 20000}, token=token_a))[0] == 200
    sock_b, _ = await watching(server, lot["id"], token_b)
    await sock_b.send({"op": "proxy", "lot": lot["id"], "max_price": 19500, "id": "p-1"})
    told = {}
    while len(told) < 2:  # the proxies answer before the ack: the outbid may come first
        frame = await sock_b.until(lambda f: f["type"] in ("ack", "outbid"))
        told[frame["type"]] = frame
    assert told["ack"]["max_price"] == 19500 and told["outbid"]["price"] == 20000
    seen = [(f["seq"], f["price"]) for f in [await watcher.until(of_type("bid")) for _ in range(3)]]
    assert seen == [(1, 10000), (2, 19500), (3, 20000)]
    status, history = await admin.get(f"/api/admin/lots/{lot['id']}/bids")
    assert (history["items"][0]["user_id"], history["items"][0]["price"]) == (user_a["id"], 20000)
    for sock in (watcher, sock_b):
        sock.close()


async def test_a_manual_bid_just_under_a_proxys_maximum_is_answered_at_that_maximum(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token_a, user_a = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    await api.put(f"/api/lots/{lot['id']}/proxy", {"max_price": 20000}, token=token_a)
    sock_b, _ = await watching(server, lot["id"], token_b)
    await sock_b.send({"op": "bid", "lot": lot["id"], "price": 19500, "id": "m-1"})
    assert (await sock_b.until(of_type("ack", id="m-1")))["price"] == 19500
    assert (await sock_b.until(of_type("outbid")))["price"] == 20000
    status, seen = await api.get(f"/api/lots/{lot['id']}")
    assert seen["price"] == 20000 and seen["next_min"] == 21000
    # A later manual bid equal to the maximum loses to the earlier proxy too.
    token_c, _ = await bidder(api, auction["id"])
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 21000}, token=token_c)
    assert status == 201
    await wait_for(lambda: api.get(f"/api/lots/{lot['id']}"), lambda r: r[1]["seq"] == 4)
    sock_b.close()


async def test_resuming_after_a_pause_made_while_away_brings_a_snapshot_with_the_pause(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    watcher, _ = await watching(server, lot["id"])
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token)
    assert (await watcher.until(of_type("bid")))["seq"] == 1
    watcher.close()
    assert (await admin.post(f"/api/admin/lots/{lot['id']}/pause"))[0] == 200  # while the client is away
    back = await Socket.open(server.ws_url)
    await back.send({"op": "subscribe", "lot": lot["id"], "since": 1})
    first = await back.until(lambda f: f["type"] in ("snapshot", "bid", "status"))
    assert first["type"] == "snapshot" and first["lot"]["status"] == "paused"
    back.close()
