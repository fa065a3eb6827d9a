"""The operators' catalog: sessions, lots and image uploads."""
import os
import secrets

from domain import audit, auctions, credits, lots
from domain.clock import to_iso
from domain.errors import InvalidRequest
from handlers import render, schemas
from handlers.base import BaseHandler, MULTIPART, id_query

IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg", b"GIF87a": ".gif", b"GIF89a": ".gif"}


def image_extension(data: bytes) -> str | None:
    """The image's type from its first bytes (a WebP: RIFF, its size, then WEBP)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in IMAGE_TYPES.items() if data.startswith(magic)), None)


class AdminAuctionsHandler(BaseHandler):
    bodies = {"post": schemas.AuctionCreate}

    async def get(self):
        self.require_operator()
        self.send({"items": render.each(await auctions.list_(self.db), render.auction)})

    async def post(self):
        self.require_operator()
        req = self.parse(schemas.AuctionCreate)
        doc = await auctions.create(self.db, self.ctx.events, req.model_dump(), self.now())
        self.send(render.auction(doc), 201)


class AdminAuctionHandler(BaseHandler):
    bodies = {"put": schemas.AuctionEdit}

    async def get(self, auction_id):
        self.require_operator()
        doc = await auctions.get(self.db, auction_id)
        items = render.each(await lots.of_auction(self.db, auction_id), render.admin_lot)
        self.send(render.auction(doc, lots=items))

    async def put(self, auction_id):
        self.require_operator()
        req = self.parse(schemas.AuctionEdit)
        doc = await auctions.update(self.db, self.ctx.events, auction_id, req.model_dump(exclude_unset=True), self.now())
        self.send(render.auction(doc))

    async def delete(self, auction_id):
        self.require_operator()
        await auctions.withdraw(self.db, self.ctx.events, auction_id, self.now())
        self.set_status(204)
        self.finish()


class AdminLotsHandler(BaseHandler):
    bodies = {"post": schemas.LotCreate}

    async def post(self, auction_id):
        self.require_operator()
        req = self.parse(schemas.LotCreate)
        doc = await lots.create(self.db, self.ctx.events, auction_id, req.model_dump(), self.now())
        self.send(render.admin_lot(doc), 201)


class AdminLotHandler(BaseHandler):
    bodies = {"put": schemas.LotEdit}

    async def get(self, lot_id):
        self.require_operator()
        self.send(render.admin_lot(await lots.get(self.db, lot_id)))

    async def put(self, lot_id):
        self.require_operator()
        req = self.parse(schemas.LotEdit)
        doc = await lots.update(self.db, self.ctx.events, lot_id, req.model_dump(exclude_unset=True), self.now())
        self.send(render.admin_lot(doc))

    async def delete(self, lot_id):
        self.require_operator()
        await lots.withdraw(self.db, self.ctx.events, lot_id, self.now())
        self.set_status(204)
        self.finish()


class UploadHandler(BaseHandler):
    """Images go to DATA_DIR/uploads under a random name; the type is read
    from the file's first bytes, never from what the client claims."""
    accepts = MULTIPART  # with its own, larger limit (MAX_UPLOAD_BYTES)

    async def post(self):
        self.require_operator()
        files = [f for group in self.request.files.values() for f in group]
        if len(files) != 1:
            raise InvalidRequest("send exactly one file as multipart/form-data")
        data = files[0]["body"]  # within MAX_UPLOAD_BYTES: the body's own limit (handlers/base.py)
        ext = image_extension(data)
        if not ext:
            raise InvalidRequest("only PNG, JPEG, GIF or WebP images")
        name = secrets.token_hex(16) + ext
        folder = self.ctx.settings.data_dir / "uploads"
        os.makedirs(folder, exist_ok=True)
        (folder / name).write_bytes(data)
        self.send({"url": f"/uploads/{name}"}, 201)


class AuditHandler(BaseHandler):
    """What happened to a session, lot, order, coupon or user (credits granted), in order."""
    queries = {"get": (id_query("target", required=True),)}

    async def get(self):
        self.require_operator()
        target = self.queried()["target"]
        items = await audit.trail(self.db, target)
        self.send({"items": [{**{k: v for k, v in e.items() if k != "_id"}, "at": to_iso(e["at"])} for e in items]})


class AdminCreditsHandler(BaseHandler):
    bodies = {"post": schemas.CreditGrant}

    async def post(self, user_id):
        """Grant a user credits, or take some (negative), with a reason; audited."""
        operator = self.require_operator()
        req = self.parse(schemas.CreditGrant)
        line = await credits.grant(self.db, operator["_id"], user_id, req.amount, req.reason, self.now())
        self.send({"user_id": user_id, "line": render.credit_line(line), "credits": line["credits_after"]}, 201)
