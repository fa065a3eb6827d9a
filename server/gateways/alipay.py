"""Alipay (open platform, RSA2): an app's side, with `cryptography` directly.

Not `python-alipay-sdk` (3.4.0): its calls block on `urlopen`; it signs
requests with their empty values, which Alipay's own SDKs leave out; it
verifies the UTF-8 bytes whatever `charset` the message declares; it
stamps requests with the server's local time rather than China's; it finds
the signed part of an answer by counting braces, which a brace inside a
string breaks; and it brings pycryptodomex and pyOpenSSL beside the
`cryptography` Gavel already has.

Two signing rules (Alipay's `AlipaySignature`): what we sign (a request)
is every parameter but `sign`, empty values left out; what Alipay signs (a
notification, a return) is every parameter but `sign` and `sign_type`,
empty values included. Both sort by name and join `k=v` with `&`, values
URL-decoded, and sign the bytes in the message's `charset`.
"""
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote, unquote_to_bytes, urlencode

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from tornado.httpclient import HTTPRequest

from domain.errors import InvalidRequest, InvalidSignature
from server.gateways import BEIJING, GatewayError, Notification, fetch
from server.gateways.keys import SANDBOX_ALIPAY_APP_ID, load_private_key, load_public_key, sign_sha256, verify_sha256

CHARSETS = {"utf-8", "gbk", "gb2312", "gb18030"}
TRADE_STATUSES = {"WAIT_BUYER_PAY": "pending", "TRADE_SUCCESS": "paid", "TRADE_FINISHED": "paid",
                  "TRADE_CLOSED": "closed"}  # TRADE_CLOSED also follows a full refund of a paid trade
_YUAN = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class AlipayConfig:
    app_id: str
    app_key: RSAPrivateKey       # signs our requests
    alipay_key: RSAPublicKey     # verifies what Alipay sends
    gateway: str
    sandbox: bool

    @classmethod
    def live(cls, settings) -> "AlipayConfig":
        return cls(settings.alipay_app_id, load_private_key(settings.alipay_app_private_key),
                   load_public_key(settings.alipay_public_key), settings.alipay_gateway, False)

    @classmethod
    def sandbox(cls, keys, settings) -> "AlipayConfig":
        return cls(SANDBOX_ALIPAY_APP_ID, keys.alipay_app, keys.alipay_platform.public_key(),
                   settings.alipay_gateway, True)


def parse_form(raw: bytes | str) -> dict[str, str]:
    """A raw urlencoded body or query string, decoded in its own `charset`
    and left exactly as sent (no stripping); a repeated name is malformed."""
    raw = raw.encode() if isinstance(raw, str) else raw
    pairs = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name, equals, value = part.partition(b"=")
        if not (equals and name):
            raise InvalidRequest("malformed form field")
        pairs.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    charset = next((v for k, v in pairs if k == b"charset"), b"utf-8").decode("latin-1").lower()
    if charset not in CHARSETS:
        raise InvalidRequest(f"unsupported charset {charset!r}")
    params: dict[str, str] = {}
    for name, value in pairs:
        try:
            key = name.decode(charset)
            if key in params:
                raise InvalidRequest(f"repeated field {key!r}")
            params[key] = value.decode(charset)
        except UnicodeDecodeError:
            raise InvalidRequest(f"a field is not {charset}") from None
    return params


def content_alipay_signs(params: dict[str, str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type"))


def content_we_sign(params: dict[str, str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k])


def yuan_to_cents(text: str) -> int:
    """Exactly: "12.30" is 1230; "12.301", "1e3", "-1", " 1" are refused."""
    if not isinstance(text, str) or not _YUAN.fullmatch(text):
        raise InvalidRequest(f"amount {text!r} is not yuan with at most two decimals")
    return int(Decimal(text) * 100)


def cents_to_yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def china_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, BEIJING).strftime(_TIME)


def from_china_time(text: str) -> int:
    try:
        return int(datetime.strptime(text, _TIME).replace(tzinfo=BEIJING).timestamp() * 1000)
    except (TypeError, ValueError):
        raise InvalidRequest(f"time {text!r} is not yyyy-MM-dd HH:mm:ss") from None


def signed_node(text: str, name: str) -> tuple[dict, str, str]:
    """An API answer's node, its exact text (what Alipay signed) and the sign."""
    try:
        whole = json.loads(text)
        start = text.index(f'"{name}"') + len(name) + 2
        start = text.index(":", start) + 1
        while text[start] in " \t\r\n":
            start += 1
        node, end = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, IndexError):
        raise GatewayError(f"Alipay's answer has no {name}: {text[:200]}") from None
    if not isinstance(whole, dict) or whole.get(name) != node or not isinstance(node, dict):
        raise GatewayError(f"Alipay's answer has no usable {name}")
    sign = whole.get("sign", "")
    return node, text[start:end], sign if isinstance(sign, str) else ""


class Alipay:
    name = "alipay"

    def __init__(self, config: AlipayConfig, clock, timeout_s: float):
        self.config, self.clock, self.timeout_s = config, clock, timeout_s
        self.sandbox = config.sandbox

    async def create(self, out_trade_no, amount, subject, notify_url, return_url, expire_at_ms, openid=""):
        """Computer-website pay: a URL to Alipay's cashier, signed here, no call."""
        if self.sandbox:
            return {"pay_url": f"/sandbox/pay/{quote(out_trade_no, safe='')}"}
        order = {"out_trade_no": out_trade_no, "total_amount": cents_to_yuan(amount), "subject": subject[:256],
                 "product_code": "FAST_INSTANT_TRADE_PAY", "time_expire": china_time(expire_at_ms)}
        params = self._signed("alipay.trade.page.pay", order, notify_url=notify_url, return_url=return_url)
        return {"pay_url": f"{self.config.gateway}?{urlencode(params)}"}

    def verify(self, headers, body: bytes, now_ms: int) -> Notification:
        """The async notify, from the raw form body. No age limit: Alipay
        redelivers for a day."""
        params = self._checked(parse_form(body))
        return self._trade(params, params.get("trade_status"), params.get("gmt_payment", ""))

    def verify_return(self, query: dict[str, str] | bytes | str) -> Notification:
        """The synchronous return (the payer's browser, GET): the same
        signature; best given the raw query string, which nothing has
        stripped. It states no trade status, so it says "pending": the
        notification or a query decides."""
        params = self._checked(query if isinstance(query, dict) else parse_form(query))
        return self._trade(params, params.get("trade_status", "WAIT_BUYER_PAY"), "")

    def answer(self, ok: bool) -> tuple[int, str, bytes]:
        return 200, "text/plain; charset=utf-8", b"success" if ok else b"fail"

    async def query(self, out_trade_no: str) -> Notification | None:
        if self.sandbox:
            return None
        node = await self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if node.get("code") == "40004" and node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return None
        self._succeeded(node)
        try:
            return self._trade(node, node.get("trade_status"), node.get("send_pay_date", ""))
        except InvalidRequest as exc:
            raise GatewayError(f"Alipay's answer: {exc.message}") from None

    async def refund(self, out_trade_no: str, refund_no: str, amount: int, total: int) -> str:
        """A repeated refund_no answers fund_change "N" (no money moved this
        time): the refund query then says whether the first one went through."""
        if self.sandbox:
            return "done"
        ids = {"out_trade_no": out_trade_no, "out_request_no": refund_no}
        node = await self._call("alipay.trade.refund", {**ids, "refund_amount": cents_to_yuan(amount)})
        self._succeeded(node)
        if node.get("fund_change") == "Y":
            return "done"
        node = await self._call("alipay.trade.fastpay.refund.query", ids)
        self._succeeded(node)
        settled = node.get("refund_amount") and node.get("refund_status", "REFUND_SUCCESS") == "REFUND_SUCCESS"
        return "done" if settled else "pending"

    def _checked(self, params: dict[str, str]) -> dict[str, str]:
        sign, charset = params.get("sign", ""), params.get("charset", "utf-8").lower()
        if not sign:
            raise InvalidSignature("unsigned")
        if params.get("sign_type", "RSA2") != "RSA2":
            raise InvalidSignature("only RSA2 signatures are accepted")
        if charset not in CHARSETS:
            raise InvalidRequest(f"unsupported charset {charset!r}")
        try:
            message = content_alipay_signs(params).encode(charset)
        except UnicodeEncodeError:
            raise InvalidRequest(f"a field is not {charset}") from None
        if not verify_sha256(self.config.alipay_key, message, sign):
            raise InvalidSignature("sign does not verify with the Alipay public key")
        if params.get("app_id") != self.config.app_id:
            raise InvalidSignature("the message is not for this app_id")
        return params

    @staticmethod
    def _trade(fields: dict, trade_status, paid_at: str) -> Notification:
        out_trade_no, trade_no = fields.get("out_trade_no"), fields.get("trade_no", "")
        if not (isinstance(out_trade_no, str) and out_trade_no and isinstance(trade_no, str)):
            raise InvalidRequest("out_trade_no and trade_no must be text")
        if not isinstance(trade_status, str) or trade_status not in TRADE_STATUSES:
            raise InvalidRequest(f"unknown trade_status {trade_status!r}")
        return Notification(out_trade_no, yuan_to_cents(fields.get("total_amount")), TRADE_STATUSES[trade_status],
                            trade_no, from_china_time(paid_at) if paid_at else 0)

    def _signed(self, method: str, biz_content: dict, **extra: str) -> dict[str, str]:
        params = {"app_id": self.config.app_id, "method": method, "format": "JSON", "charset": "utf-8",
                  "sign_type": "RSA2", "timestamp": china_time(self.clock.now_ms()), "version": "1.0",
                  "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")), **extra}
        params = {k: v for k, v in params.items() if v}
        return {**params, "sign": sign_sha256(self.config.app_key, content_we_sign(params).encode())}

    async def _call(self, method: str, biz_content: dict) -> dict:
        """One signed call (as Alipay's SDKs send it: the common parameters in
        the URL, biz_content in the form body); only a signed answer counts."""
        params = self._signed(method, biz_content)
        body = urlencode({"biz_content": params.pop("biz_content")})
        request = HTTPRequest(f"{self.config.gateway}?{urlencode(params)}", "POST", body=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                              connect_timeout=self.timeout_s, request_timeout=self.timeout_s)
        response = await fetch(request, "Alipay")
        if response.code != 200:
            raise GatewayError(f"Alipay answered {response.code}: {response.error or ''}")
        try:
            text = response.body.decode("utf-8")
        except UnicodeDecodeError:
            raise GatewayError("Alipay's answer is not UTF-8") from None
        node, signed, sign = signed_node(text, method.replace(".", "_") + "_response")
        if not verify_sha256(self.config.alipay_key, signed.encode("utf-8"), sign):
            raise GatewayError(f"Alipay's answer is not signed by Alipay ({node.get('code')} {node.get('sub_msg')})")
        return node

    @staticmethod
    def _succeeded(node: dict) -> None:
        if node.get("code") != "10000":
            raise GatewayError(f"Alipay refused: {node.get('code')} {node.get('sub_code')} {node.get('sub_msg')}")
