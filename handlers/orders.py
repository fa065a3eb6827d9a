"""Orders (订单): the buyer's, grouped by status as the seeds' order page
shows them, checkout and payment, and receipt; the operators' list;
second-chance offers."""
from domain import checkout, offers, orders
from domain.states import ORDER_TEXT
from handlers import render, schemas
from handlers.base import BaseHandler, choice_query, id_query, int_query
from handlers.payments import base_url


class OrdersHandler(BaseHandler):
    queries = {"get": (choice_query("status", ORDER_TEXT),)}

    async def get(self):
        """The caller's orders grouped by status ({"unpaid": {"text": "待支付", "items": […]}, …}); status= for one."""
        user = self.require_user()
        groups = await orders.of_user(self.db, user["_id"], self.queried()["status"])
        self.send(render.order_groups(groups))


class OrderHandler(BaseHandler):
    async def get(self, order_id):
        """One of the caller's orders, with the payment breakdown."""
        user = self.require_user()
        self.send(render.order(await orders.get_for(self.db, user, order_id)))


class ReceiveHandler(BaseHandler):
    async def post(self, order_id):
        """The buyer confirms receipt: to_receive → completed."""
        user = self.require_user()
        self.send(render.order(await orders.receive(self.db, user, order_id, self.now(), self.ctx.deps.rules)))


class CheckoutHandler(BaseHandler):
    async def get(self, order_id):
        """What the pay page needs: lot, price, deposit, coupons, credits, balance, addresses, deadline."""
        user = self.require_user()
        self.send(render.checkout(await checkout.view(self.ctx.deps, user, order_id, self.now())))


class PayHandler(BaseHandler):
    bodies = {"post": schemas.PayRequest}

    async def post(self, order_id):
        """Pay an order: from the balance at once, or a gateway `payment` to complete."""
        user = self.require_user()
        req = self.parse(schemas.PayRequest)
        order, breakdown, payment = await checkout.pay(self.ctx.deps, user, order_id, req.address_id, req.pay_type,
                                                       self.now(), base_url(self), req.coupon_id or "", req.credits)
        body = {"order": render.order(order), "breakdown": render.breakdown(breakdown)}
        if payment["pay_type"] != "balance":
            body["payment"] = render.payment(payment)
        self.send(body)


class AdminOrdersHandler(BaseHandler):
    queries = {"get": (choice_query("status", ORDER_TEXT), id_query("auction_id"), int_query("limit", 100, 1, 1000))}

    async def get(self):
        """Every order, newest first; filters: status, auction_id, limit."""
        self.require_operator()
        items = await orders.listing(self.db, *self.queried().values())
        self.send({"items": render.each(items, lambda o: {**render.order(o), "user_id": o["user_id"]})})


class SecondChanceHandler(BaseHandler):
    async def post(self, lot_id):
        """Offer an overdue lot to the runner-up at their last bid, to accept (an order) or decline by a deadline."""
        operator = self.require_operator()
        offer = await offers.offer_runner_up(self.db, self.ctx.events, lot_id, operator["_id"], self.now(),
                                             self.ctx.deps.rules)
        self.send({"offer": render.offer(offer), "user_id": offer["user_id"]}, 201)


class OffersHandler(BaseHandler):
    async def get(self):
        """The caller's second-chance offers, newest first."""
        user = self.require_user()
        self.send({"items": render.each(await offers.of_user(self.db, user["_id"]), render.offer)})


class OfferAcceptHandler(BaseHandler):
    async def post(self, offer_id):
        """Accept an offer before its deadline: the order (a lot deposit paid from the balance if none covers it)."""
        user = self.require_user()
        order = await offers.accept(self.db, self.ctx.events, user, offer_id, self.now(), self.ctx.deps.rules)
        self.send({"order": render.order(order)}, 201)


class OfferDeclineHandler(BaseHandler):
    async def post(self, offer_id):
        """Decline an offer: it passes to the next bidder."""
        user = self.require_user()
        offer = await offers.decline(self.db, self.ctx.events, user, offer_id, self.now(), self.ctx.deps.rules)
        self.send(render.offer(offer))
