"""Live bidding over the WebSocket and HTTP: the rules, the fan-out, and
what a bidder sees when things go wrong."""
import asyncio

import pytest

from gavel_server import Socket
from helpers import bidder, live_lot, next_phone, of_type, wait_for, watching

pytestmark = pytest.mark.gen_test(timeout=60)


async def test_bid_is_acknowledged_fanned_out_and_the_previous_leader_is_outbid(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token_a, user_a = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    a, snap = await watching(server, lot["id"], token_a)
    assert snap["lot"]["next_min"] == 10000 and snap["lot"]["seq"] == 0 and snap["bids"] == []
    b, _ = await watching(server, lot["id"], token_b)
    watcher, _ = await watching(server, lot["id"])

    await a.send({"op": "bid", "lot": lot["id"], "price": 10000, "id": "a-1"})
    ack = await a.until(of_type("ack"))
    assert ack == {"type": "ack", "id": "a-1", "lot": lot["id"], "seq": 1, "price": 10000}
    seen = await watcher.until(of_type("bid"))
    assert seen["seq"] == 1 and seen["price"] == 10000 and seen["next_min"] == 11000
    assert seen["bidder"].endswith("*") and "server_time" in seen and seen["end_at"].endswith("Z")

    await b.send({"op": "bid", "lot": lot["id"], "price": 11000, "id": "b-1"})
    assert (await b.until(of_type("ack")))["seq"] == 2
    outbid = await a.until(of_type("outbid"))
    assert outbid["lot"] == lot["id"] and outbid["price"] == 11000
    assert [f["seq"] for f in [await watcher.until(of_type("bid"))]] == [2]

    status, history = await api.get(f"/api/lots/{lot['id']}/bids")
    assert [(b["seq"], b["price"]) for b in history["items"]] == [(2, 11000), (1, 10000)]
    status, seen_lot = await api.get(f"/api/lots/{lot['id']}")
    assert seen_lot["price"] == 11000 and seen_lot["next_min"] == 12000 and seen_lot["bid_count"] == 2
    await wait_for(lambda: api.get(f"/api/auctions/{auction['id']}"), lambda r: r[1]["bid_count"] == 2, timeout=3)
    for s in (a, b, watcher):
        s.close()


async def test_a_deposit_covers_its_lot_or_its_session_and_nothing_else_however_much_was_bid(admin, api, server):
    auction, (lot1, lot2) = await live_lot(admin, lots=2)
    other, (elsewhere,) = await live_lot(admin)
    lot_only, _ = await bidder(api, auction["id"], lot1["id"])
    whole_session, _ = await bidder(api, auction["id"])

    async def bid(token, lot, price):
        status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=token)
        return status, body.get("error", {}).get("code")
    assert await bid(lot_only, lot1, 10000) == (201, None)
    assert await bid(lot_only, lot2, 10000) == (403, "deposit_required")
    assert await bid(whole_session, lot1, 11000) == (201, None)
    assert await bid(whole_session, lot2, 10000) == (201, None)
    assert await bid(whole_session, elsewhere, 10000) == (403, "deposit_required")
    assert await bid(lot_only, lot2, 11000) == (403, "deposit_required")


async def test_bids_that_break_a_rule_get_the_right_error_and_change_nothing(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    sock, _ = await watching(server, lot["id"], token)
    await sock.send({"op": "bid", "lot": lot["id"], "price": 9000, "id": "low"})
    error = await sock.until(of_type("error"))
    assert error["code"] == "bid_too_low" and error["id"] == "low" and error["next_min"] == 10000
    await sock.send({"op": "bid", "lot": lot["id"], "price": 10000, "id": "ok"})
    await sock.until(of_type("ack"))
    await sock.send({"op": "bid", "lot": lot["id"], "price": 20000, "id": "self"})
    assert (await sock.until(of_type("error")))["code"] == "already_leading"

    no_deposit, _ = await api.login(next_phone())
    other = await Socket.open(server.ws_url, no_deposit)
    await other.send({"op": "bid", "lot": lot["id"], "price": 50000, "id": "x"})
    assert (await other.until(of_type("error")))["code"] == "deposit_required"
    anonymous = await Socket.open(server.ws_url)
    await anonymous.send({"op": "bid", "lot": lot["id"], "price": 50000, "id": "y"})
    assert (await anonymous.until(of_type("error")))["code"] == "unauthorized"
    status, seen = await api.get(f"/api/lots/{lot['id']}")
    assert seen["price"] == 10000 and seen["seq"] == 1
    for s in (sock, other, anonymous):
        s.close()


async def test_bids_on_a_lot_that_is_not_live_are_refused(admin, api):
    from helpers import create_session
    auction, (lot,) = await create_session(admin)
    token, _ = await bidder(api, auction["id"])
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token)
    assert status == 409 and body["error"]["code"] == "lot_not_live"


async def test_after_the_close_the_lots_state_decides_before_the_bidders_deposit(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=1)
    loser, _ = await bidder(api, auction["id"], lot["id"])
    winner, _ = await bidder(api, auction["id"], lot["id"])
    stranger, _ = await api.login(next_phone())
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=loser))[0] == 201
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 11000}, token=winner))[0] == 201
    await wait_for(lambda: api.get("/api/deposits", token=loser), lambda r: r[1]["items"][0]["state"] == "refunded")
    for token in (loser, stranger):  # a refunded deposit, and none at all
        status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 20000}, token=token)
        assert (status, body["error"]["code"]) == (409, "lot_not_live")
        sock = await Socket.open(server.ws_url, token)
        await sock.send({"op": "bid", "lot": lot["id"], "price": 20000, "id": "late"})
        assert (await sock.until(of_type("error")))["code"] == "lot_not_live"
        sock.close()


async def test_http_bidding_follows_the_same_rules_and_fans_out(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    watcher, _ = await watching(server, lot["id"])
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000, "client_id": "h-1"}, token=token)
    assert status == 201 and body["bid"]["seq"] == 1 and body["bid"]["price"] == 10000
    assert (await watcher.until(of_type("bid")))["seq"] == 1
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10500}, token=token)
    assert status == 409 and body["error"]["code"] == "already_leading"
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10.5}, token=token)
    assert status == 400 and body["error"]["code"] == "invalid_request"
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token="")
    assert status == 401
    status, body = await api.post("/api/lots/ffff/bids", {"price": 10000}, token=token)
    assert status == 404
    watcher.close()


async def test_the_same_client_id_makes_one_bid_also_after_a_reconnect(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    token, _ = await bidder(api, auction["id"])
    sock, _ = await watching(server, lot["id"], token)
    for _ in range(2):
        await sock.send({"op": "bid", "lot": lot["id"], "price": 10000, "id": "same"})
    first, second = await sock.until(of_type("ack")), await sock.until(of_type("ack"))
    assert first == second and first["seq"] == 1
    sock.close()
    again, _ = await watching(server, lot["id"], token)
    await again.send({"op": "bid", "lot": lot["id"], "price": 10000, "id": "same"})
    assert (await again.until(of_type("ack")))["seq"] == 1
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000, "client_id": "same"}, token=token)
    assert status == 201 and body["bid"]["seq"] == 1
    status, history = await api.get(f"/api/lots/{lot['id']}/bids")
    assert len(history["items"]) == 1
    again.close()


async def test_fifty_bidders_racing_at_each_price_level_for_twenty_rounds(admin, api, server):
    auction, (lot,) = await live_lot(admin)
    bidders = [await bidder(api, auction["id"]) for _ in range(50)]
    sockets = []
    for token, _ in bidders:
        sock, _ = await watching(server, lot["id"], token)
        sockets.append(sock)
    watchers = [(await watching(server, lot["id"]))[0] for _ in range(3)]
    acked = []
    price = 10000
    for round_ in range(20):
        for i, sock in enumerate(sockets):
            await sock.send({"op": "bid", "lot": lot["id"], "price": price, "id": f"r{round_}-{i}"})
        answers = [await sock.until(lambda f: f["type"] in ("ack", "error") and f.get("id") == f"r{round_}-{i}")
                   for i, sock in enumerate(sockets)]
        wins = [a for a in answers if a["type"] == "ack"]
        assert len(wins) == 1, answers
        assert {a["code"] for a in answers if a["type"] == "error"} <= {"bid_too_low", "already_leading", "rate_limited"}
        acked.append(wins[0])
        price += 1000
        await asyncio.sleep(0.25)  # stay under the per-socket bid rate
    assert [a["seq"] for a in acked] == list(range(1, 21))
    assert [a["price"] for a in acked] == sorted(a["price"] for a in acked)
    sequences = []
    for w in watchers:
        sequences.append([(f["seq"], f["price"]) for f in [await w.until(of_type("bid")) for _ in range(20)]])
    assert sequences[0] == [(a["seq"], a["price"]) for a in acked]
    assert all(s == sequences[0] for s in sequences)
    status, history = await admin.get(f"/api/admin/lots/{lot['id']}/bids?limit=100")
    assert [(b["seq"], b["price"]) for b in reversed(history["items"])] == sequences[0]
    for s in sockets + watchers:
        s.close()


async def test_bidders_are_shown_by_a_paddle_number_kept_for_the_session_never_a_phone(admin, api, server):
    auction, (lot1, lot2) = await live_lot(admin, lots=2, deposit=20000)
    token_a, user_a = await bidder(api, auction["id"], lot1["id"])  # a lot deposit first…
    token_b, user_b = await bidder(api, auction["id"])
    status, body = await api.post("/api/deposits", {"auction_id": auction["id"], "lot_id": None, "pay_type": "balance"},
                                  token=token_a)  # …then a session deposit: the same paddle
    assert status == 201 and body["deposit"]["paddle"] == 1
    watcher, _ = await watching(server, lot2["id"])
    for token, lot, price in ((token_a, lot1, 10000), (token_b, lot1, 11000), (token_a, lot2, 10000)):
        assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=token))[0] == 201
    status, history = await api.get(f"/api/lots/{lot1['id']}/bids")
    assert [(b["paddle"], b["bidder"]) for b in history["items"]] == [(2, "2号 用*"), (1, "1号 用*")]
    seen = await watcher.until(of_type("bid"))
    assert (seen["paddle"], seen["bidder"]) == (1, "1号 用*")
    assert all(user_a["phone"][-4:] not in b["bidder"] and user_b["phone"][-4:] not in b["bidder"]
               for b in history["items"])
    status, shown = await api.get(f"/api/lots/{lot1['id']}")
    assert shown["leader"] == "2号 用*"
    watcher.close()


async def test_a_bid_may_not_jump_beyond_what_the_session_allows(admin, api, server):
    auction, (lot,) = await live_lot(admin)  # start 10,000, high estimate 50,000: at most 500,000 now
    token, _ = await bidder(api, auction["id"])
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10**12}, token=token)
    assert (status, body["error"]["code"]) == (422, "invalid_request")  # beyond any money the server keeps
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10**9}, token=token)
    assert (status, body["error"]["code"], body["error"]["max_price"]) == (409, "bid_too_high", 500000)
    sock, _ = await watching(server, lot["id"], token)
    await sock.send({"op": "proxy", "lot": lot["id"], "max_price": 500001, "id": "p"})
    assert (await sock.until(of_type("error")))["code"] == "bid_too_high"
    assert (await api.get(f"/api/lots/{lot['id']}"))[1]["seq"] == 0  # nothing changed
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 500000}, token=token))[0] == 201
    capped, (small,) = await live_lot(admin, max_jump=20000)
    other, _ = await bidder(api, capped["id"])
    status, body = await api.post(f"/api/lots/{small['id']}/bids", {"price": 30001}, token=other)
    assert (status, body["error"]["code"], body["error"]["max_price"]) == (409, "bid_too_high", 30000)
    assert (await api.post(f"/api/lots/{small['id']}/bids", {"price": 30000}, token=other))[0] == 201
    sock.close()


async def test_the_reserve_is_secret_bidders_see_only_whether_it_is_met(admin, api, server):
    auction, (lot,) = await live_lot(admin, lot_extra={"reserve_price": 15000})
    token_a, _ = await bidder(api, auction["id"])
    token_b, _ = await bidder(api, auction["id"])
    status, seen = await api.get(f"/api/lots/{lot['id']}")
    assert "reserve_price" not in seen and seen["reserve_met"] is False
    assert "reserve_price" not in (await api.get(f"/api/auctions/{auction['id']}"))[1]["lots"][0]
    watcher, snap = await watching(server, lot["id"])
    assert "reserve_price" not in snap["lot"] and snap["lot"]["reserve_met"] is False
    status, body = await api.post(f"/api/lots/{lot['id']}/bids", {"price": 10000}, token=token_a)
    assert "reserve_price" not in body["lot"] and body["lot"]["reserve_met"] is False
    assert (await watcher.until(of_type("bid")))["reserve_met"] is False
    await api.post(f"/api/lots/{lot['id']}/bids", {"price": 15000}, token=token_b)
    assert (await watcher.until(of_type("bid")))["reserve_met"] is True
    status, for_operator = await admin.get(f"/api/admin/lots/{lot['id']}")
    assert for_operator["reserve_price"] == 15000 and for_operator["reserve_met"] is True
    watcher.close()
