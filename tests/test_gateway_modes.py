"""The two modes. Sandbox: keys generated once into DATA_DIR, and the
sandbox platforms' messages pass the real checks. Live: the adapters call a
fake gateway on a local port that checks their signatures, and believe only
answers the platform signed."""
import json
import os
import stat
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.clock import SystemClock
from fake_gateways import FakeGateways, now_ms
from server.gateways import GatewayError, Notification, create_gateways
from server.gateways.alipay import Alipay, AlipayConfig
from server.gateways.keys import private_pem, public_pem, verify_sha256
from server.gateways.sandbox import AlipayPlatform, WechatPlatform, sandbox_platforms
from server.gateways.wechat import WechatConfig, WechatPay
from server.settings import load_settings

MCHID, APPID, SERIAL = "1230000109", "wxd678efh567hg6787", "PUB_KEY_ID_0112345"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD"
APP_ID, APIV3 = "2021000122671234", b"0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def keys():
    return {name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
            for name in ("merchant", "platform", "app", "alipay", "intruder")}


# Sandbox

def test_sandbox_keys_are_generated_once_private_and_reused(tmp_path):
    first = create_gateways(load_settings([], {}), tmp_path)
    folder = tmp_path / "gateways"
    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and len(files) == 5
    assert all(stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600 for name in files)
    again = create_gateways(load_settings([], {}), tmp_path)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == files
    assert first["wechat"].sandbox and again["alipay"].sandbox
    platforms, now = sandbox_platforms(tmp_path), now_ms()
    assert again["wechat"].verify(*platforms["wechat"].notification("GV1", 8800, now), now).amount == 8800
    assert again["alipay"].verify(*platforms["alipay"].notification("GV2", 8800, now), now).amount == 8800
    assert again["alipay"].verify_return(platforms["alipay"].return_query("GV2", 8800, now)).out_trade_no == "GV2"


@pytest.mark.gen_test(timeout=10)
async def test_sandbox_pays_on_its_own_page_asks_nothing_and_refunds_at_once(tmp_path):
    gateways = create_gateways(load_settings([], {}), tmp_path)
    wechat, alipay = gateways["wechat"], gateways["alipay"]
    made = await wechat.create("GV/7", 100, "Lot 7", "https://x/notify", "", now_ms() + 900_000, openid="o1")
    assert made["pay_url"] == "/sandbox/pay/GV%2F7" and made["pay_params"]["package"].startswith("prepay_id=")
    params = made["pay_params"]
    signed = "".join(params[k] + "\n" for k in ("appId", "timeStamp", "nonceStr", "package")).encode()
    merchant = wechat.config.merchant_key.public_key()
    assert verify_sha256(merchant, signed, params["paySign"])
    assert await alipay.create("GV8", 100, "Lot 8", "n", "r", now_ms() + 900_000) == {"pay_url": "/sandbox/pay/GV8"}
    assert await wechat.query("GV7") is None and await alipay.query("GV8") is None
    assert await wechat.refund("GV7", "R1", 100, 100) == "done" and await alipay.refund("GV8", "R2", 50, 100) == "done"


def test_a_gateway_is_live_with_all_its_settings_and_refused_with_some(tmp_path, keys):
    for name in ("merchant", "app"):
        (tmp_path / f"{name}.pem").write_bytes(private_pem(keys[name]))
    for name in ("platform", "alipay"):
        (tmp_path / f"{name}.pub").write_bytes(public_pem(keys[name].public_key()))
    env = {"WECHATPAY_MCHID": MCHID, "WECHATPAY_APPID": APPID, "WECHATPAY_APIV3_KEY": APIV3.decode(),
           "WECHATPAY_PLATFORM_PUBLIC_KEY": str(tmp_path / "platform.pub"), "WECHATPAY_PLATFORM_SERIAL": SERIAL,
           "WECHATPAY_PRIVATE_KEY": str(tmp_path / "merchant.pem"), "WECHATPAY_CERT_SERIAL": MERCHANT_SERIAL,
           "WECHATPAY_API_BASE": "http://127.0.0.1:9", "ALIPAY_APP_ID": APP_ID,
           "ALIPAY_APP_PRIVATE_KEY": str(tmp_path / "app.pem"), "ALIPAY_PUBLIC_KEY": str(tmp_path / "alipay.pub")}
    gateways = create_gateways(load_settings([], env), tmp_path / "data")  # constructing calls nobody
    assert not gateways["wechat"].sandbox and not gateways["alipay"].sandbox
    assert not (tmp_path / "data").exists()
    now = now_ms()
    platform = WechatPlatform(keys["platform"], SERIAL, APIV3, MCHID, APPID)
    assert gateways["wechat"].verify(*platform.notification("GV1", 1, now), now).amount == 1
    for partial in ({"ALIPAY_APP_ID": APP_ID}, {k: v for k, v in env.items() if k != "WECHATPAY_CERT_SERIAL"},
                    {**env, "WECHATPAY_APIV3_KEY": "short"}):
        with pytest.raises(SystemExit, match="bad configuration"):
            load_settings([], partial)


# Live, against the fake gateways

@pytest.fixture
def fake(keys):
    return FakeGateways(WechatPlatform(keys["platform"], SERIAL, APIV3, MCHID, APPID),
                        keys["merchant"].public_key(), MERCHANT_SERIAL,
                        AlipayPlatform(keys["alipay"], APP_ID), keys["app"].public_key())


@pytest.fixture
def app(fake):
    return fake.app()


@pytest.fixture
def gateway_url(http_server, http_port):
    return f"http://127.0.0.1:{http_port}"


def wechat_pay(keys, url, merchant="merchant"):
    return WechatPay(WechatConfig(MCHID, APPID, APIV3, keys[merchant], MERCHANT_SERIAL, keys["platform"].public_key(),
                                  SERIAL, url, False), SystemClock(), 5)


def alipay_app(keys, url, app="app"):
    return Alipay(AlipayConfig(APP_ID, keys[app], keys["alipay"].public_key(), url + "/gateway.do", False),
                  SystemClock(), 5)


@pytest.mark.gen_test(timeout=10)
async def test_wechat_jsapi_order_is_signed_and_its_pay_params_too(keys, fake, gateway_url):
    fake.answers["/v3/pay/transactions/jsapi"] = (200, {"prepay_id": "wx201410272009395522657a690389285100"})
    expire = now_ms() + 900_000
    made = await wechat_pay(keys, gateway_url).create("GV1", 123456, "Lot 1", "https://g/notify", "", expire, "o1")
    (path, order), = fake.requests
    assert order["amount"] == {"total": 123456, "currency": "CNY"} and order["payer"] == {"openid": "o1"}
    assert order["time_expire"].endswith("+08:00") and order["notify_url"] == "https://g/notify"
    assert (order["mchid"], order["appid"], order["out_trade_no"]) == (MCHID, APPID, "GV1")
    params = made["pay_params"]
    signed = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\nprepay_id=wx201410272009395522657a690389285100\n"
    assert verify_sha256(keys["merchant"].public_key(), signed.encode(), params["paySign"])


@pytest.mark.gen_test(timeout=10)
async def test_wechat_native_order_gives_the_code_url(keys, fake, gateway_url):
    fake.answers["/v3/pay/transactions/native"] = (200, {"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"})
    made = await wechat_pay(keys, gateway_url).create("GV1", 100, "Lot", "https://g/n", "", now_ms() + 60_000)
    assert made == {"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}


@pytest.mark.gen_test(timeout=10)
async def test_wechat_query_reads_the_signed_transaction_or_none(keys, fake, gateway_url):
    now = now_ms()
    paid = fake.wechat.transaction("GV1", 500, now, "SUCCESS", "42")
    fake.answers["/v3/pay/transactions/out-trade-no/GV1"] = (200, paid)
    wechat = wechat_pay(keys, gateway_url)
    assert await wechat.query("GV1") == Notification("GV1", 500, "paid", "42", now // 1000 * 1000)
    assert fake.requests[-1] == ("/v3/pay/transactions/out-trade-no/GV1", {"mchid": MCHID})
    assert await wechat.query("GV404") is None


@pytest.mark.gen_test(timeout=10)
async def test_a_wechat_answer_signed_with_another_key_is_not_believed(keys, fake, gateway_url):
    fake.answers["/v3/pay/transactions/out-trade-no/GV1"] = (200, fake.wechat.transaction("GV1", 500, now_ms()))
    fake.wechat_signer = WechatPlatform(keys["intruder"], SERIAL, APIV3, MCHID, APPID)
    with pytest.raises(GatewayError, match="does not verify"):
        await wechat_pay(keys, gateway_url).query("GV1")


@pytest.mark.gen_test(timeout=10)
async def test_wechat_refuses_a_request_signed_with_another_merchant_key(keys, fake, gateway_url):
    with pytest.raises(GatewayError, match="401"):
        await wechat_pay(keys, gateway_url, merchant="intruder").query("GV1")
    assert fake.requests == []


@pytest.mark.gen_test(timeout=10)
async def test_wechat_refund_is_done_or_pending_as_wechat_says(keys, fake, gateway_url):
    wechat, path = wechat_pay(keys, gateway_url), "/v3/refund/domestic/refunds"
    fake.answers[path] = (200, {"status": "SUCCESS", "out_refund_no": "R1"})
    assert await wechat.refund("GV1", "R1", 300, 500) == "done"
    assert fake.requests[-1][1] == {"out_trade_no": "GV1", "out_refund_no": "R1",
                                    "amount": {"refund": 300, "total": 500, "currency": "CNY"}}
    fake.answers[path] = (200, {"status": "PROCESSING"})
    assert await wechat.refund("GV1", "R1", 300, 500) == "pending"
    fake.answers[path] = (200, {"status": "ABNORMAL"})
    with pytest.raises(GatewayError, match="ABNORMAL"):
        await wechat.refund("GV1", "R1", 300, 500)


@pytest.mark.gen_test(timeout=10)
async def test_an_unreachable_gateway_is_a_gateway_error(keys):
    with pytest.raises(GatewayError, match="unreachable"):
        await wechat_pay(keys, "http://127.0.0.1:9").query("GV1")


@pytest.mark.gen_test(timeout=10)
async def test_alipay_page_pay_url_is_signed_here_without_a_call(keys, fake, gateway_url):
    made = await alipay_app(keys, gateway_url).create("GV1", 123405, "青花瓷", "https://g/n", "https://g/r",
                                                      now_ms() + 900_000)
    url = urlsplit(made["pay_url"])
    params = dict(parse_qsl(url.query, keep_blank_values=True))
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k])
    assert verify_sha256(keys["app"].public_key(), content.encode(), params["sign"])
    assert params["app_id"] == APP_ID and params["sign_type"] == "RSA2" and params["charset"] == "utf-8"
    order = json.loads(params["biz_content"])
    assert (order["total_amount"], order["subject"], params["method"]) == ("1234.05", "青花瓷", "alipay.trade.page.pay")
    assert (params["notify_url"], params["return_url"]) == ("https://g/n", "https://g/r") and fake.requests == []


@pytest.mark.gen_test(timeout=10)
async def test_alipay_query_reads_the_signed_answer_or_none(keys, fake, gateway_url):
    fake.answers["alipay.trade.query"] = {
        "code": "10000", "msg": "Success", "out_trade_no": "GV1", "trade_no": "2026030122001", "total_amount": "88.00",
        "trade_status": "TRADE_SUCCESS", "send_pay_date": "2026-03-01 20:00:00", "subject": "a } in {a string}"}
    alipay = alipay_app(keys, gateway_url)
    paid = await alipay.query("GV1")
    assert paid == Notification("GV1", 8800, "paid", "2026030122001", 1772366400000)
    assert fake.requests[-1][1]["biz_content"] == {"out_trade_no": "GV1"}
    fake.answers["alipay.trade.query"] = {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
    assert await alipay.query("GV2") is None
    fake.alipay_signer = AlipayPlatform(keys["intruder"], APP_ID)
    with pytest.raises(GatewayError, match="not signed by Alipay"):
        await alipay.query("GV2")


@pytest.mark.gen_test(timeout=10)
async def test_alipay_refuses_a_request_signed_with_another_app_key(keys, fake, gateway_url):
    with pytest.raises(GatewayError, match="40002"):
        await alipay_app(keys, gateway_url, app="intruder").query("GV1")


@pytest.mark.gen_test(timeout=10)
async def test_alipay_refund_is_done_when_money_moved_or_the_refund_query_says_so(keys, fake, gateway_url):
    alipay = alipay_app(keys, gateway_url)
    fake.answers["alipay.trade.refund"] = {"code": "10000", "msg": "Success", "fund_change": "Y", "refund_fee": "3.00"}
    assert await alipay.refund("GV1", "R1", 300, 500) == "done"
    assert fake.requests[-1][1]["biz_content"] == {"out_trade_no": "GV1", "out_request_no": "R1",
                                                   "refund_amount": "3.00"}
    fake.answers["alipay.trade.refund"] = {"code": "10000", "msg": "Success", "fund_change": "N"}
    fake.answers["alipay.trade.fastpay.refund.query"] = {"code": "10000", "msg": "Success", "refund_amount": "3.00",
                                                         "refund_status": "REFUND_SUCCESS"}
    assert await alipay.refund("GV1", "R1", 300, 500) == "done"
    fake.answers["alipay.trade.fastpay.refund.query"] = {"code": "10000", "msg": "Success"}
    assert await alipay.refund("GV1", "R1", 300, 500) == "pending"
    fake.answers["alipay.trade.refund"] = {"code": "40004", "msg": "Business Failed",
                                           "sub_code": "ACQ.TRADE_STATUS_ERROR"}
    with pytest.raises(GatewayError, match="TRADE_STATUS_ERROR"):
        await alipay.refund("GV1", "R1", 300, 500)
