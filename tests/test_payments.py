"""Payments through both gateways in live mode: the tests play WeChat Pay and
Alipay with their own key pairs — they sign every notification genuinely,
and a fake gateway server on a local port answers the server's calls
(create, query, refund), checking its signatures as the real ones do."""
import asyncio
import signal
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tornado.httpclient import AsyncHTTPClient

from fake_gateways import FakeGateways, now_ms
from gavel_server import Api, free_port
from helpers import claiming_coupon, database, live_lot, next_phone, notify, wait_for
from server.gateways.keys import private_pem, public_pem
from server.gateways.sandbox import AlipayPlatform, WechatPlatform

pytestmark = pytest.mark.gen_test(timeout=60)
MCHID, APPID, SERIAL = "1230000109", "wxd678efh567hg6787", "PUB_KEY_ID_0112345"
MERCHANT_SERIAL, APP_ID, APIV3 = "3775B6A45ACD588826D15E583A95F5DD", "2021000122671234", b"0123456789abcdef0123456789abcdef"
FAKE_PORT = free_port()
NATIVE = "/v3/pay/transactions/native"
NOT_THERE = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}


@pytest.fixture(scope="module")
def keys():
    return {name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
            for name in ("merchant", "platform", "app", "alipay", "intruder")}


def live_env(keys, folder) -> dict:
    for name in ("merchant", "app"):
        (folder / f"{name}.pem").write_bytes(private_pem(keys[name]))
    for name in ("platform", "alipay"):
        (folder / f"{name}.pub").write_bytes(public_pem(keys[name].public_key()))
    base = f"http://127.0.0.1:{FAKE_PORT}"
    return {"WECHATPAY_MCHID": MCHID, "WECHATPAY_APPID": APPID, "WECHATPAY_APIV3_KEY": APIV3.decode(),
            "WECHATPAY_PLATFORM_PUBLIC_KEY": folder / "platform.pub", "WECHATPAY_PLATFORM_SERIAL": SERIAL,
            "WECHATPAY_PRIVATE_KEY": folder / "merchant.pem", "WECHATPAY_CERT_SERIAL": MERCHANT_SERIAL,
            "WECHATPAY_API_BASE": base, "ALIPAY_APP_ID": APP_ID, "ALIPAY_APP_PRIVATE_KEY": folder / "app.pem",
            "ALIPAY_PUBLIC_KEY": folder / "alipay.pub", "ALIPAY_GATEWAY": base + "/gateway.do",
            "GATEWAY_TIMEOUT_S": 3, "RECOVERY_INTERVAL_S": 1, "PAYMENT_SANDBOX": 0}


@pytest.fixture(scope="module")
def server(server_factory, keys, tmp_path_factory):
    return server_factory("payments", **live_env(keys, tmp_path_factory.mktemp("keys")))


@pytest.fixture(scope="module")
def quick(server_factory, keys, tmp_path_factory):
    """Pending payments close after two seconds here."""
    return server_factory("payments-quick", PAYMENT_TIMEOUT_SECONDS=2,
                          **live_env(keys, tmp_path_factory.mktemp("keys")))


@pytest.fixture
def fake(keys, io_loop):
    """The gateways, listening for the server's calls while a test runs."""
    gateways = FakeGateways(WechatPlatform(keys["platform"], SERIAL, APIV3, MCHID, APPID),
                            keys["merchant"].public_key(), MERCHANT_SERIAL,
                            AlipayPlatform(keys["alipay"], APP_ID), keys["app"].public_key())
    gateways.answers.update({NATIVE: (200, {"code_url": "weixin://wxpay/bizpayurl?pr=test"}),
                             "alipay.trade.query": NOT_THERE})
    listening = gateways.app().listen(FAKE_PORT, "127.0.0.1")
    yield gateways
    listening.stop()


async def topup(api, token, amount, pay_type):
    status, body = await api.post("/api/wallet/topup", {"amount": amount, "pay_type": pay_type}, token=token)
    assert status == 201, body
    return body["payment"]


async def balance(api, token):
    book = (await api.get("/api/wallet/ledger", token=token))[1]
    assert sum(line["amount"] for line in book["items"]) == book["balance"]
    return book["balance"]


async def payment_of(api, token, payment):
    return (await api.get(f"/api/payments/{payment['out_trade_no']}", token=token))[1]


async def test_a_wechat_order_payment_is_paid_once_by_ten_copies_of_its_notification_at_once(api, admin, server, fake):
    auction, (lot,) = await live_lot(admin, end_in=3, lot_extra={"start_price": 30000, "deposit": 10000})
    token, _ = await api.login(next_phone())
    assert (await api.post("/api/deposits", {"auction_id": auction["id"], "lot_id": lot["id"], "pay_type": "balance"},
                           token=token))[0] == 201
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 30000}, token=token))[0] == 201
    status, orders = await wait_for(lambda: api.get("/api/orders?status=unpaid", token=token),
                                    lambda r: r[1]["unpaid"]["items"])
    (order,) = orders["unpaid"]["items"]
    address = (await api.post("/api/addresses", {"name": "李四", "phone": "13900000000", "province": "北京",
                                                 "city": "北京", "county": "东城", "detail": "1 号"}, token=token))[1]
    status, body = await api.post(f"/api/orders/{order['id']}/pay", {"address_id": address["id"], "pay_type": "wechat"},
                                  token=token)
    assert status == 200, body
    payment = body["payment"]
    assert payment["code_url"] == "weixin://wxpay/bizpayurl?pr=test" and payment["amount"] == 20000
    (path, created), = fake.requests
    assert (path, created["out_trade_no"], created["amount"]["total"]) == (NATIVE, payment["out_trade_no"], 20000)
    assert created["notify_url"] == f"{server.url}/api/payments/wechat/notify"

    headers, raw = fake.wechat.notification(payment["out_trade_no"], 20000, now_ms())
    api.http = AsyncHTTPClient(force_instance=True, max_clients=10)
    answers = await asyncio.gather(*(notify(api, "wechat", headers, raw) for _ in range(10)))
    assert answers == [(204, None)] * 10
    status, paid = await api.get(f"/api/orders/{order['id']}", token=token)
    assert (paid["status"], paid["paid_amount"], paid["deposit_used"], paid["pay_type"]) == ("to_receive", 20000,
                                                                                            10000, "wechat")
    assert (await payment_of(api, token, payment))["status"] == "paid"
    (deposit,) = (await api.get("/api/deposits", token=token))[1]["items"]
    assert [(d["kind"], d["amount"]) for d in deposit["deductions"]] == [("payment", 10000)]
    status, trail = await admin.get(f"/api/admin/audit?target={order['id']}")
    assert [e["action"] for e in trail["items"]].count("paid") == 1
    assert await balance(api, token) == 90000


async def test_an_alipay_top_up_is_credited_once_on_its_notification(api, server, fake):
    token, _ = await api.login(next_phone())
    payment = await topup(api, token, 12345, "alipay")
    url = urlsplit(payment["pay_url"])
    params = dict(parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"http://127.0.0.1:{FAKE_PORT}/gateway.do"
    assert (params["method"], params["app_id"], params["notify_url"]) == (
        "alipay.trade.page.pay", APP_ID, f"{server.url}/api/payments/alipay/notify")
    for _ in range(3):
        headers, raw = fake.alipay.notification(payment["out_trade_no"], 12345, now_ms())
        assert await notify(api, "alipay", headers, raw) == (200, "success")
    assert await balance(api, token) == 100000 + 12345
    lines = (await api.get("/api/wallet/ledger", token=token))[1]["items"]
    assert [(line["kind"], line["amount"], line["ref"]) for line in lines[:1]] == [
        ("topup", 12345, payment["out_trade_no"])]


def intruding(fake, keys, pay_type):
    """The same gateway, signing with a key that is not the gateway's."""
    if pay_type == "wechat":
        return WechatPlatform(keys["intruder"], SERIAL, APIV3, MCHID, APPID)
    return AlipayPlatform(keys["intruder"], APP_ID)


@pytest.mark.parametrize("pay_type, case, answer", [
    ("wechat", "forged signature", 400), ("wechat", "stale timestamp", 400), ("wechat", "another merchant", 400),
    ("wechat", "wrong amount", 204), ("wechat", "unknown trade number", 204),
    ("alipay", "forged signature", "fail"), ("alipay", "wrong app_id", "fail"),
    ("alipay", "wrong amount", "success"), ("alipay", "unknown trade number", "success")])
async def test_a_notification_not_provably_the_gateways_or_not_ours_changes_nothing(api, keys, fake, server, pay_type,
                                                                                    case, answer):
    """Refused so that the gateway delivers it again (4xx FAIL, "fail") when
    our clock or keys could be at fault; acknowledged without effect when the
    gateway's own word is for a trade or an amount not ours: no retry helps."""
    token, _ = await api.login(next_phone())
    payment = await topup(api, token, 5000, pay_type)
    platform, amount, trade, at = getattr(fake, pay_type), 5000, payment["out_trade_no"], now_ms()
    extra = {}
    if case == "forged signature":
        platform = intruding(fake, keys, pay_type)
    elif case == "stale timestamp":
        at -= 6 * 60 * 1000
    elif case == "another merchant":
        extra = {"changes": {"mchid": "1900000002"}}
    elif case == "wrong app_id":
        extra = {"app_id": "2021000000009999"}
    elif case == "wrong amount":
        amount = 4999
    elif case == "unknown trade number":
        trade = "P" + "9" * 23
    status, body = await notify(api, pay_type, *platform.notification(trade, amount, at, **extra))
    if pay_type == "wechat":
        assert status == answer and (answer == 204 or body["code"] == "FAIL"), body
    else:
        assert (status, body) == (200, answer)
    assert (await payment_of(api, token, payment))["status"] == "pending"
    assert await balance(api, token) == 100000


async def test_a_payment_closes_on_time_and_a_notification_after_that_is_refunded_through_the_gateway(api, quick, fake):
    api = Api(quick.url)
    token, _ = await api.login(next_phone())
    payment = await topup(api, token, 8800, "alipay")
    async with database(quick.env["MONGODB_URL"]) as db:  # (the payer's active query would ask Alipay too)
        await wait_for(lambda: db.payments.find_one({"_id": payment["out_trade_no"]}),
                       lambda p: p["status"] == "closed", timeout=10)
    closed = await payment_of(api, token, payment)
    assert closed["status_text"] == "已关闭" and "pay_url" not in closed
    asked = {biz["biz_content"]["out_trade_no"] for method, biz in fake.requests if method == "alipay.trade.query"}
    assert asked == {payment["out_trade_no"]}  # Alipay was asked before the payment was closed

    fake.answers["alipay.trade.refund"] = {"code": "10000", "msg": "Success", "fund_change": "Y",
                                           "refund_fee": "88.00"}
    headers, raw = fake.alipay.notification(payment["out_trade_no"], 8800, now_ms())
    assert await notify(api, "alipay", headers, raw) == (200, "success")
    refunded = await wait_for(lambda: payment_of(api, token, payment), lambda p: p["refund_status"] == "done")
    assert (refunded["status"], refunded["status_text"]) == ("refunded", "已退款")
    (refund,) = [biz for method, biz in fake.requests if method == "alipay.trade.refund"]
    assert refund["biz_content"] == {"out_trade_no": payment["out_trade_no"],
                                     "out_request_no": "R" + payment["out_trade_no"], "refund_amount": "88.00"}
    assert await balance(api, token) == 100000  # never credited
    assert await notify(api, "alipay", headers, raw) == (200, "success")  # again: nothing more
    assert len([m for m, _ in fake.requests if m == "alipay.trade.refund"]) == 1


@pytest.mark.parametrize("discount", ["credits", "coupon"])
async def test_a_pending_order_payment_closes_on_time_gives_its_holds_back_and_the_order_stays_payable(quick, fake,
                                                                                                    discount):
    api, admin = Api(quick.url), Api(quick.url, quick.admin_token)
    auction, (lot,) = await live_lot(admin, end_in=3, lot_extra={"start_price": 30000, "deposit": 10000,
                                                                   "max_credit": 500})
    token, user = await api.login(next_phone())
    assert (await api.post("/api/deposits", {"auction_id": auction["id"], "lot_id": lot["id"], "pay_type": "balance"},
                           token=token))[0] == 201
    if discount == "credits":
        assert (await admin.post(f"/api/admin/users/{user['id']}/credits", {"amount": 500, "reason": "活动"}))[0] == 201
        use = {"credits": 500}
    else:
        coupon = await claiming_coupon(admin, value=5000)
        use = {"coupon_id": (await api.post(f"/api/coupons/{coupon['id']}/claim", token=token))[1]["user_coupon"]["id"]}
    assert (await api.post(f"/api/lots/{lot['id']}/bids", {"price": 30000}, token=token))[0] == 201
    status, orders = await wait_for(lambda: api.get("/api/orders?status=unpaid", token=token),
                                    lambda r: r[1]["unpaid"]["items"])
    (order,) = orders["unpaid"]["items"]
    address = (await api.post("/api/addresses", {"name": "王五", "phone": "13700000000", "province": "上海",
                                                 "city": "上海", "county": "黄浦", "detail": "2 号"}, token=token))[1]
    pay = {"address_id": address["id"], "pay_type": "wechat", **use}
    status, body = await api.post(f"/api/orders/{order['id']}/pay", pay, token=token)
    assert status == 200 and body["breakdown"]["to_pay"] == 15000, body
    assert await holds(api, token) == ({"credits": 0} if discount == "credits" else {"coupon": "locked"})
    assert (await api.post(f"/api/orders/{order['id']}/pay", pay, token=token))[1]["error"]["code"] == "order_not_payable"

    await wait_for(lambda: payment_of(api, token, body["payment"]), lambda p: p["status"] == "closed", timeout=10)
    # the holds go back in steps after the close; freeing the order is the last of them
    status, again = await wait_for(lambda: api.get(f"/api/orders/{order['id']}", token=token),
                                   lambda r: r[1]["payment"] is None, timeout=5)
    assert again["status"] == "unpaid"
    assert await holds(api, token) == ({"credits": 500} if discount == "credits" else {"coupon": "unused"})
    (deposit,) = (await api.get("/api/deposits", token=token))[1]["items"]
    assert (deposit["state"], deposit["remaining"], deposit["deductions"]) == ("held", 10000, [])
    status, paid = await api.post(f"/api/orders/{order['id']}/pay", {**pay, "pay_type": "balance"}, token=token)
    assert status == 200 and paid["order"]["status"] == "to_receive" and paid["breakdown"]["to_pay"] == 15000


async def holds(api, token) -> dict:
    """The buyer's credits, or the state of their one coupon."""
    credits = (await api.get("/api/wallet/credits", token=token))[1]
    if credits["lines"]:
        return {"credits": credits["credits"]}
    (coupon,) = [c for group in (await api.get("/api/my/coupons", token=token))[1].values() for c in group["items"]]
    return {"coupon": coupon["status"]}


async def test_a_gateway_deposit_goes_back_through_the_gateways_refund_retried_until_done(api, admin, server, fake):
    auction, (lot,) = await live_lot(admin, end_in=2.5)
    token, _ = await api.login(next_phone())
    status, body = await api.post("/api/deposits", {"auction_id": auction["id"], "lot_id": lot["id"],
                                                    "pay_type": "wechat"}, token=token)
    payment = body["payment"]
    headers, raw = fake.wechat.notification(payment["out_trade_no"], 5000, now_ms())
    assert await notify(api, "wechat", headers, raw) == (204, None)
    fake.answers["/v3/refund/domestic/refunds"] = (200, {"status": "PROCESSING"})

    def refund_of(items):
        return items[0]["refunds"][0]["status"] if items and items[0]["refunds"] else None
    await wait_for(lambda: api.get("/api/deposits", token=token), lambda r: refund_of(r[1]["items"]) == "pending")
    await wait_for(lambda: refund_calls(fake), lambda calls: len(calls) >= 2, timeout=10)  # asked again: still pending
    fake.answers["/v3/refund/domestic/refunds"] = (200, {"status": "SUCCESS"})
    status, mine = await wait_for(lambda: api.get("/api/deposits", token=token),
                                  lambda r: refund_of(r[1]["items"]) == "done", timeout=10)
    (deposit,) = mine["items"]
    refunds = await refund_calls(fake)
    assert {(r["out_trade_no"], r["out_refund_no"]) for r in refunds} == {(payment["out_trade_no"],
                                                                           deposit["refunds"][0]["uid"])}
    assert refunds[-1]["amount"] == {"refund": 5000, "total": 5000, "currency": "CNY"}
    assert deposit["state"] == "refunded" and await balance(api, token) == 100000


async def refund_calls(fake) -> list[dict]:
    return [sent for path, sent in fake.requests if path == "/v3/refund/domestic/refunds"]


async def test_the_payers_active_query_asks_the_gateway_and_follows_it(api, server, fake):
    token, _ = await api.login(next_phone())
    payment = await topup(api, token, 3000, "wechat")
    assert (await payment_of(api, token, payment))["status"] == "pending"  # WeChat knows no such payment yet
    path = f"/v3/pay/transactions/out-trade-no/{payment['out_trade_no']}"
    fake.answers[path] = (200, fake.wechat.transaction(payment["out_trade_no"], 3000, now_ms(), "SUCCESS", "42"))
    assert (await payment_of(api, token, payment))["status"] == "paid"
    assert await balance(api, token) == 103000
    other, _ = await api.login(next_phone())
    assert (await api.get(f"/api/payments/{payment['out_trade_no']}", token=other))[0] == 404


async def test_alipays_return_shows_the_result_but_changes_nothing(api, server, fake):
    token, _ = await api.login(next_phone())
    payment = await topup(api, token, 1000, "alipay")
    query = fake.alipay.return_query(payment["out_trade_no"], 1000, now_ms())
    status, page = await api.get(f"/api/payments/alipay/return?{query}", token="")
    assert status == 200 and "支付结果确认中" in page and payment["out_trade_no"] in page and "<script" not in page
    forged = AlipayPlatform(rsa.generate_private_key(public_exponent=65537, key_size=2048), APP_ID)
    status, page = await api.get(f"/api/payments/alipay/return?{forged.return_query(payment['out_trade_no'], 1000, 0)}")
    assert status == 400 and "无法确认支付结果" in page
    assert (await payment_of(api, token, payment))["status"] == "pending" and await balance(api, token) == 100000
    async with database(server.env["MONGODB_URL"]) as db:
        assert (await db.payments.find_one({"_id": payment["out_trade_no"]}))["effect"] == ""


async def test_alipay_trade_closed_closes_a_pending_payment_but_not_a_paid_one(api, server, fake):
    token, _ = await api.login(next_phone())
    pending, paid = await topup(api, token, 700, "alipay"), await topup(api, token, 800, "alipay")
    headers, raw = fake.alipay.notification(paid["out_trade_no"], 800, now_ms())
    assert await notify(api, "alipay", headers, raw) == (200, "success")
    for payment, amount in ((pending, 700), (paid, 800)):  # after a full refund Alipay says TRADE_CLOSED too
        headers, raw = fake.alipay.notification(payment["out_trade_no"], amount, now_ms(), trade_status="TRADE_CLOSED")
        assert await notify(api, "alipay", headers, raw) == (200, "success")
    assert (await payment_of(api, token, pending))["status"] == "closed"
    assert (await payment_of(api, token, paid))["status"] == "paid" and await balance(api, token) == 100800


async def test_a_restart_does_not_skip_the_close_of_a_payment_that_expired_while_the_server_was_down(server_factory):
    node = server_factory("payments-restart", PAYMENT_TIMEOUT_SECONDS=2)  # sandbox gateways
    api = Api(node.url)
    token, _ = await api.login(next_phone())
    payment = await topup(api, token, 900, "wechat")
    node.stop(sig=signal.SIGKILL)
    await asyncio.sleep(2.5)
    node.restart()
    closed = await wait_for(lambda: payment_of(api, token, payment), lambda p: p["status"] != "pending", timeout=5)
    assert closed["status"] == "closed"
