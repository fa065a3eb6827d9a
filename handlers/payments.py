"""Payments: the gateways' notifications (WeChat Pay v3, Alipay), Alipay's
synchronous return, the payer's active query, and the sandbox's pay page.

A notification is answered so that the gateway delivers it again only where
that could help: refused (WeChat 4xx `FAIL`, Alipay `fail`) when it cannot
be shown to be the gateway's — a bad signature, another app or merchant, a
stale timestamp, a malformed body — since our clock or keys may be at fault,
or when something failed here; acknowledged when it was applied, was
applied before, or is the gateway's but not applicable (a trade number not
ours, an amount not ours), which no retry would change: those change
nothing and are logged as errors.
"""
import html
import logging
from urllib.parse import quote

from domain import settlement
from domain.errors import AmountMismatch, DomainError, InvalidRequest, NotFound
from domain.states import PAYMENT_TEXT
from handlers import render
from handlers.base import BaseHandler, FORM, JSON

log = logging.getLogger("gavel.payments")
PURPOSE_TEXT = {"deposit": "保证金", "order": "订单支付", "topup": "余额充值"}


def base_url(handler: BaseHandler) -> str:
    """Where the gateways reach this server: PUBLIC_URL, or the request's own host."""
    return handler.ctx.settings.public_url.rstrip("/") or f"{handler.request.protocol}://{handler.request.host}"


async def take_notification(deps, gateway, headers, body: bytes, now: int) -> bool:
    """Verify a notification from its raw headers and body and apply it:
    whether to acknowledge it (False: the gateway will deliver it again)."""
    try:
        note = gateway.verify(headers, body, now)
        await settlement.notified(deps, gateway.name, note, now)
        return True
    except (NotFound, AmountMismatch) as exc:
        log.error("%s notification not applied (%s): %s", gateway.name, exc.code, exc.message)
        return True
    except DomainError as exc:
        log.warning("%s notification refused (%s): %s", gateway.name, exc.code, exc.message)
        return False
    except Exception:
        log.exception("%s notification failed here; the gateway will deliver it again", gateway.name)
        return False


class GatewayAnswer(BaseHandler):
    answers = (400, 404, 503)  # unsigned or forged; unknown; the store or the gateway away

    async def prepare(self):
        self.take_body()  # and no token: a gateway's message stands on its signature

    def gateway(self, name: str):
        gateway = self.ctx.deps.gateways.get(name)
        if gateway is None:
            raise NotFound(f"{name} payments are not available here")
        return gateway


class NotifyHandler(GatewayAnswer):
    """A gateway's asynchronous notification (WeChat Pay API v3 JSON, Alipay form)."""
    media_type = "text/plain"

    @property
    def accepts(self) -> str:
        return FORM if self.path_args[0] == "alipay" else JSON

    async def post(self, name):
        gateway = self.gateway(name)
        ok = await take_notification(self.ctx.deps, gateway, self.request.headers, self.request.body, self.now())
        status, content_type, body = gateway.answer(ok)
        self.set_status(status)
        if body:  # (a 204 has neither body nor type)
            self.set_header("Content-Type", content_type)
        self.finish(body or None)


def page(title: str, *paragraphs: str, form: str = "") -> str:
    """A plain page (no script: the site's CSP allows none inline); the text is escaped here."""
    text = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
            f"<body><h1>{html.escape(title)}</h1>{text}{form}<p><a href=\"/\">Gavel</a></p></body></html>")


def describe(payment: dict) -> tuple[str, ...]:
    return (" · ".join(dict.fromkeys((PURPOSE_TEXT[payment["purpose"]], payment["subject"]))),
            f"金额 {payment['amount'] // 100}.{payment['amount'] % 100:02d} 元 · {payment['pay_type']}",
            f"交易号 {payment['_id']} · {PAYMENT_TEXT[payment['status']]}")


class AlipayReturnHandler(GatewayAnswer):
    """Alipay sends the payer's browser back here: the signature is checked and
    the payment shown; only the notification or the active query changes it."""
    media_type = "text/html"

    async def get(self):
        note = self.gateway("alipay").verify_return(self.request.query)
        payment = await self.db.payments.find_one({"_id": note.out_trade_no, "pay_type": "alipay"})
        if not payment:
            raise NotFound("no Alipay payment has this trade number")
        done = payment["status"] == "paid"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page("支付成功" if done else "支付结果确认中", *describe(payment),
                         "" if done else "支付宝的通知到达后，订单即会更新。"))

    def write_error(self, status_code: int, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, DomainError) and status_code < 500:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            return self.finish(page("无法确认支付结果", exc.message))
        return super().write_error(status_code, **kwargs)


class PaymentHandler(BaseHandler):
    async def get(self, out_trade_no):
        """The payer's active query: a pending gateway payment is asked about at the gateway."""
        user = self.require_user()
        self.send(render.payment(await settlement.look_up(self.ctx.deps, user, out_trade_no, self.now())))


class SandboxPayHandler(BaseHandler):
    """Sandbox only: the gateway's cashier, played here. Approving makes the
    server receive a notification signed with the sandbox gateway's key, through
    the same checks as a real one; declining closes the trade."""
    media_type = "text/html"
    accepts = FORM  # its buttons post a plain form

    async def _payment(self, out_trade_no: str) -> dict:
        payment = await self.db.payments.find_one({"_id": out_trade_no})
        if not payment or payment["pay_type"] not in self.ctx.sandbox_platforms:
            raise NotFound("no sandbox payment has this trade number")
        return payment

    async def get(self, out_trade_no):
        payment = await self._payment(out_trade_no)
        form = ('<form method="post"><button name="decision" value="approve">确认支付</button> '
                '<button name="decision" value="decline">取消支付</button></form>') if payment["status"] == "pending" else ""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page("沙箱收银台", *describe(payment), "这是沙箱：不会扣任何真实的钱。", form=form))

    async def post(self, out_trade_no):
        payment, now = await self._payment(out_trade_no), self.now()
        decision = self.get_body_argument("decision", "")
        if decision == "decline":
            await settlement.decline(self.ctx.deps, out_trade_no, now)
        elif decision == "approve":
            platform = self.ctx.sandbox_platforms[payment["pay_type"]]
            headers, body = platform.notification(out_trade_no, payment["amount"], now)
            gateway = self.ctx.deps.gateways[payment["pay_type"]]
            await take_notification(self.ctx.deps, gateway, headers, body, now)
            if payment["pay_type"] == "alipay":  # as Alipay does: back to the return URL, signed
                return self.redirect("/api/payments/alipay/return?" + platform.return_query(out_trade_no,
                                                                                         payment["amount"], now), status=303)
        else:
            raise InvalidRequest("decision must be approve or decline")
        self.redirect(f"/sandbox/pay/{quote(out_trade_no)}", status=303)
