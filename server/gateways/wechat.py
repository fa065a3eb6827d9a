"""WeChat Pay API v3: a merchant's side, with `cryptography` directly.

Not the `wechatpayv3` SDK (2.0.4): its client downloads platform
certificates at construction, and again, over the network, while verifying
a notification whose serial it does not know; it calls with blocking
`requests` (its async flavour brings httpx and aiofiles); it never checks
the age of `Wechatpay-Timestamp`; and its verification answers None for
every failure alike. The v3 rules it would save are a few lines each here.
"""
import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from tornado.httpclient import HTTPRequest

from domain.clock import from_iso
from domain.errors import DomainError, InvalidRequest, InvalidSignature
from server.gateways import BEIJING, GatewayError, Notification, fetch
from server.gateways.keys import (SANDBOX_WECHAT_APPID, SANDBOX_WECHAT_MCHID, SANDBOX_WECHAT_MERCHANT_SERIAL,
                                  SANDBOX_WECHAT_PLATFORM_SERIAL, load_private_key, load_public_key,
                                  sign_sha256, verify_sha256)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_MS = 5 * 60 * 1000
TRADE_STATES = {"SUCCESS": "paid", "REFUND": "paid", "NOTPAY": "pending", "USERPAYING": "pending",
                "CLOSED": "closed", "REVOKED": "closed", "PAYERROR": "closed"}
REFUND_STATES = {"SUCCESS": "done", "PROCESSING": "pending"}


@dataclass(frozen=True)
class WechatConfig:
    mchid: str
    appid: str
    apiv3_key: bytes
    merchant_key: RSAPrivateKey     # signs our requests and the mini-program's pay_params
    merchant_serial: str            # serial of the merchant API certificate
    platform_key: RSAPublicKey      # verifies what WeChat Pay sends
    platform_serial: str
    api_base: str
    sandbox: bool

    @classmethod
    def live(cls, settings) -> "WechatConfig":
        return cls(settings.wechatpay_mchid, settings.wechatpay_appid, settings.wechatpay_apiv3_key.encode(),
                   load_private_key(settings.wechatpay_private_key), settings.wechatpay_cert_serial,
                   load_public_key(settings.wechatpay_platform_public_key), settings.wechatpay_platform_serial,
                   settings.wechatpay_api_base.rstrip("/"), False)

    @classmethod
    def sandbox(cls, keys, settings) -> "WechatConfig":
        return cls(SANDBOX_WECHAT_MCHID, SANDBOX_WECHAT_APPID, keys.wechat_apiv3_key, keys.wechat_merchant,
                   SANDBOX_WECHAT_MERCHANT_SERIAL, keys.wechat_platform.public_key(),
                   SANDBOX_WECHAT_PLATFORM_SERIAL, settings.wechatpay_api_base.rstrip("/"), True)


def check_signed(headers, body: bytes, key: RSAPublicKey, serial: str, now_ms: int) -> None:
    """The v3 signature of a notification or an API answer: `Wechatpay-Signature`
    over "timestamp\\nnonce\\nbody\\n", by the platform key named by the serial,
    at most five minutes from now."""
    fields = {name.lower(): value for name, value in headers.items()}
    signature, timestamp, nonce = (fields.get("wechatpay-" + n, "") for n in ("signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise InvalidSignature("unsigned: Wechatpay-Signature, -Timestamp and -Nonce are required")
    if fields.get("wechatpay-serial", "") != serial:
        raise InvalidSignature("Wechatpay-Serial is not the platform key's")
    if fields.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise InvalidSignature("unsupported Wechatpay-Signature-Type")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidSignature("Wechatpay-Timestamp is not a time")
    if abs(now_ms - int(timestamp) * 1000) > MAX_SKEW_MS:
        raise InvalidSignature("Wechatpay-Timestamp is more than five minutes off")
    try:
        message = f"{timestamp}\n{nonce}\n".encode("latin-1") + body + b"\n"  # headers arrive as latin-1
    except UnicodeEncodeError:
        raise InvalidSignature("Wechatpay-Nonce is not a nonce") from None
    if not verify_sha256(key, message, signature):
        raise InvalidSignature("Wechatpay-Signature does not verify")


def decrypt_resource(resource, apiv3_key: bytes) -> bytes:
    """AEAD_AES_256_GCM with the API v3 key; nonce and associated data are the resource's own."""
    if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise InvalidRequest("resource is not AEAD_AES_256_GCM")
    ciphertext, nonce, associated = (resource.get(k, "") for k in ("ciphertext", "nonce", "associated_data"))
    if not all(isinstance(v, str) for v in (ciphertext, nonce, associated)) or not (ciphertext and nonce):
        raise InvalidRequest("resource lacks ciphertext or nonce")
    try:
        return AESGCM(apiv3_key).decrypt(nonce.encode(), base64.b64decode(ciphertext, validate=True),
                                         associated.encode())
    except InvalidTag:
        raise InvalidSignature("resource does not decrypt with the API v3 key") from None
    except (binascii.Error, ValueError):
        raise InvalidRequest("resource is not base64 with a usable nonce") from None


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, BEIJING).isoformat(timespec="seconds")


def _json(data: bytes) -> dict:
    try:
        value = json.loads(data)
    except ValueError:
        raise InvalidRequest("body is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("body is not a JSON object")
    return value


class WechatPay:
    name = "wechat"

    def __init__(self, config: WechatConfig, clock, timeout_s: float):
        self.config, self.clock, self.timeout_s = config, clock, timeout_s
        self.sandbox = config.sandbox

    async def create(self, out_trade_no, amount, subject, notify_url, return_url, expire_at_ms, openid=""):
        """JSAPI (mini-program) with an openid, else Native (a QR code's URL).
        WeChat has no return URL: the page polls the payment instead."""
        if self.sandbox:
            return {"pay_url": f"/sandbox/pay/{quote(out_trade_no, safe='')}",
                    "pay_params": self.pay_params(f"wx_sandbox_{out_trade_no}")}
        order = {"appid": self.config.appid, "mchid": self.config.mchid, "description": subject[:127],
                 "out_trade_no": out_trade_no, "time_expire": rfc3339(expire_at_ms), "notify_url": notify_url,
                 "amount": {"total": amount, "currency": "CNY"}}
        if openid:
            order["payer"] = {"openid": openid}
            answer = await self._expect(200, "POST", "/v3/pay/transactions/jsapi", order)
            return {"pay_params": self.pay_params(self._field(answer, "prepay_id"))}
        answer = await self._expect(200, "POST", "/v3/pay/transactions/native", order)
        return {"code_url": self._field(answer, "code_url")}

    def pay_params(self, prepay_id: str) -> dict:
        """`wx.requestPayment`'s arguments, signed with the merchant key."""
        params = {"appId": self.config.appid, "timeStamp": str(self.clock.now_ms() // 1000),
                  "nonceStr": secrets.token_hex(16), "package": f"prepay_id={prepay_id}", "signType": "RSA"}
        message = "".join(params[k] + "\n" for k in ("appId", "timeStamp", "nonceStr", "package"))
        return {**params, "paySign": sign_sha256(self.config.merchant_key, message.encode())}

    def verify(self, headers, body: bytes, now_ms: int) -> Notification:
        config = self.config
        check_signed(headers, body, config.platform_key, config.platform_serial, now_ms)
        resource = _json(body).get("resource")
        if not isinstance(resource, dict) or resource.get("original_type", "transaction") != "transaction":
            raise InvalidRequest("not a payment notification")
        return self.transaction(_json(decrypt_resource(resource, config.apiv3_key)))

    def transaction(self, fields: dict) -> Notification:
        """A payment as WeChat describes it (notification resource or query answer)."""
        if fields.get("mchid") != self.config.mchid or fields.get("appid") != self.config.appid:
            raise InvalidSignature("the payment is not this merchant's")
        out_trade_no, state = fields.get("out_trade_no"), fields.get("trade_state")
        trade_no, when = fields.get("transaction_id", ""), fields.get("success_time", "")
        if not (isinstance(out_trade_no, str) and out_trade_no and isinstance(trade_no, str)):
            raise InvalidRequest("out_trade_no and transaction_id must be text")
        if not isinstance(state, str) or state not in TRADE_STATES:
            raise InvalidRequest(f"unknown trade_state {state!r}")
        amount = fields.get("amount", {})  # absent until paid
        total = amount.get("total", 0) if isinstance(amount, dict) else None
        if type(total) is not int or total < 0 or (TRADE_STATES[state] == "paid" and not total):
            raise InvalidRequest("amount.total must be whole cents")
        try:
            paid_at = from_iso(when) if when else 0
        except (TypeError, ValueError):
            raise InvalidRequest("success_time is not a time") from None
        return Notification(out_trade_no, total, TRADE_STATES[state], trade_no, paid_at)

    def answer(self, ok: bool, message: str = "失败") -> tuple[int, str, bytes]:
        if ok:
            return 204, "application/json", b""
        body = json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False).encode()
        return 400, "application/json; charset=utf-8", body

    async def query(self, out_trade_no: str) -> Notification | None:
        if self.sandbox:
            return None
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}?mchid={self.config.mchid}"
        code, answer = await self._call("GET", path)
        if code == 404 and answer.get("code") == "ORDER_NOT_EXIST":
            return None
        if code != 200:
            raise self._refused(code, answer)
        try:
            return self.transaction(answer)
        except DomainError as exc:
            raise GatewayError(f"WeChat Pay's answer: {exc.message}") from None

    async def refund(self, out_trade_no: str, refund_no: str, amount: int, total: int) -> str:
        if self.sandbox:
            return "done"
        request = {"out_trade_no": out_trade_no, "out_refund_no": refund_no,
                   "amount": {"refund": amount, "total": total, "currency": "CNY"}}
        status = self._field(await self._expect(200, "POST", "/v3/refund/domestic/refunds", request), "status")
        if status not in REFUND_STATES:
            raise GatewayError(f"WeChat Pay refund {refund_no} is {status}")
        return REFUND_STATES[status]

    async def _expect(self, wanted: int, method: str, path: str, payload: dict) -> dict:
        code, answer = await self._call(method, path, payload)
        if code != wanted:
            raise self._refused(code, answer)
        return answer

    async def _call(self, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        """One signed request; a 2xx answer counts only if the platform signed it."""
        config = self.config
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() if payload else b""
        timestamp, nonce = str(self.clock.now_ms() // 1000), secrets.token_hex(16).upper()
        signed = f"{method}\n{urlsplit(config.api_base).path}{path}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"
        authorization = (f'{SIGNATURE_TYPE} mchid="{config.mchid}",nonce_str="{nonce}",'
                         f'signature="{sign_sha256(config.merchant_key, signed)}",timestamp="{timestamp}",'
                         f'serial_no="{config.merchant_serial}"')
        request = HTTPRequest(config.api_base + path, method, body=body if method != "GET" else None,
                              headers={"Authorization": authorization, "Accept": "application/json",
                                       "Content-Type": "application/json", "User-Agent": "Gavel"},
                              connect_timeout=self.timeout_s, request_timeout=self.timeout_s)
        response = await fetch(request, "WeChat Pay")
        try:
            if 200 <= response.code < 300:
                check_signed(response.headers, response.body or b"", config.platform_key,
                             config.platform_serial, self.clock.now_ms())
            return response.code, _json(response.body) if response.body else {}
        except DomainError as exc:
            raise GatewayError(f"WeChat Pay's answer ({response.code}): {exc.message}") from None

    @staticmethod
    def _field(answer: dict, name: str) -> str:
        value = answer.get(name)
        if not isinstance(value, str) or not value:
            raise GatewayError(f"WeChat Pay's answer lacks {name}")
        return value

    @staticmethod
    def _refused(code: int, answer: dict) -> GatewayError:
        return GatewayError(f"WeChat Pay answered {code}: {answer.get('code', '')} {answer.get('message', '')}")
