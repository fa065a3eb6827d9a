"""The public catalog: sessions and lots as bidders see them."""
from domain import auctions, deposits, lots
from domain.states import AUCTION_TEXT
from handlers import render
from handlers.base import BaseHandler, choice_query


async def my_deposit(db, user: dict | None, auction_id: str, lot_id: str = "") -> dict | None:
    """The caller's deposit for a session or lot page, rendered; None when there is none."""
    if not user:
        return None
    doc = await deposits.mine(db, user["_id"], auction_id, lot_id)
    return render.deposit(doc) if doc else None


class AuctionsHandler(BaseHandler):
    queries = {"get": (choice_query("status", AUCTION_TEXT),)}

    async def get(self):
        """The sessions, newest first (status= for one status)."""
        status = self.queried()["status"] or None
        self.send({"items": render.each(await auctions.list_(self.db, status), render.auction)})


class AuctionHandler(BaseHandler):
    async def get(self, auction_id):
        auction = await auctions.get(self.db, auction_id)
        await auctions.count_look(self.db, auction_id)
        items = render.each(await lots.of_auction(self.db, auction_id), render.lot)
        deposit = await my_deposit(self.db, self.user, auction_id)
        self.send(render.auction(auction, lots=items, my_deposit=deposit))


class LotHandler(BaseHandler):
    async def get(self, lot_id):
        lot = await lots.count_look(self.db, lot_id)
        deposit = await my_deposit(self.db, self.user, lot["auction_id"], lot_id)
        self.send(render.lot(lot, my_deposit=deposit, server_time=self.now()))
