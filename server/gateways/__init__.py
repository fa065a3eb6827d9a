"""The payment gateways (WeChat Pay API v3, Alipay) behind one small interface
(docs/architecture.md, "Gateways").

An adapter creates a payment, checks what the gateway sends (a notification,
Alipay's return), asks the gateway about a payment, and refunds. It answers
in cents and epoch ms and raises the domain's errors: `InvalidSignature` for
anything not provably from the gateway and meant for us, `InvalidRequest`
for a malformed message. Whether the amount is the one expected is the
caller's business. Without a gateway's keys configured its adapter runs in
sandbox mode: the same signatures, with keys generated in DATA_DIR, and
`sandbox.py` playing the gateway.
"""
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Protocol

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from domain.clock import SystemClock

BEIJING = timezone(timedelta(hours=8), "CST")  # both gateways write local times in China Standard Time


@dataclass(frozen=True)
class Notification:
    """What a gateway says about one payment."""
    out_trade_no: str
    amount: int     # cents
    status: str     # "paid" | "closed" | "pending"
    trade_no: str   # the gateway's own transaction id
    paid_at: int    # epoch ms, 0 if not given


class GatewayError(Exception):
    """The gateway could not be reached, answered unsigned or badly signed, or
    refused the call: nothing is known to have happened; try again later."""


async def fetch(request: HTTPRequest, gateway: str) -> HTTPResponse:
    """A call to a gateway: any answer, or a GatewayError when none came."""
    try:
        return await AsyncHTTPClient().fetch(request, raise_error=False)
    except (OSError, HTTPClientError) as exc:
        raise GatewayError(f"{gateway} unreachable: {exc}") from None


class Gateway(Protocol):
    name: str
    sandbox: bool

    async def create(self, out_trade_no: str, amount: int, subject: str, notify_url: str, return_url: str,
                     expire_at_ms: int, openid: str = "") -> dict:
        """How the payer pays: any of `pay_url` (open it), `code_url` (show it
        as a QR code), `pay_params` (WeChat mini-program `wx.requestPayment`)."""

    def verify(self, headers, body: bytes, now_ms: int) -> Notification:
        """A notification POST, checked from its raw headers and body."""

    def answer(self, ok: bool) -> tuple[int, str, bytes]:
        """Status, content type and body to answer a notification with; a
        refusal makes the gateway deliver it again later."""

    async def query(self, out_trade_no: str) -> Notification | None:
        """The gateway's own view of a payment; None when it knows none (and,
        in sandbox, always: the payment document is the truth there)."""

    async def refund(self, out_trade_no: str, refund_no: str, amount: int, total: int) -> str:
        """"done" or "pending"; the same refund_no again is the same refund."""


def create_gateways(settings, data_dir: Path, clock=None) -> dict[str, Gateway]:
    """One adapter per gateway, live where its settings are complete (settings
    refuse a partial set), sandbox otherwise. Run once at start-up: a first
    sandbox start generates RSA keys (a fraction of a second, before serving)."""
    from server.gateways.alipay import Alipay, AlipayConfig
    from server.gateways.keys import sandbox_keys
    from server.gateways.wechat import WechatConfig, WechatPay

    clock = clock or SystemClock()
    keys = None if settings.wechatpay_live and settings.alipay_live else sandbox_keys(data_dir)
    wechat = WechatConfig.live(settings) if settings.wechatpay_live else WechatConfig.sandbox(keys, settings)
    alipay = AlipayConfig.live(settings) if settings.alipay_live else AlipayConfig.sandbox(keys, settings)
    timeout = settings.gateway_timeout_s
    return {"wechat": WechatPay(wechat, clock, timeout), "alipay": Alipay(alipay, clock, timeout)}
