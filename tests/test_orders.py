"""The close of a lot and of a session, the winner's order, its deadline and
what follows (seeds day05 §1.2–1.4), over HTTP and the WebSocket, against a
server whose winners have 3 seconds to pay."""
import time

import pytest

from gavel_server import Api, Socket
from helpers import bidder, database, live_lot, ms, next_phone, of_type, wait_for, watching

pytestmark = pytest.mark.gen_test(timeout=60)
PAY_SECONDS = 3
OFFER_SECONDS = 2


@pytest.fixture(scope="module")
def server(server_factory):
    return server_factory("orders", ORDER_PAY_SECONDS=PAY_SECONDS, OFFER_ACCEPT_SECONDS=OFFER_SECONDS)


async def bid(api, token, lot_id, price):
    status, body = await api.post(f"/api/lots/{lot_id}/bids", {"price": price}, token=token)
    assert status == 201, body
    return body["bid"]


async def ledger(api, token):
    return (await api.get("/api/wallet/ledger", token=token))[1]


async def my_deposits(api, token):
    return (await api.get("/api/deposits", token=token))[1]["items"]


async def closed(api, lot_id, statuses=("sold", "unsold")):
    return await wait_for(lambda: api.get(f"/api/lots/{lot_id}"), lambda r: r[1]["status"] in statuses)


async def unpaid_order(api, token):
    """The buyer's one unpaid order, once the close has made it."""
    status, groups = await wait_for(lambda: api.get("/api/orders", token=token), lambda r: r[1]["unpaid"]["items"])
    (order,) = groups["unpaid"]["items"]
    return order


async def balance_reaches(api, token, amount):
    """The balance once the refunds of a close are paid out (a moment after the close)."""
    return await wait_for(lambda: ledger(api, token), lambda book: book["balance"] == amount)


def adds_up(book):
    return sum(line["amount"] for line in book["items"]) == book["balance"] >= 0


async def test_seeds_scenario_loser_refunded_at_close_and_unpaid_winner_forfeits_at_the_deadline(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=2.5)
    token_a, _ = await bidder(api, auction["id"], lot["id"])
    token_b, _ = await bidder(api, auction["id"], lot["id"])
    for token in (token_a, token_b):
        assert (await ledger(api, token))["balance"] == 100000 - 5000
    # Both bid over the socket, as the mini-program does; a third person watches.
    socket_a, _ = await watching(server, lot["id"], token_a)
    socket_b, _ = await watching(server, lot["id"], token_b)
    watcher, _ = await watching(server, lot["id"])
    await socket_b.send({"op": "bid", "lot": lot["id"], "price": 10000, "id": "b1"})
    assert (await socket_b.until(of_type("ack")))["seq"] == 1
    await socket_a.send({"op": "bid", "lot": lot["id"], "price": 11000, "id": "a1"})
    won = await socket_a.until(of_type("ack"))
    assert (await socket_b.until(of_type("outbid")))["price"] == 11000
    sold_event = await watcher.until(of_type("status", status="sold"))
    assert sold_event["deal_price"] == 11000 and sold_event["status_text"] == "成交"

    status, sold = await closed(api, lot["id"])
    assert sold["status"] == "sold" and sold["deal_price"] == 11000
    book_b = await balance_reaches(api, token_b, 100000)
    assert adds_up(book_b)
    assert [(line["kind"], line["amount"]) for line in book_b["items"][:2]] == [("refund", 5000), ("deposit", -5000)]
    (deposit_b,) = await my_deposits(api, token_b)
    assert deposit_b["state"] == "refunded" and deposit_b["remaining"] == 0
    assert [(r["amount"], r["status"], r["status_text"]) for r in deposit_b["refunds"]] == [(5000, "done", "退款成功")]

    order = await unpaid_order(api, token_a)
    status, groups = await api.get("/api/orders", token=token_a)
    assert list(groups) == ["unpaid", "to_receive", "completed", "overdue"]
    assert groups["unpaid"]["text"] == "待支付" and groups["overdue"]["items"] == []
    assert order["price"] == 11000 and order["title"] == lot["title"] and order["status_text"] == "待支付"
    assert abs(ms(order["deadline"]) - ms(order["created_at"]) - PAY_SECONDS * 1000) < 5
    assert (await ledger(api, token_a))["balance"] == 95000  # A's deposit is held for the payment
    assert (await api.get("/api/orders", token=token_b))[1]["unpaid"]["items"] == []

    status, late = await wait_for(lambda: api.get(f"/api/orders/{order['id']}", token=token_a),
                                  lambda r: r[1]["status"] == "overdue", timeout=PAY_SECONDS + 3)
    assert late["status_text"] == "逾期未支付" and time.time() * 1000 >= ms(order["deadline"])
    assert (await watcher.until(of_type("status", status="overdue")))["status_text"] == "逾期未支付"
    for sock in (socket_a, socket_b, watcher):
        sock.close()
    assert (await api.get(f"/api/lots/{lot['id']}"))[1]["status"] == "overdue"
    status, bids = await api.get(f"/api/lots/{lot['id']}/bids")
    assert [(b["seq"], b["status"]) for b in bids["items"]] == [(won["seq"], "overdue"), (1, "bidding")]
    (deposit_a,) = await my_deposits(api, token_a)
    assert deposit_a["state"] == "forfeited" and deposit_a["remaining"] == 0 and deposit_a["refunds"] == []
    assert [(d["kind"], d["kind_text"], d["amount"]) for d in deposit_a["deductions"]] == [("overdue", "逾期扣款", 5000)]
    book_a = await ledger(api, token_a)
    assert book_a["balance"] == 95000 and adds_up(book_a)
    assert (await api.get("/api/orders?status=overdue", token=token_a))[1] == {
        "overdue": {"text": "逾期未支付", "items": [late]}}
    assert (await api.get(f"/api/auctions/{auction['id']}"))[1]["total_deal"] == 0  # no longer a sale

    # Beyond the seeds: the defaulter is barred from bidding, and from paying new deposits.
    other, (next_lot,) = await live_lot(admin)
    status, body = await api.post("/api/deposits", {"auction_id": other["id"], "pay_type": "balance"}, token=token_a)
    assert status == 403 and body["error"]["code"] == "forbidden" and body["error"]["banned_until"].endswith("Z")
    status, body = await api.post(f"/api/lots/{next_lot['id']}/bids", {"price": 10000}, token=token_a)
    assert status == 403 and body["error"]["code"] == "forbidden"


async def test_a_defaulter_is_barred_also_on_the_socket_they_opened_before(admin, api, server):
    """A socket reads its user once, at login: the ban must reach it anyway,
    or a defaulter holding another session's deposit could go on bidding."""
    later, (next_lot,) = await live_lot(admin)
    auction, (lot,) = await live_lot(admin, end_in=2.5)
    token_a, _ = await bidder(api, auction["id"], lot["id"])
    status, body = await api.post("/api/deposits", {"auction_id": later["id"], "lot_id": next_lot["id"],
                                                    "pay_type": "balance"}, token=token_a)
    assert status == 201, body
    socket_a, _ = await watching(server, next_lot["id"], token_a)
    await socket_a.send({"op": "bid", "lot": next_lot["id"], "price": 10000, "id": "a1"})
    assert (await socket_a.until(of_type("ack")))["seq"] == 1
    await bid(api, token_a, lot["id"], 10000)
    order = await unpaid_order(api, token_a)
    await wait_for(lambda: api.post(f"/api/lots/{next_lot['id']}/bids", {"price": 20000}, token=token_a),
                   lambda r: r[0] == 403, timeout=PAY_SECONDS + 5, every=0.2)  # overdue, and barred over HTTP
    assert (await api.get(f"/api/orders/{order['id']}", token=token_a))[1]["status"] == "overdue"

    async def bid_on_the_socket():  # A leads: the bid cannot be taken, only the reason for refusing it changes
        await socket_a.send({"op": "bid", "lot": next_lot["id"], "price": 20000, "id": "late"})
        return await socket_a.until(of_type("error", id="late"))
    refused = await wait_for(bid_on_the_socket, lambda e: e["code"] != "already_leading", timeout=2, every=0.2)
    assert refused["code"] == "forbidden"
    socket_a.close()


async def test_session_deposits_go_back_at_the_end_but_those_backing_an_order(admin, api, server):
    auction, (lot1, lot2) = await live_lot(admin, lots=2, end_in=2.5)
    token_a, user_a = await bidder(api, auction["id"])
    token_b, user_b = await bidder(api, auction["id"])
    token_c, _ = await bidder(api, auction["id"])
    assert (await ledger(api, token_c))["balance"] == 0  # a session deposit is 100000 by default
    await bid(api, token_c, lot1["id"], 10000)
    await bid(api, token_a, lot1["id"], 12000)
    await bid(api, token_b, lot2["id"], 10000)
    async with database(server.env["MONGODB_URL"]) as db:  # the session's settlement is done
        await wait_for(lambda: db.auctions.find_one({"_id": auction["id"]}), lambda a: a.get("settle") == "done")

    book_c = await ledger(api, token_c)
    assert book_c["balance"] == 100000 and adds_up(book_c) and book_c["items"][0]["kind"] == "refund"
    for token in (token_a, token_b):
        (held,) = await my_deposits(api, token)
        assert held["state"] == "held" and held["remaining"] == 100000 and held["refunds"] == []
        assert len((await api.get("/api/orders", token=token))[1]["unpaid"]["items"]) == 1
    status, ended = await api.get(f"/api/auctions/{auction['id']}", token=token_a)
    assert ended["status"] == "ended" and ended["total_deal"] == 22000
    assert ended["my_deposit"]["state_text"] == "冻结中"


async def test_orders_are_private_receipt_needs_to_receive_and_operators_see_all(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=1.5)
    token, user = await bidder(api, auction["id"], lot["id"])
    await bid(api, token, lot["id"], 10000)
    order = await unpaid_order(api, token)
    assert (await api.get("/api/orders?status=unpaid", token=token))[1] == {"unpaid": {"text": "待支付", "items": [order]}}
    other, _ = await api.login(next_phone())

    status, body = await api.get(f"/api/orders/{order['id']}", token=other)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert (await api.post(f"/api/orders/{order['id']}/receive", token=other))[0] == 403
    assert (await api.get("/api/orders/" + "f" * 32, token=token))[0] == 404
    assert (await api.get("/api/orders?status=shipped", token=token))[0] == 400
    assert (await api.get("/api/orders"))[0] == 401
    status, body = await api.post(f"/api/orders/{order['id']}/receive", token=token)
    assert status == 409 and body["error"]["code"] == "conflict"

    # Paid (the payment of orders is a later issue): the buyer confirms receipt once.
    async with database(server.env["MONGODB_URL"]) as db:
        await db.orders.update_one({"_id": order["id"]}, {"$set": {"status": "to_receive"}})
    status, done = await api.post(f"/api/orders/{order['id']}/receive", token=token)
    assert status == 200 and done["status"] == "completed" and done["status_text"] == "已完成"
    assert (await api.post(f"/api/orders/{order['id']}/receive", token=token))[0] == 409
    assert (await api.get("/api/orders", token=token))[1]["completed"]["items"] == [done]

    assert (await api.get("/api/admin/orders", token=token))[0] == 403
    status, listed = await admin.get(f"/api/admin/orders?status=completed&auction_id={auction['id']}")
    assert [(o["id"], o["user_id"]) for o in listed["items"]] == [(order["id"], user["id"])]
    status, listed = await admin.get(f"/api/admin/deposits?lot_id={lot['id']}")
    assert [(d["user_id"], d["kind"], d["state"]) for d in listed["items"]] == [(user["id"], "lot", "held")]


async def overdue_lot_with_three_bidders(admin, api):
    """C wins a lot over B and A, each with a lot deposit, and lets it go overdue."""
    auction, (lot,) = await live_lot(admin, end_in=2)
    tokens = {}
    for name, price in (("A", 10000), ("B", 11000), ("C", 12000)):
        tokens[name], _ = await bidder(api, auction["id"], lot["id"])
        await bid(api, tokens[name], lot["id"], price)
    await closed(api, lot["id"], ("overdue",))
    return auction, lot, tokens


async def test_a_runner_up_without_a_deposit_is_offered_the_lot_is_told_and_accepts(admin, api, server):
    auction, lot, tokens = await overdue_lot_with_three_bidders(admin, api)
    assert (await ledger(api, tokens["B"]))["balance"] == 100000  # B's lot deposit went back at the close
    sock = await Socket.open(server.ws_url, tokens["B"])
    await sock.until(of_type("auth"))
    assert (await api.post(f"/api/admin/lots/{lot['id']}/second-chance", token=tokens["B"]))[0] == 403
    status, made = await admin.post(f"/api/admin/lots/{lot['id']}/second-chance")
    assert status == 201 and made["offer"]["price"] == 11000 and made["offer"]["status"] == "pending", made
    notice = await sock.until(of_type("offer"))
    assert (notice["offer"], notice["price"], notice["status_text"]) == (made["offer"]["id"], 11000, "待确认")
    assert (await admin.post(f"/api/admin/lots/{lot['id']}/second-chance"))[0] == 409  # one open offer per lot
    status, listed = await api.get("/api/offers", token=tokens["B"])
    assert [o["id"] for o in listed["items"]] == [made["offer"]["id"]]
    assert (await api.post(f"/api/offers/{made['offer']['id']}/accept", token=tokens["A"]))[0] == 403

    status, body = await api.post(f"/api/offers/{made['offer']['id']}/accept", token=tokens["B"])
    assert status == 201, body
    order = body["order"]
    assert (order["price"], order["status"], order["round"]) == (11000, "unpaid", 2)
    (held,) = [d for d in await my_deposits(api, tokens["B"]) if d["state"] == "held"]
    assert order["deposit_id"] == held["id"] and held["amount"] == 5000  # paid on accepting
    assert (await ledger(api, tokens["B"]))["balance"] == 95000
    status, sold = await api.get(f"/api/lots/{lot['id']}")
    assert sold["status"] == "sold" and sold["deal_price"] == 11000
    assert (await api.get(f"/api/auctions/{auction['id']}"))[1]["total_deal"] == 11000
    assert (await api.post(f"/api/offers/{made['offer']['id']}/accept", token=tokens["B"]))[0] == 409
    sock.close()


async def test_a_declined_or_expired_offer_passes_to_the_next_bidder_and_then_ends(admin, api, server):
    auction, lot, tokens = await overdue_lot_with_three_bidders(admin, api)
    sock_a = await Socket.open(server.ws_url, tokens["A"])
    await sock_a.until(of_type("auth"))
    status, made = await admin.post(f"/api/admin/lots/{lot['id']}/second-chance")
    status, declined = await api.post(f"/api/offers/{made['offer']['id']}/decline", token=tokens["B"])
    assert status == 200 and declined["status"] == "declined"
    passed = await sock_a.until(of_type("offer"))  # C defaulted, B declined: A, at A's own bid
    assert passed["price"] == 10000 and passed["status"] == "pending"
    expired = await sock_a.until(of_type("offer", status="expired"), timeout=OFFER_SECONDS + 3)
    assert expired["offer"] == passed["offer"]
    status, listed = await api.get("/api/offers", token=tokens["A"])
    assert [(o["status"], o["status_text"]) for o in listed["items"]] == [("expired", "已过期")]
    assert (await api.post(f"/api/offers/{passed['offer']}/accept", token=tokens["A"]))[0] == 409
    assert (await api.get(f"/api/lots/{lot['id']}"))[1]["status"] == "overdue"  # nobody left: it ends
    status, body = await admin.post(f"/api/admin/lots/{lot['id']}/second-chance")
    assert status == 409 and "no other bidder" in body["error"]["message"]
    assert (await ledger(api, tokens["A"]))["balance"] == 100000  # nobody paid anything for an offer not taken
    sock_a.close()


async def test_a_winners_session_deposit_backing_no_order_goes_back_at_the_end(admin, api, server):
    """The order of a lot won with a lot deposit is backed by that one: the session deposit paid
    too backs nothing, and the session's end gives it back like anyone's."""
    auction, (lot,) = await live_lot(admin, end_in=2, deposit=20000)
    token, _ = await bidder(api, auction["id"], lot["id"])  # the lot deposit first (5,000)…
    status, body = await api.post("/api/deposits", {"auction_id": auction["id"], "lot_id": None,
                                                    "pay_type": "balance"}, token=token)  # …then the session's
    assert status == 201, body
    await bid(api, token, lot["id"], 10000)
    order = await unpaid_order(api, token)
    async with database(server.env["MONGODB_URL"]) as db:
        await wait_for(lambda: db.auctions.find_one({"_id": auction["id"]}), lambda a: a.get("settle") == "done")
    kept = {d["kind"]: d for d in await my_deposits(api, token)}
    assert order["deposit_id"] == kept["lot"]["id"] and kept["lot"]["state"] == "held"
    assert kept["auction"]["state"] == "refunded"
    assert (await ledger(api, token))["balance"] == 100000 - 5000


async def test_only_the_buyer_opens_the_checkout(admin, api, server):
    auction, (lot,) = await live_lot(admin, end_in=1.5)
    token, _ = await bidder(api, auction["id"], lot["id"])
    await bid(api, token, lot["id"], 10000)
    order = await unpaid_order(api, token)
    assert (await api.get(f"/api/orders/{order['id']}/checkout", token=token))[0] == 200
    status, body = await admin.get(f"/api/orders/{order['id']}/checkout")  # an operator is not the buyer
    assert (status, body["error"]["code"]) == (403, "forbidden")


async def test_an_operator_can_follow_a_lot_from_the_log_alone(server_factory):
    """Each close, order, refund and forfeit is a line at INFO, with its ids, and no token."""
    logged = server_factory("orders-log", LOG_LEVEL="INFO", ORDER_PAY_SECONDS=1)
    admin, api = Api(logged.url, logged.admin_token), Api(logged.url)
    auction, (lot,) = await live_lot(admin, end_in=1.5)
    loser, _ = await bidder(api, auction["id"], lot["id"])
    winner, _ = await bidder(api, auction["id"], lot["id"])
    await bid(api, loser, lot["id"], 10000)
    await bid(api, winner, lot["id"], 11000)
    order = await unpaid_order(api, winner)
    await wait_for(lambda: api.get(f"/api/orders/{order['id']}", token=winner), lambda r: r[1]["status"] == "overdue",
                   timeout=5)
    (refunded,) = [d for d in (await api.get("/api/deposits", token=loser))[1]["items"]]
    (forfeited,) = [d for d in (await api.get("/api/deposits", token=winner))[1]["items"]]
    log = logged.log_text()
    for needle in (f"{lot['id']} sold", f"{order['id']} created", f"deposit {refunded['id']} refunded",
                   f"{order['id']} overdue", f"deposit_id={forfeited['id']}"):
        assert needle in log, needle
    assert winner not in log and loser not in log and logged.admin_token not in log
