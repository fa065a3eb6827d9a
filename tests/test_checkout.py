"""Paying an order (spec/domain.md "Payment of an order"; seeds day06 §2.3,
`004`): every case of the breakdown with exact numbers, checked afterwards
in the order, the deposit with its deductions and refunds, the credits and
both ledgers; refusals that change nothing; one payment however many pay
calls race."""
import asyncio
import time

import pytest
from tornado.httpclient import AsyncHTTPClient

from domain import checkout, recovery, settlement
from domain.clock import SystemClock
from domain.deps import Deps
from domain.rules import Rules
from helpers import (ADDRESS, EventRecorder, claiming_coupon, database, iso, live_lot, next_phone, notify,
                     signed_by_sandbox, wait_for)

pytestmark = pytest.mark.gen_test(timeout=60)


async def won(admin, api, prices=(30000,), deposit=10000, session=False, max_credit=0, credits=0):
    """A buyer with an unpaid order at each price, backed by a lot deposit of
    `deposit` for each lot, or one session deposit; `credits` granted."""
    extra = {"deposit": deposit} if session else {}
    auction, lots = await live_lot(admin, lots=len(prices), end_in=3, lot_extra={"max_credit": max_credit,
                                                                                 "deposit": deposit}, **extra)
    token, user = await api.login(next_phone())
    for lot_id in [None] if session else [lot["id"] for lot in lots]:
        assert (await api.post("/api/deposits", {"auction_id": auction["id"], "lot_id": lot_id,
                                                 "pay_type": "balance"}, token=token))[0] == 201
    for lot, price in zip(lots, prices):
        assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": price}, token=token))[0] == 201, price
    if credits:
        assert (await admin.post(f"/api/admin/users/{user['id']}/credits", {"amount": credits, "reason": "活动"}))[0] == 201
    status, groups = await wait_for(lambda: api.get("/api/orders?status=unpaid", token=token),
                                    lambda r: len(r[1]["unpaid"]["items"]) == len(prices))
    by_price = {o["price"]: o for o in groups["unpaid"]["items"]}
    status, address = await api.post("/api/addresses", ADDRESS, token=token)
    assert status == 201, address
    return token, user, [by_price[p] for p in prices], address


async def coupon_of(admin, api, token, **terms) -> dict:
    """A coupon the buyer has claimed (a cash coupon of 20 元 unless told)."""
    coupon = await claiming_coupon(admin, **terms)
    status, body = await api.post(f"/api/coupons/{coupon['id']}/claim", token=token)
    assert status == 201, body
    return body["user_coupon"]


async def my_coupon(api, token, user_coupon_id) -> dict:
    groups = (await api.get("/api/my/coupons", token=token))[1]
    return next(uc for group in groups.values() for uc in group["items"] if uc["id"] == user_coupon_id)


async def pay(api, token, order, address, pay_type="balance", **extra):
    return await api.post(f"/api/orders/{order['id']}/pay", {"address_id": address["id"], "pay_type": pay_type,
                                                             **extra}, token=token)


async def books(api, token):
    """(money ledger, credits), each checked to add up to its balance."""
    money = (await api.get("/api/wallet/ledger?limit=200", token=token))[1]
    assert sum(line["amount"] for line in money["items"]) == money["balance"] >= 0
    credits = (await api.get("/api/wallet/credits", token=token))[1]
    assert sum(line["amount"] for line in credits["lines"]) == credits["credits"] >= 0
    return ([(line["kind"], line["amount"]) for line in reversed(money["items"])],
            [(line["kind"], line["amount"]) for line in reversed(credits["lines"])])


async def deposits_of(api, token):
    return (await api.get("/api/deposits", token=token))[1]["items"]


def money(deposit):
    """What became of a deposit: (state, remaining, deductions, refunds)."""
    return (deposit["state"], deposit["remaining"], [(d["kind"], d["amount"]) for d in deposit["deductions"]],
            [(r["amount"], r["status"]) for r in deposit["refunds"]])


def paid_order(order):
    fields = ("status", "status_text", "price", "coupon_amount", "credits_used", "credits_amount", "deposit_used",
              "deposit_refund", "paid_amount", "pay_type")
    return tuple(order[f] for f in fields)


async def test_a_cash_coupon_and_the_deposit_cover_the_price_exactly(admin, api):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=10000)
    coupon = await coupon_of(admin, api, token, value=20000)
    status, page = await api.get(f"/api/orders/{order['id']}/checkout", token=token)
    assert [(c["id"], c["value"]) for c in page["coupons"]] == [(coupon["id"], 20000)]
    status, body = await pay(api, token, order, address, coupon_id=coupon["id"])
    assert status == 200, body
    assert body["breakdown"] == {"price": 30000, "coupon": 20000, "credits": 0, "credits_amount": 0,
                                 "deposit_used": 10000, "deposit_refund": 0, "to_pay": 0}
    assert paid_order(body["order"]) == ("to_receive", "待收货", 30000, 20000, 0, 0, 10000, 0, 0, "balance")
    assert body["order"]["coupon_id"] == coupon["id"]
    used = await my_coupon(api, token, coupon["id"])
    assert (used["status"], used["status_text"], used["order_id"]) == ("used", "已使用", order["id"])
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("used", 0, [("payment", 10000)], [])
    assert await books(api, token) == ([("opening", 100000), ("deposit", -10000)], [])


async def test_a_coupon_covering_the_whole_price_sends_the_whole_deposit_back(admin, api):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=10000)
    coupon = await coupon_of(admin, api, token, value=50000)
    status, body = await pay(api, token, order, address, coupon_id=coupon["id"])
    assert body["breakdown"] == {"price": 30000, "coupon": 30000, "credits": 0, "credits_amount": 0,
                                 "deposit_used": 0, "deposit_refund": 10000, "to_pay": 0}
    assert (await my_coupon(api, token, coupon["id"]))["status"] == "used"
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("refunded", 0, [], [(10000, "done")])
    assert await books(api, token) == ([("opening", 100000), ("deposit", -10000), ("refund", 10000)], [])


async def test_deposit_covers_less_and_the_balance_pays_the_rest(admin, api):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=10000)
    status, body = await pay(api, token, order, address)
    assert status == 200, body
    assert body["breakdown"] == {"price": 30000, "coupon": 0, "credits": 0, "credits_amount": 0,
                                 "deposit_used": 10000, "deposit_refund": 0, "to_pay": 20000}
    assert "payment" not in body
    assert paid_order(body["order"]) == ("to_receive", "待收货", 30000, 0, 0, 0, 10000, 0, 20000, "balance")
    assert body["order"]["address"] == ADDRESS and body["order"]["paid_at"] and body["order"]["payment"]
    assert (await api.get(f"/api/orders/{order['id']}", token=token))[1] == body["order"]
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("used", 0, [("payment", 10000)], []) and deposit["state_text"] == "已抵扣"
    assert await books(api, token) == ([("opening", 100000), ("deposit", -10000), ("payment", -20000)], [])


async def test_deposit_covers_more_its_rest_goes_back_and_credits_take_part(admin, api):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=50000, max_credit=2000,
                                            credits=1500)
    status, body = await pay(api, token, order, address, credits=1000)
    assert status == 200, body
    assert body["breakdown"] == {"price": 30000, "coupon": 0, "credits": 1000, "credits_amount": 10000,
                                 "deposit_used": 20000, "deposit_refund": 30000, "to_pay": 0}
    assert paid_order(body["order"]) == ("to_receive", "待收货", 30000, 0, 1000, 10000, 20000, 30000, 0, "balance")
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("refunded", 0, [("payment", 20000)], [(30000, "done")])
    assert await books(api, token) == ([("opening", 100000), ("deposit", -50000), ("refund", 30000)],
                                       [("granted", 1500), ("spent", -1000)])


async def test_deposit_covers_exactly_what_the_credits_leave(admin, api):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=10000, max_credit=2000,
                                            credits=2000)
    status, body = await pay(api, token, order, address, credits=2000)
    assert status == 200, body
    assert body["breakdown"] == {"price": 30000, "coupon": 0, "credits": 2000, "credits_amount": 20000,
                                 "deposit_used": 10000, "deposit_refund": 0, "to_pay": 0}
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("used", 0, [("payment", 10000)], [])
    assert await books(api, token) == ([("opening", 100000), ("deposit", -10000)],
                                       [("granted", 2000), ("spent", -2000)])


async def test_a_session_deposit_keeps_its_rest_while_it_backs_another_unpaid_order(admin, api):
    token, _, (first, second), address = await won(admin, api, prices=(30000, 15000), deposit=50000, session=True)
    status, body = await pay(api, token, first, address)
    assert body["breakdown"] == {"price": 30000, "coupon": 0, "credits": 0, "credits_amount": 0,
                                 "deposit_used": 30000, "deposit_refund": 0, "to_pay": 0}
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("held", 20000, [("payment", 30000)], [])
    status, checkout = await api.get(f"/api/orders/{second['id']}/checkout", token=token)
    assert checkout["deposit_remaining"] == 20000 and checkout["deposit"]["keeps_rest"] is False
    status, body = await pay(api, token, second, address)
    assert body["breakdown"] == {"price": 15000, "coupon": 0, "credits": 0, "credits_amount": 0,
                                 "deposit_used": 15000, "deposit_refund": 5000, "to_pay": 0}
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("refunded", 0, [("payment", 30000), ("payment", 15000)], [(5000, "done")])
    assert (await books(api, token))[0] == [("opening", 100000), ("deposit", -50000), ("refund", 5000)]


async def test_through_a_gateway_the_order_is_paid_when_the_signed_notification_comes(admin, api, server):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=10000, max_credit=1000,
                                            credits=500)
    status, body = await pay(api, token, order, address, "wechat", credits=500)
    assert status == 200, body
    assert body["breakdown"] == {"price": 30000, "coupon": 0, "credits": 500, "credits_amount": 5000,
                                 "deposit_used": 10000, "deposit_refund": 0, "to_pay": 15000}
    payment = body["payment"]
    assert (payment["purpose"], payment["amount"], payment["status"], payment["order_id"]) == (
        "order", 15000, "pending", order["id"])
    assert body["order"]["status"] == "unpaid" and body["order"]["payment"] == payment["out_trade_no"]
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("using", 10000, [], []) and deposit["state_text"] == "支付中"
    assert (await books(api, token))[1] == [("granted", 500), ("spent", -500)]  # held while pending

    assert await notify(api, "wechat", *signed_by_sandbox(server, payment)) == (204, None)
    status, paid = await api.get(f"/api/orders/{order['id']}", token=token)
    assert paid_order(paid) == ("to_receive", "待收货", 30000, 0, 500, 5000, 10000, 0, 15000, "wechat")
    (deposit,) = await deposits_of(api, token)
    assert money(deposit) == ("used", 0, [("payment", 10000)], [])
    assert await books(api, token) == ([("opening", 100000), ("deposit", -10000)], [("granted", 500), ("spent", -500)])
    assert (await api.get(f"/api/payments/{payment['out_trade_no']}", token=token))[1]["status"] == "paid"


async def test_insufficient_balance_changes_nothing_anywhere(admin, api, server):
    token, _, (order,), address = await won(admin, api, prices=(130000,), deposit=10000, max_credit=100, credits=100)
    before = (await books(api, token), await deposits_of(api, token))
    status, body = await pay(api, token, order, address, credits=100)
    assert (status, body["error"]["code"], body["error"]["balance"]) == (409, "insufficient_balance", 90000)
    assert (await books(api, token), await deposits_of(api, token)) == before
    status, again = await api.get(f"/api/orders/{order['id']}", token=token)
    assert (again["status"], again["payment"], again["deposit_used"]) == ("unpaid", None, 0)
    async with database(server.env["MONGODB_URL"]) as db:
        assert await db.payments.find_one({"ref": order["id"]}) is None


@pytest.mark.parametrize("case", ["another user's order", "another user's address", "a missing address",
                                  "a coupon and credits together", "more credits than held",
                                  "more credits than the lot takes", "an order not unpaid", "an unknown pay_type",
                                  "another user's coupon", "an expired coupon", "a locked coupon",
                                  "a coupon for another lot"])
async def test_bad_pay_requests_are_refused_and_change_nothing(admin, api, case):
    token, user, (order, other_order), address = await won(admin, api, prices=(30000, 20000), deposit=10000,
                                                           session=True, max_credit=500, credits=400)
    other, _ = await api.login(next_phone())
    other_address = (await api.post("/api/addresses", ADDRESS, token=other))[1]
    body = {"address_id": address["id"], "pay_type": "balance"}
    if "coupon" in case and "credits" not in case:
        now = time.time()
        terms = {"another user's coupon": {}, "a locked coupon": {},
                 "an expired coupon": {"valid_days": 0, "use_start": iso(now), "use_end": iso(now + 1)},
                 "a coupon for another lot": {"scope": "lot", "lot_id": other_order["lot_id"]}}[case]
        coupon = await coupon_of(admin, api, other if case == "another user's coupon" else token, **terms)
        body["coupon_id"] = coupon["id"]
        if case == "a locked coupon":  # held by the pending payment of the buyer's other order
            locking = await pay(api, token, other_order, address, "alipay", coupon_id=coupon["id"])
            assert locking[0] == 200 and (await my_coupon(api, token, coupon["id"]))["status"] == "locked"
        if case == "an expired coupon":
            await wait_for(lambda: my_coupon(api, token, coupon["id"]), lambda c: c["status"] == "expired")
    expected = {"another user's order": (403, "forbidden"), "another user's address": (404, "not_found"),
                "a missing address": (400, "invalid_request"), "a coupon and credits together": (422, "invalid_request"),
                "more credits than held": (409, "insufficient_balance"),
                "more credits than the lot takes": (422, "invalid_request"),
                "an order not unpaid": (409, "order_not_payable"), "an unknown pay_type": (422, "invalid_request"),
                "another user's coupon": (404, "not_found"), "an expired coupon": (409, "coupon_unavailable"),
                "a locked coupon": (409, "coupon_unavailable"),
                "a coupon for another lot": (409, "coupon_unavailable")}[case]
    caller = token
    if case == "another user's order":
        caller, body["address_id"] = other, other_address["id"]
    elif case == "another user's address":
        body["address_id"] = other_address["id"]
    elif case == "a missing address":
        del body["address_id"]
    elif case == "a coupon and credits together":
        body.update(coupon_id="0" * 32, credits=100)
    elif case == "more credits than held":
        body["credits"] = 450
    elif case == "more credits than the lot takes":
        body["credits"] = 600
    elif case == "an order not unpaid":
        assert (await pay(api, token, order, address))[0] == 200
    elif case == "an unknown pay_type":
        body["pay_type"] = "cash"
    async def everything():
        return (await books(api, token), await deposits_of(api, token), await api.get("/api/orders", token=token),
                await api.get("/api/my/coupons", token=token), await api.get("/api/my/coupons", token=other))
    before = await everything()
    status, answer = await api.post(f"/api/orders/{order['id']}/pay", body, token=caller)
    assert (status, answer["error"]["code"]) == expected, answer
    assert await everything() == before
    assert (await api.get(f"/api/orders/{other_order['id']}", token=token))[1]["status"] == "unpaid"


async def test_five_pay_calls_at_once_make_one_payment(admin, api, server):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=10000)
    api.http = AsyncHTTPClient(force_instance=True, max_clients=5)
    answers = await asyncio.gather(*(pay(api, token, order, address) for _ in range(5)))
    assert sorted(status for status, _ in answers) == [200] + [409] * 4
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"order_not_payable"}
    assert (await books(api, token))[0] == [("opening", 100000), ("deposit", -10000), ("payment", -20000)]
    async with database(server.env["MONGODB_URL"]) as db:
        assert [p["status"] for p in await db.payments.find({"ref": order["id"]}).to_list(None)] == ["paid"]


async def test_checkout_shows_parts_that_add_up_and_receipt_earns_credits(admin, api):
    token, _, (order,), address = await won(admin, api, prices=(30000,), deposit=10000, max_credit=900, credits=700)
    status, page = await api.get(f"/api/orders/{order['id']}/checkout", token=token)
    assert status == 200, page
    assert (page["price"], page["deposit_remaining"], page["balance"]) == (30000, 10000, 90000)
    assert page["lot"] == {"id": order["lot_id"], "title": order["title"], "cover": order["cover"], "max_credit": 900}
    assert page["credits"] == {"held": 700, "most_usable": 700, "credit_to_money": 10}
    assert page["breakdown"]["deposit_used"] + page["breakdown"]["to_pay"] == page["price"]
    assert [a["id"] for a in page["addresses"]] == [address["id"]] and page["addresses"][0]["is_default"]
    assert page["deadline"] == order["deadline"] and page["pay_types"] == ["balance", "wechat", "alipay"]
    assert (await api.get(f"/api/orders/{order['id']}/checkout", token=(await api.login(next_phone()))[0]))[0] == 403

    assert (await pay(api, token, order, address))[0] == 200
    status, done = await api.post(f"/api/orders/{order['id']}/receive", token=token)
    assert (done["status"], done["status_text"]) == ("completed", "已完成")
    # One credit per yuan paid (deposit 100 + balance 200).
    assert (await books(api, token))[1] == [("granted", 700), ("earned", 300)]


async def test_addresses_are_the_owners_with_exactly_one_default(admin, api):
    token, _ = await api.login(next_phone())
    other, _ = await api.login(next_phone())
    first = (await api.post("/api/addresses", ADDRESS, token=token))[1]
    second = (await api.post("/api/addresses", {**ADDRESS, "detail": "二号", "is_default": True}, token=token))[1]
    assert first["is_default"] and second["is_default"]  # the first one is the default until another is made it
    status, listed = await api.get("/api/addresses", token=token)
    assert [(a["id"], a["is_default"]) for a in listed["items"]] == [(second["id"], True), (first["id"], False)]
    status, edited = await api.put(f"/api/addresses/{first['id']}", {"city": "宁波", "is_default": True}, token=token)
    assert (edited["city"], edited["is_default"], edited["detail"]) == ("宁波", True, ADDRESS["detail"])
    assert (await api.put(f"/api/addresses/{first['id']}", {"city": "x"}, token=other))[0] == 404
    assert (await api.delete(f"/api/addresses/{first['id']}", token=other))[0] == 404
    assert (await api.post("/api/addresses", {**ADDRESS, "phone": "12"}, token=token))[0] == 422
    assert (await api.delete(f"/api/addresses/{first['id']}", token=token))[0] == 204
    status, listed = await api.get("/api/addresses", token=token)
    assert [(a["id"], a["is_default"]) for a in listed["items"]] == [(second["id"], True)]
    assert (await api.get("/api/addresses", token=other))[1]["items"] == []


async def test_operators_grant_and_take_credits_audited_never_below_zero(admin, api):
    token, user = await api.login(next_phone())
    grant = f"/api/admin/users/{user['id']}/credits"
    assert (await api.post(grant, {"amount": 100, "reason": "x"}, token=token))[0] == 403
    status, given = await admin.post(grant, {"amount": 100, "reason": "新人礼"})
    assert status == 201 and given["credits"] == 100 and given["line"]["kind_text"] == "运营调整"
    status, refused = await admin.post(grant, {"amount": -101, "reason": "纠错"})
    assert (status, refused["error"]["code"], refused["error"]["credits"]) == (409, "insufficient_balance", 100)
    assert (await admin.post(grant, {"amount": -40, "reason": "纠错"}))[1]["credits"] == 60
    assert (await admin.post(grant, {"amount": 0, "reason": "x"}))[0] == 422
    assert (await admin.post("/api/admin/users/nobody/credits", {"amount": 1, "reason": "x"}))[0] == 404
    assert (await books(api, token))[1] == [("granted", 100), ("granted", -40)]
    status, trail = await admin.get(f"/api/admin/audit?target={user['id']}")
    assert [(e["action"], e["amount"], e["reason"]) for e in trail["items"]] == [("credits", 100, "新人礼"),
                                                                                 ("credits", -40, "纠错")]


@pytest.mark.parametrize("pay_type, result", [("wechat", "沙箱收银台"), ("alipay", "支付成功")])
async def test_the_sandbox_pay_page_lets_a_person_approve_with_a_genuinely_signed_notification(api, pay_type, result):
    token, _ = await api.login(next_phone())
    status, body = await api.post("/api/wallet/topup", {"amount": 2500, "pay_type": pay_type}, token=token)
    payment = body["payment"]
    status, page = await api.get(payment["pay_url"], token="")
    assert status == 200 and "25.00 元" in page and 'value="approve"' in page and "<script" not in page
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, page = await api.call("POST", payment["pay_url"], raw=b"decision=approve", headers=form, token="")
    assert status == 200 and result in page  # Alipay sends the browser to the return URL, as the real one does
    assert (await api.get(f"/api/payments/{payment['out_trade_no']}", token=token))[1]["status"] == "paid"
    assert (await api.get("/api/wallet/ledger", token=token))[1]["balance"] == 102500
    status, page = await api.get(payment["pay_url"], token="")
    assert "已支付" in page and 'value="approve"' not in page


async def test_declining_on_the_sandbox_pay_page_closes_the_payment(api):
    token, _ = await api.login(next_phone())
    payment = (await api.post("/api/wallet/topup", {"amount": 2500, "pay_type": "alipay"}, token=token))[1]["payment"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, page = await api.call("POST", payment["pay_url"], raw=b"decision=decline", headers=form, token="")
    assert status == 200 and "已关闭" in page
    assert (await api.get(f"/api/payments/{payment['out_trade_no']}", token=token))[1]["status"] == "closed"
    assert (await api.get("/api/wallet/ledger", token=token))[1]["balance"] == 100000


class Killed(BaseException):
    """The process dies here: nothing after this point runs."""


class Dying:
    """A database whose `collection` dies on the write that moves a document `to` a state."""

    def __init__(self, db, collection: str, field: str, to: str):
        self.db, self.collection, self.field, self.to = db, collection, field, to

    def __getattr__(self, name):
        real = getattr(self.db, name)
        if name != self.collection:
            return real
        dying = self

        class Collection:
            def __getattr__(self, attr):
                return getattr(real, attr)

            async def find_one_and_update(self, query, update, **options):
                if update.get("$set", {}).get(dying.field) == dying.to:
                    raise Killed()
                return await real.find_one_and_update(query, update, **options)
        return Collection()


@pytest.mark.parametrize("where, collection, field, to", [
    ("between the deposit deduction and the order update", "orders", "status", "to_receive"),
    ("between the balance debit and the deposit's hold", "deposits", "state", "using")])
async def test_a_payment_killed_midway_is_finished_once_by_the_recovery_sweep(admin, api, server, where, collection,
                                                                              field, to):
    token, user, (order,), address = await won(admin, api, prices=(30000,), deposit=10000)
    async with database(server.env["MONGODB_URL"]) as db:
        buyer, now = await db.users.find_one({"_id": user["id"]}), int(time.time() * 1000)
        deps = Deps(Dying(db, collection, field, to), EventRecorder(), SystemClock(), lambda work: work.close())
        with pytest.raises(Killed):  # the pay call, as a process that is killed -9 at `where`
            await checkout.pay(deps, buyer, order["id"], address["id"], "balance", now, "http://gavel.test")
        assert (await api.get(f"/api/orders/{order['id']}", token=token))[1]["status"] == "unpaid"
        later = now + settlement.STALE_MS  # the sweep leaves a balance payment this young to its own request
        await asyncio.gather(*(recovery.sweep(db, EventRecorder(), later, Rules()) for _ in range(3)))
        await recovery.sweep(db, EventRecorder(), later, Rules())
        status, paid = await api.get(f"/api/orders/{order['id']}", token=token)
        assert paid_order(paid) == ("to_receive", "待收货", 30000, 0, 0, 0, 10000, 0, 20000, "balance")
        assert paid["address"] == ADDRESS
        (deposit,) = await deposits_of(api, token)
        assert money(deposit) == ("used", 0, [("payment", 10000)], [])
        assert await books(api, token) == ([("opening", 100000), ("deposit", -10000), ("payment", -20000)], [])
        assert [p["status"] for p in await db.payments.find({"ref": order["id"]}).to_list(None)] == ["paid"]
        status, trail = await admin.get(f"/api/admin/audit?target={order['id']}")
        assert [e["action"] for e in trail["items"]].count("paid") == 1
