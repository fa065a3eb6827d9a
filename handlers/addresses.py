"""Delivery addresses (收货地址): the caller's own, one of them the default."""
from domain import addresses
from handlers import render, schemas
from handlers.base import BaseHandler


class AddressesHandler(BaseHandler):
    bodies = {"post": schemas.AddressCreate}

    async def get(self):
        """The caller's addresses, the default first."""
        user = self.require_user()
        found, default = await addresses.of_user(self.db, user["_id"])
        self.send({"items": [render.address(a, default) for a in found]})

    async def post(self):
        """Add an address (the first one is the default)."""
        user = self.require_user()
        req = self.parse(schemas.AddressCreate)
        doc = await addresses.add(self.db, user["_id"], req.model_dump(), req.is_default, self.now())
        self.send(render.address(doc, await addresses.default_of(self.db, user["_id"])), 201)


class AddressHandler(BaseHandler):
    bodies = {"put": schemas.AddressEdit}

    async def put(self, address_id):
        """Edit an address; `is_default: true` makes it the default."""
        user = self.require_user()
        req = self.parse(schemas.AddressEdit)
        doc = await addresses.edit(self.db, user["_id"], address_id, req.model_dump(exclude_unset=True),
                                   req.is_default, self.now())
        self.send(render.address(doc, await addresses.default_of(self.db, user["_id"])))

    async def delete(self, address_id):
        """Delete an address (orders keep their own copy)."""
        user = self.require_user()
        await addresses.delete(self.db, user["_id"], address_id)
        self.set_status(204)
        self.finish()
