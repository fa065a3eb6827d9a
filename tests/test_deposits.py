"""Deposits (保证金): paid from the balance at once or through a gateway,
one per user and lot / session, refused cleanly with nothing changed."""
import asyncio

import pytest
from tornado.httpclient import AsyncHTTPClient

from gavel_server import Api
from helpers import create_session, database, next_phone, notify, signed_by_sandbox, wait_for

pytestmark = pytest.mark.gen_test(timeout=60)


async def pay(api, token, auction_id, lot_id=None, pay_type="balance"):
    return await api.post("/api/deposits", {"auction_id": auction_id, "lot_id": lot_id, "pay_type": pay_type},
                          token=token)


async def wallet(api, token):
    """(balance, ledger lines), checking that the ledger adds up to the balance."""
    status, book = await api.get("/api/wallet/ledger?limit=200", token=token)
    assert sum(line["amount"] for line in book["items"]) == book["balance"] >= 0
    assert [line["seq"] for line in book["items"]] == list(range(len(book["items"]), 0, -1))
    return book["balance"], book["items"]


async def test_a_lot_deposit_paid_from_the_balance_is_paid_at_once_through_the_ledger(admin, api):
    auction, (lot,) = await create_session(admin)
    token, _ = await api.login(next_phone())
    status, body = await pay(api, token, auction["id"], lot["id"])
    assert status == 201 and "payment" not in body
    deposit = body["deposit"]
    assert (deposit["kind"], deposit["kind_text"], deposit["status"], deposit["status_text"]) == (
        "lot", "单品保证金", "paid", "支付成功")
    assert deposit["amount"] == deposit["remaining"] == 5000 and deposit["state"] == "held"
    assert deposit["lot_id"] == lot["id"] and deposit["uid"].startswith("D") and deposit["uid"][1:].isdigit()
    balance, lines = await wallet(api, token)
    assert balance == 95000 and (lines[0]["kind"], lines[0]["amount"], lines[0]["ref"]) == ("deposit", -5000, deposit["uid"])
    status, mine = await api.get("/api/deposits", token=token)
    assert mine["items"] == [deposit]
    status, seen = await api.get(f"/api/lots/{lot['id']}", token=token)
    assert seen["my_deposit"]["id"] == deposit["id"]
    assert (await api.get(f"/api/lots/{lot['id']}"))[1]["my_deposit"] is None


async def test_paying_twice_for_the_same_lot_or_session_is_refused_and_charges_nothing(admin, api):
    auction, (lot,) = await create_session(admin, deposit=20000)
    token, _ = await api.login(next_phone())
    assert (await pay(api, token, auction["id"], lot["id"]))[0] == 201
    assert (await pay(api, token, auction["id"]))[0] == 201  # a session deposit is another thing
    for lot_id in (lot["id"], None):
        for pay_type in ("balance", "wechat"):
            status, body = await pay(api, token, auction["id"], lot_id, pay_type)
            assert status == 409 and body["error"]["code"] == "conflict", body
    assert (await wallet(api, token))[0] == 100000 - 5000 - 20000
    assert len((await api.get("/api/deposits", token=token))[1]["items"]) == 2
    status, detail = await api.get(f"/api/auctions/{auction['id']}", token=token)
    assert detail["my_deposit"]["kind"] == "auction"


@pytest.mark.parametrize("case", ["unknown session", "unknown lot", "lot of another session", "deleted session",
                                  "ended session", "closed lot", "wrong pay_type", "lot_id not a string",
                                  "no body", "anonymous"])
async def test_bad_deposit_requests_get_clear_errors_and_change_nothing(admin, api, server, case):
    auction, (lot,) = await create_session(admin)
    other, _ = await create_session(admin, lots=0)
    token, _ = await api.login(next_phone())
    body = {"auction_id": auction["id"], "lot_id": lot["id"], "pay_type": "balance"}
    expected = {"unknown session": (404, "not_found"), "unknown lot": (404, "not_found"),
                "lot of another session": (404, "not_found"), "deleted session": (404, "not_found"),
                "ended session": (409, "conflict"), "closed lot": (409, "conflict"),
                "wrong pay_type": (422, "invalid_request"), "lot_id not a string": (400, "invalid_request"),
                "no body": (400, "invalid_request"), "anonymous": (401, "unauthorized")}[case]
    if case == "unknown session":
        body["auction_id"] = "0" * 32
    elif case == "unknown lot":
        body["lot_id"] = "0" * 32
    elif case == "lot of another session":
        body["auction_id"] = other["id"]
    elif case == "deleted session":
        assert (await admin.delete(f"/api/admin/auctions/{auction['id']}"))[0] == 204
    elif case in ("ended session", "closed lot"):
        async with database(server.env["MONGODB_URL"]) as db:
            if case == "ended session":
                await db.auctions.update_one({"_id": auction["id"]}, {"$set": {"status": "ended"}})
            else:
                await db.lots.update_one({"_id": lot["id"]}, {"$set": {"status": "unsold"}})
    elif case == "wrong pay_type":
        body["pay_type"] = "cash"
    elif case == "lot_id not a string":
        body["lot_id"] = 12
    status, answer = await api.post("/api/deposits", {} if case == "no body" else body,
                                    token="" if case == "anonymous" else token)
    assert (status, answer["error"]["code"]) == expected, answer
    assert (await wallet(api, token))[0] == 100000
    assert (await api.get("/api/deposits", token=token))[1]["items"] == []


async def test_insufficient_balance_is_refused_and_nothing_changes(admin, api):
    auction, (lot,) = await create_session(admin, lot_extra={"deposit": 100001})
    token, _ = await api.login(next_phone())
    status, body = await pay(api, token, auction["id"], lot["id"])
    assert status == 409 and body["error"]["code"] == "insufficient_balance" and body["error"]["balance"] == 100000
    assert (await wallet(api, token))[0] == 100000
    assert (await api.get("/api/deposits", token=token))[1]["items"] == []
    assert (await pay(api, token, auction["id"]))[0] == 201  # the refused claim blocks nothing


async def test_a_gateway_deposit_waits_for_its_notification_and_is_paid_once(admin, api, server):
    auction, (lot,) = await create_session(admin)
    token, _ = await api.login(next_phone())
    status, body = await pay(api, token, auction["id"], lot["id"], "wechat")
    assert status == 201 and body["deposit"]["status"] == "unpaid" and body["deposit"]["status_text"] == "未支付"
    payment = body["payment"]
    assert {k: payment[k] for k in ("purpose", "amount", "status", "pay_type", "deposit_id")} == {
        "purpose": "deposit", "amount": 5000, "status": "pending", "pay_type": "wechat",
        "deposit_id": body["deposit"]["id"]}
    assert payment["pay_url"] == f"/sandbox/pay/{payment['out_trade_no']}" and payment["pay_params"]["paySign"]
    status, again = await pay(api, token, auction["id"], lot["id"], "wechat")
    assert again["deposit"]["id"] == body["deposit"]["id"]  # asking again gives the same payment
    assert again["payment"]["out_trade_no"] == payment["out_trade_no"]
    assert await notify(api, "wechat", *signed_by_sandbox(server, payment, amount=4999)) == (204, None)
    assert (await api.get("/api/deposits", token=token))[1]["items"][0]["status"] == "unpaid"  # not our amount
    for _ in range(2):  # a notification delivered twice
        assert await notify(api, "wechat", *signed_by_sandbox(server, payment)) == (204, None)
        (paid,) = (await api.get("/api/deposits", token=token))[1]["items"]
        assert paid["status"] == "paid" and paid["state"] == "held"
    assert (await api.get(f"/api/payments/{payment['out_trade_no']}", token=token))[1]["status"] == "paid"
    assert (await wallet(api, token))[0] == 100000  # the money came through the gateway
    assert (await pay(api, token, auction["id"], lot["id"]))[0] == 409


async def test_a_second_gateway_payment_for_a_deposit_already_paid_is_refunded_through_the_gateway(admin, api, server):
    auction, _ = await create_session(admin, lots=0)
    token, _ = await api.login(next_phone())
    status, pending = await pay(api, token, auction["id"], None, "alipay")
    assert (await pay(api, token, auction["id"]))[0] == 201  # meanwhile paid from the balance
    assert await notify(api, "alipay", *signed_by_sandbox(server, pending["payment"])) == (200, "success")

    def refunded(items):
        late = next(d for d in items if d["id"] == pending["deposit"]["id"])
        return late["state"] == "refunded" and [(r["amount"], r["status"]) for r in late["refunds"]] == [(100000, "done")]
    await wait_for(lambda: api.get("/api/deposits", token=token), lambda r: refunded(r[1]["items"]))
    assert (await wallet(api, token))[0] == 0  # the gateway refund does not touch the balance


async def test_deposits_for_a_deleted_lot_go_back_to_the_balance(admin, api):
    auction, (lot, kept) = await create_session(admin, lots=2)
    token, _ = await api.login(next_phone())
    assert (await pay(api, token, auction["id"], lot["id"]))[0] == 201
    assert (await admin.delete(f"/api/admin/lots/{lot['id']}"))[0] == 204
    balance, lines = await wallet(api, token)
    assert balance == 100000 and lines[0]["kind"] == "refund"
    (deposit,) = (await api.get("/api/deposits", token=token))[1]["items"]
    assert deposit["state"] == "refunded" and deposit["state_text"] == "已退还"


async def test_operators_list_deposits_and_others_may_not(admin, api):
    auction, (lot,) = await create_session(admin)
    token, user = await api.login(next_phone())
    await pay(api, token, auction["id"], lot["id"])
    assert (await api.get("/api/admin/deposits", token=token))[0] == 403
    status, listed = await admin.get(f"/api/admin/deposits?auction_id={auction['id']}")
    assert [(d["user_id"], d["lot_id"]) for d in listed["items"]] == [(user["id"], lot["id"])]


async def test_fifty_simultaneous_payments_with_money_for_three_pay_exactly_three(server_factory):
    server = server_factory("deposit-race", START_BALANCE=15000)
    admin, api = Api(server.url, server.admin_token), Api(server.url)
    api.http = AsyncHTTPClient(force_instance=True, max_clients=50)  # all 50 in flight at once
    auction, lots = await create_session(admin, lots=50)
    token, _ = await api.login(next_phone())
    answers = await asyncio.gather(*(pay(api, token, auction["id"], lot["id"]) for lot in lots))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 3 + [409] * 47
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"insufficient_balance"}
    balance, lines = await wallet(api, token)
    assert balance == 0 and [line["kind"] for line in lines] == ["deposit"] * 3 + ["opening"]
    items = (await api.get("/api/deposits", token=token))[1]["items"]
    assert len(items) == 3 and {d["status"] for d in items} == {"paid"}
    async with database(server.env["MONGODB_URL"]) as db:
        assert await db.deposits.count_documents({"status": "unpaid"}) == 0  # every refused claim released
