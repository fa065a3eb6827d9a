"""The gateways' checks, played against the tests' own key pairs: what a real
notification carries is accepted and read exactly; anything forged, altered,
stale, misaddressed or malformed is refused with the domain's error."""
import base64
import json
import secrets
from urllib.parse import parse_qsl, urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from tornado.httputil import HTTPHeaders

from domain.clock import FixedClock, from_iso
from domain.errors import InvalidRequest, InvalidSignature
from server.gateways import Notification
from server.gateways.alipay import Alipay, AlipayConfig, yuan_to_cents
from server.gateways.keys import sign_sha256, verify_sha256
from server.gateways.sandbox import AlipayPlatform, WechatPlatform
from server.gateways.wechat import WechatConfig, WechatPay

NOW = from_iso("2026-03-01T12:00:00Z")
MCHID, APPID, SERIAL, APP_ID = "1230000109", "wxd678efh567hg6787", "PUB_KEY_ID_0112345", "2021000122671234"


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys():
    return {"merchant": new_key(), "platform": new_key(), "intruder": new_key(), "app": new_key(),
            "alipay": new_key(), "apiv3": secrets.token_hex(16).encode()}


@pytest.fixture
def wechat(keys):
    config = WechatConfig(MCHID, APPID, keys["apiv3"], keys["merchant"], "MERCHANT-CERT-1",
                          keys["platform"].public_key(), SERIAL, "http://127.0.0.1:9", False)
    return WechatPay(config, FixedClock(NOW), 5)


@pytest.fixture
def platform(keys):
    return WechatPlatform(keys["platform"], SERIAL, keys["apiv3"], MCHID, APPID)


@pytest.fixture
def alipay(keys):
    return Alipay(AlipayConfig(APP_ID, keys["app"], keys["alipay"].public_key(), "http://127.0.0.1:9", False),
                  FixedClock(NOW), 5)


@pytest.fixture
def alipay_side(keys):
    return AlipayPlatform(keys["alipay"], APP_ID)


# WeChat Pay

def test_a_wechat_notification_verifies_into_the_payment_it_describes(wechat, platform):
    headers, body = platform.notification("GV20260301001", 123456, NOW, transaction_id="4200001234")
    assert wechat.verify(headers, body, NOW) == Notification("GV20260301001", 123456, "paid", "4200001234", NOW)


def test_wechat_headers_are_read_whatever_their_case(wechat, platform):
    headers, body = platform.notification("GV1", 100, NOW)
    assert wechat.verify({k.lower(): v for k, v in headers.items()}, body, NOW).amount == 100
    assert wechat.verify(HTTPHeaders(headers), body, NOW).amount == 100


@pytest.mark.parametrize("skew_s", [-300, 300])
def test_a_wechat_timestamp_five_minutes_off_is_still_accepted(wechat, platform, skew_s):
    headers, body = platform.notification("GV1", 100, NOW + skew_s * 1000)
    assert wechat.verify(headers, body, NOW).status == "paid"


@pytest.mark.parametrize("skew_s", [-301, 301, -86400])
def test_a_wechat_timestamp_more_than_five_minutes_off_is_refused(wechat, platform, skew_s):
    headers, body = platform.notification("GV1", 100, NOW + skew_s * 1000)
    with pytest.raises(InvalidSignature, match="five minutes"):
        wechat.verify(headers, body, NOW)


def test_a_forged_wechat_signature_is_refused(wechat, platform):
    headers, body = platform.notification("GV1", 100, NOW)
    headers["Wechatpay-Signature"] = headers["Wechatpay-Signature"][:-8] + "AAAAAAA="
    with pytest.raises(InvalidSignature):
        wechat.verify(headers, body, NOW)


def test_a_wechat_body_changed_after_signing_is_refused(wechat, platform):
    headers, body = platform.notification("GV1", 100, NOW)
    with pytest.raises(InvalidSignature, match="does not verify"):
        wechat.verify(headers, body.replace(b'"summary":', b'"summary" :'), NOW)


def test_a_wechat_notification_signed_with_another_key_is_refused(wechat, keys):
    impostor = WechatPlatform(keys["intruder"], SERIAL, keys["apiv3"], MCHID, APPID)
    with pytest.raises(InvalidSignature, match="does not verify"):
        wechat.verify(*impostor.notification("GV1", 100, NOW), NOW)


def test_an_unknown_wechat_serial_is_refused(wechat, keys):
    other = WechatPlatform(keys["platform"], "PUB_KEY_ID_OTHER", keys["apiv3"], MCHID, APPID)
    with pytest.raises(InvalidSignature, match="Serial"):
        wechat.verify(*other.notification("GV1", 100, NOW), NOW)


@pytest.mark.parametrize("missing", ["Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce"])
def test_an_unsigned_wechat_notification_is_refused(wechat, platform, missing):
    headers, body = platform.notification("GV1", 100, NOW)
    del headers[missing]
    with pytest.raises(InvalidSignature, match="unsigned"):
        wechat.verify(headers, body, NOW)


@pytest.mark.parametrize("field", ["mchid", "appid"])
def test_a_wechat_payment_for_another_merchant_is_refused(wechat, platform, field):
    headers, body = platform.notification("GV1", 100, NOW, changes={field: "someone-else"})
    with pytest.raises(InvalidSignature, match="merchant"):
        wechat.verify(headers, body, NOW)


def test_a_wechat_resource_not_encrypted_with_our_api_v3_key_is_refused(wechat, keys):
    other = WechatPlatform(keys["platform"], SERIAL, secrets.token_hex(16).encode(), MCHID, APPID)
    with pytest.raises(InvalidSignature, match="API v3 key"):
        wechat.verify(*other.notification("GV1", 100, NOW), NOW)


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"resource":{"algorithm":"AEAD_AES_256_GCM"}}',
                                  b'{"resource":{"algorithm":"AES_128_CBC","ciphertext":"x","nonce":"y"}}',
                                  b'{"resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"%%","nonce":"n"}}'])
def test_a_signed_but_malformed_wechat_body_is_refused(wechat, platform, body):
    with pytest.raises(InvalidRequest):
        wechat.verify(platform.signed(body, NOW), body, NOW)


@pytest.mark.parametrize("amount", [{"total": 100.0}, {"total": "100"}, {"total": True}, {"total": -1}, {}, "100"])
def test_a_wechat_amount_that_is_not_whole_cents_is_refused(wechat, platform, amount):
    with pytest.raises(InvalidRequest, match="amount"):
        wechat.verify(*platform.notification("GV1", 100, NOW, changes={"amount": amount}), NOW)


@pytest.mark.parametrize("state, status", [("SUCCESS", "paid"), ("NOTPAY", "pending"), ("CLOSED", "closed"),
                                           ("PAYERROR", "closed"), ("USERPAYING", "pending")])
def test_wechat_trade_states_map_to_payment_statuses(wechat, platform, state, status):
    assert wechat.transaction(platform.transaction("GV1", 100, NOW, state)).status == status


def test_wechat_is_answered_empty_when_taken_and_fail_to_be_retried(wechat):
    assert wechat.answer(True)[:1] == (204,) and wechat.answer(True)[2] == b""
    status, content_type, body = wechat.answer(False)
    assert 400 <= status < 600 and content_type.startswith("application/json")
    assert json.loads(body)["code"] == "FAIL"


def test_wechat_pay_params_are_signed_by_the_merchant_key(wechat, keys):
    params = wechat.pay_params("wx201410272009395522657a690389285100")
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100" and params["signType"] == "RSA"
    signed = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    assert verify_sha256(keys["merchant"].public_key(), signed, params["paySign"])


# Alipay

def test_an_alipay_notification_verifies_into_the_payment_it_describes(alipay, alipay_side):
    headers, body = alipay_side.notification("GV20260301002", 123456, NOW, trade_no="2026030122001")
    assert alipay.verify(headers, body, NOW) == Notification("GV20260301002", 123456, "paid", "2026030122001", NOW)


def test_alipay_empty_values_are_signed_and_checked(alipay, alipay_side, keys):
    """Alipay signs a notification's empty fields too (AlipaySignature's V1 check)."""
    headers, body = alipay_side.notification("GV1", 100, NOW, body="", passback_params="")
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type"))
    assert "&body=&" in content
    keys["alipay"].public_key().verify(base64.b64decode(params["sign"]), content.encode(), PKCS1v15(), SHA256())
    assert alipay.verify(headers, body, NOW).amount == 100


def test_an_alipay_signature_that_left_out_empty_values_is_refused(alipay, keys):
    params = {"app_id": APP_ID, "charset": "utf-8", "out_trade_no": "GV1", "total_amount": "1.00",
              "trade_no": "2026", "trade_status": "TRADE_SUCCESS", "body": "", "sign_type": "RSA2"}
    content = "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] and k != "sign_type")
    params["sign"] = sign_sha256(keys["alipay"], content.encode())
    with pytest.raises(InvalidSignature):
        alipay.verify({}, urlencode(params).encode(), NOW)


def test_alipay_values_are_checked_exactly_as_sent_not_stripped(alipay, alipay_side):
    """Why the raw body: a parser that strips values (Tornado's arguments) breaks the signature."""
    headers, body = alipay_side.notification("GV1", 100, NOW, subject="  拍品 7 + 1=2&3  ")
    assert alipay.verify(headers, body, NOW).amount == 100
    stripped = {k: v.strip() for k, v in parse_qsl(body.decode(), keep_blank_values=True)}
    with pytest.raises(InvalidSignature):
        alipay.verify_return(stripped)


def test_an_alipay_notification_in_gbk_is_checked_in_gbk(alipay, alipay_side):
    headers, body = alipay_side.notification("GV1", 2000, NOW, charset="gbk", subject="青花瓷瓶")
    assert b"%C7%E0" in body  # 青, in GBK
    assert alipay.verify(headers, body, NOW).amount == 2000


def test_a_forged_alipay_signature_is_refused(alipay, keys):
    impostor = AlipayPlatform(keys["intruder"], APP_ID)
    with pytest.raises(InvalidSignature, match="does not verify"):
        alipay.verify(*impostor.notification("GV1", 100, NOW), NOW)


def test_an_alipay_body_changed_after_signing_is_refused(alipay, alipay_side):
    headers, body = alipay_side.notification("GV1", 12345, NOW)
    with pytest.raises(InvalidSignature):
        alipay.verify(headers, body.replace(b"total_amount=123.45", b"total_amount=1.23"), NOW)


def test_an_alipay_notification_for_another_app_is_refused(alipay, keys):
    other = AlipayPlatform(keys["alipay"], "2021000999999999")
    with pytest.raises(InvalidSignature, match="app_id"):
        alipay.verify(*other.notification("GV1", 100, NOW), NOW)


@pytest.mark.parametrize("change", [{"sign": ""}, {"sign_type": "RSA"}])
def test_an_unsigned_or_rsa1_alipay_notification_is_refused(alipay, alipay_side, change):
    headers, body = alipay_side.notification("GV1", 100, NOW)
    params = dict(parse_qsl(body.decode(), keep_blank_values=True)) | change
    with pytest.raises(InvalidSignature):
        alipay.verify(headers, urlencode(params).encode(), NOW)


@pytest.mark.parametrize("body", [b"a=1&a=2&sign=x", b"garbage", b"=1&sign=x", b"charset=latin9&sign=x",
                                  b"charset=utf-8&subject=%FF&sign=x"])
def test_a_malformed_alipay_body_is_refused(alipay, body):
    with pytest.raises(InvalidRequest):
        alipay.verify({}, body, NOW)


@pytest.mark.parametrize("total", ["12.345", "1e3", "-1.00", "01.00", " 1.00", "1,00", "NaN", ""])
def test_an_alipay_amount_that_is_not_exact_yuan_is_refused(alipay, alipay_side, total):
    headers, body = alipay_side.notification("GV1", 100, NOW, total_amount=total)
    with pytest.raises(InvalidRequest, match="amount"):
        alipay.verify(headers, body, NOW)


@pytest.mark.parametrize("text, cents", [("0.01", 1), ("12.3", 1230), ("12", 1200), ("99999.99", 9999999),
                                         ("1579.00", 157900)])
def test_yuan_become_exact_cents(text, cents):
    assert yuan_to_cents(text) == cents


@pytest.mark.parametrize("trade_status, status", [("TRADE_SUCCESS", "paid"), ("TRADE_FINISHED", "paid"),
                                                  ("TRADE_CLOSED", "closed"), ("WAIT_BUYER_PAY", "pending")])
def test_alipay_trade_statuses_map_to_payment_statuses(alipay, alipay_side, trade_status, status):
    notification = alipay.verify(*alipay_side.notification("GV1", 100, NOW, trade_status), NOW)
    assert notification.status == status and notification.paid_at == (NOW if status == "paid" else 0)


def test_an_unknown_alipay_trade_status_is_refused(alipay, alipay_side):
    with pytest.raises(InvalidRequest, match="trade_status"):
        alipay.verify(*alipay_side.notification("GV1", 100, NOW, "TRADE_PENDING"), NOW)


def test_the_alipay_return_is_checked_the_same_and_decides_nothing(alipay, alipay_side):
    query = alipay_side.return_query("GV1", 157900, NOW, trade_no="2026030122009")
    expected = Notification("GV1", 157900, "pending", "2026030122009", 0)
    assert alipay.verify_return(query) == expected
    assert alipay.verify_return(dict(parse_qsl(query, keep_blank_values=True))) == expected
    with pytest.raises(InvalidSignature):
        alipay.verify_return(query.replace("total_amount=1579.00", "total_amount=1.00"))


def test_alipay_is_answered_success_or_fail_in_plain_text(alipay):
    assert alipay.answer(True) == (200, "text/plain; charset=utf-8", b"success")
    assert alipay.answer(False) == (200, "text/plain; charset=utf-8", b"fail")
