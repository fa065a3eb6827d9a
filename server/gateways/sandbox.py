"""The gateways' side, played locally: each platform holds the gateway's
private key and writes what the real gateway sends, signed the same way, so
that the adapters' real checks are what accepts it. Used by the sandbox pay
page (through `sandbox_platforms`) and by tests, which bring their own keys;
the request checks serve the tests' fake gateway servers."""
import base64
import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import InvalidSignature
from server.gateways.alipay import cents_to_yuan, china_time, content_alipay_signs, content_we_sign
from server.gateways.keys import (SANDBOX_ALIPAY_APP_ID, SANDBOX_WECHAT_APPID, SANDBOX_WECHAT_MCHID,
                                  SANDBOX_WECHAT_PLATFORM_SERIAL, sandbox_keys, sign_sha256, verify_sha256)
from server.gateways.wechat import MAX_SKEW_MS, SIGNATURE_TYPE, rfc3339

_AUTHORIZATION = re.compile(r'(\w+)="([^"]*)"')


def _digits(n: int) -> str:
    return str(secrets.randbelow(10 ** n)).zfill(n)


class WechatPlatform:
    def __init__(self, platform_key: RSAPrivateKey, serial: str, apiv3_key: bytes, mchid: str, appid: str):
        self.platform_key, self.serial, self.apiv3_key = platform_key, serial, apiv3_key
        self.mchid, self.appid = mchid, appid

    def signed(self, body: bytes, now_ms: int) -> dict[str, str]:
        """The headers that sign a notification or an API answer."""
        timestamp, nonce = str(now_ms // 1000), secrets.token_hex(16).upper()
        signature = sign_sha256(self.platform_key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n")
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
                "Wechatpay-Serial": self.serial, "Wechatpay-Signature-Type": SIGNATURE_TYPE}

    def transaction(self, out_trade_no: str, amount: int, now_ms: int, trade_state: str = "SUCCESS",
                    transaction_id: str = "", openid: str = "") -> dict:
        """A payment as the notification resource and the query answer describe it."""
        paid = trade_state == "SUCCESS"
        fields = {"appid": self.appid, "mchid": self.mchid, "out_trade_no": out_trade_no,
                  "transaction_id": transaction_id or "4200" + _digits(24),
                  "trade_type": "JSAPI" if openid else "NATIVE", "trade_state": trade_state,
                  "trade_state_desc": "支付成功" if paid else trade_state, "bank_type": "OTHERS", "attach": "",
                  "payer": {"openid": openid or "o" + secrets.token_hex(13)},
                  "amount": {"total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY"}}
        if paid:
            fields["success_time"] = rfc3339(now_ms)
        return fields

    def notification(self, out_trade_no: str, amount: int, now_ms: int, transaction_id: str = "",
                     openid: str = "", changes: dict | None = None) -> tuple[dict[str, str], bytes]:
        """A TRANSACTION.SUCCESS notification (WeChat Pay notifies nothing
        else); `changes` override the payment's fields."""
        payment = {**self.transaction(out_trade_no, amount, now_ms, "SUCCESS", transaction_id, openid),
                   **(changes or {})}
        plain = json.dumps(payment, ensure_ascii=False, separators=(",", ":")).encode()
        nonce, associated = secrets.token_hex(6), "transaction"
        ciphertext = AESGCM(self.apiv3_key).encrypt(nonce.encode(), plain, associated.encode())
        body = json.dumps({
            "id": "EV-" + secrets.token_hex(12), "create_time": rfc3339(now_ms), "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
            "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(ciphertext).decode(), "associated_data": associated,
                         "nonce": nonce}}, ensure_ascii=False).encode()
        return {"Content-Type": "application/json", **self.signed(body, now_ms)}, body

    @staticmethod
    def check_authorization(method: str, path: str, headers, body: bytes, merchant_key: RSAPublicKey,
                            merchant_serial: str, mchid: str, now_ms: int) -> None:
        """What the gateway checks of a merchant's request (`path` with its query)."""
        scheme, _, rest = (headers.get("Authorization") or "").partition(" ")
        fields = dict(_AUTHORIZATION.findall(rest))
        if scheme != SIGNATURE_TYPE or fields.get("mchid") != mchid or fields.get("serial_no") != merchant_serial:
            raise InvalidSignature("Authorization names another scheme, merchant or certificate")
        timestamp = fields.get("timestamp", "")
        if not timestamp.isdigit() or abs(now_ms - int(timestamp) * 1000) > MAX_SKEW_MS:
            raise InvalidSignature("Authorization timestamp is off")
        message = f"{method}\n{path}\n{timestamp}\n{fields.get('nonce_str', '')}\n".encode() + body + b"\n"
        if not verify_sha256(merchant_key, message, fields.get("signature", "")):
            raise InvalidSignature("Authorization signature does not verify")


class AlipayPlatform:
    def __init__(self, platform_key: RSAPrivateKey, app_id: str, seller_id: str = "2088000000000001"):
        self.platform_key, self.app_id, self.seller_id = platform_key, app_id, seller_id

    def notification(self, out_trade_no: str, amount: int, now_ms: int, trade_status: str = "TRADE_SUCCESS",
                     trade_no: str = "", charset: str = "utf-8", subject: str = "Gavel",
                     **extra: str) -> tuple[dict[str, str], bytes]:
        """The async notify: a form POST in `charset`; `extra` adds or
        overrides fields (an empty one is signed too, as Alipay does)."""
        yuan, now = cents_to_yuan(amount), china_time(now_ms)
        params = {"gmt_create": now, "charset": charset, "notify_time": now, "subject": subject,
                  "buyer_id": "2088102" + _digits(9),
                  "invoice_amount": yuan, "version": "1.0", "notify_id": secrets.token_hex(17),
                  "fund_bill_list": json.dumps([{"amount": yuan, "fundChannel": "ALIPAYACCOUNT"}]),
                  "notify_type": "trade_status_sync", "out_trade_no": out_trade_no, "total_amount": yuan,
                  "trade_status": trade_status, "trade_no": trade_no or self._trade_no(now_ms),
                  "auth_app_id": self.app_id, "receipt_amount": yuan, "point_amount": "0.00",
                  "buyer_pay_amount": yuan, "app_id": self.app_id, "sign_type": "RSA2", "seller_id": self.seller_id}
        if trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            params["gmt_payment"] = now
        params.update(extra)
        body = urlencode(self._sign(params, charset), encoding=charset).encode("ascii")
        return {"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}, body

    def return_query(self, out_trade_no: str, amount: int, now_ms: int, trade_no: str = "") -> str:
        """The query string Alipay sends the payer's browser back with."""
        params = {"charset": "utf-8", "out_trade_no": out_trade_no, "method": "alipay.trade.page.pay.return",
                  "total_amount": cents_to_yuan(amount), "trade_no": trade_no or self._trade_no(now_ms),
                  "auth_app_id": self.app_id, "version": "1.0", "app_id": self.app_id, "sign_type": "RSA2",
                  "seller_id": self.seller_id, "timestamp": china_time(now_ms)}
        return urlencode(self._sign(params, "utf-8"))

    def answer(self, method: str, node: dict) -> bytes:
        """An API answer: the node's exact JSON text is what is signed."""
        text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        name = method.replace(".", "_") + "_response"
        return f'{{"{name}":{text},"sign":"{sign_sha256(self.platform_key, text.encode())}"}}'.encode()

    @staticmethod
    def check_request(params: dict[str, str], app_key: RSAPublicKey, app_id: str) -> None:
        """What the gateway checks of an app's request (URL and form merged)."""
        if params.get("app_id") != app_id or params.get("sign_type") != "RSA2":
            raise InvalidSignature("another app, or not RSA2")
        message = content_we_sign(params).encode(params.get("charset", "utf-8"))
        if not verify_sha256(app_key, message, params.get("sign", "")):
            raise InvalidSignature("request sign does not verify")

    def _sign(self, params: dict[str, str], charset: str) -> dict[str, str]:
        return {**params, "sign": sign_sha256(self.platform_key, content_alipay_signs(params).encode(charset))}

    @staticmethod
    def _trade_no(now_ms: int) -> str:
        return china_time(now_ms)[:10].replace("-", "") + "2200" + _digits(16)


def sandbox_platforms(data_dir: Path) -> dict[str, WechatPlatform | AlipayPlatform]:
    """The platforms matching the sandbox adapters `create_gateways` makes."""
    keys = sandbox_keys(data_dir)
    return {"wechat": WechatPlatform(keys.wechat_platform, SANDBOX_WECHAT_PLATFORM_SERIAL, keys.wechat_apiv3_key,
                                     SANDBOX_WECHAT_MCHID, SANDBOX_WECHAT_APPID),
            "alipay": AlipayPlatform(keys.alipay_platform, SANDBOX_ALIPAY_APP_ID)}
