"""Delivery addresses (收货地址): a buyer's own, one of them the default.

Which one is the default is one field of the user's address book
(`address_books`, keyed by the user), so there is exactly one however
requests race; an order copies the address it is paid with, so an address
can be edited or deleted afterwards without changing any order.
"""
from domain.errors import Conflict, NotFound
from domain.ids import new_id

FIELDS = ("name", "phone", "province", "city", "county", "detail")
MAX_PER_USER = 20


async def default_of(db, user_id: str) -> str:
    book = await db.address_books.find_one({"_id": user_id})
    return book["default"] if book else ""


async def _set_default(db, user_id: str, address_id: str) -> None:
    await db.address_books.update_one({"_id": user_id}, {"$set": {"default": address_id}}, upsert=True)


async def of_user(db, user_id: str) -> tuple[list[dict], str]:
    """The user's addresses, the default first, then the newest; and the default's id."""
    found = await db.addresses.find({"user_id": user_id}).sort("created_at", -1).to_list(None)
    default = await default_of(db, user_id)
    return sorted(found, key=lambda a: a["_id"] != default), default


async def get_own(db, user_id: str, address_id: str) -> dict:
    """One of the user's addresses: another user's is as good as missing."""
    doc = await db.addresses.find_one({"_id": address_id, "user_id": user_id})
    if not doc:
        raise NotFound("no such address")
    return doc


async def add(db, user_id: str, fields: dict, make_default: bool, now: int) -> dict:
    """A new address; the first one is the default whatever was asked."""
    if await db.addresses.count_documents({"user_id": user_id}) >= MAX_PER_USER:
        raise Conflict(f"at most {MAX_PER_USER} addresses; delete one first")
    doc = {"_id": new_id(), "user_id": user_id, **{f: fields[f] for f in FIELDS}, "created_at": now, "updated_at": now}
    await db.addresses.insert_one(doc)
    if make_default or not await default_of(db, user_id):
        await _set_default(db, user_id, doc["_id"])
    return doc


async def edit(db, user_id: str, address_id: str, fields: dict, make_default: bool | None, now: int) -> dict:
    await get_own(db, user_id, address_id)
    changes = {f: fields[f] for f in FIELDS if f in fields}
    doc = await db.addresses.find_one_and_update({"_id": address_id, "user_id": user_id},
                                                 {"$set": {**changes, "updated_at": now}}, return_document=True)
    if not doc:
        raise NotFound("no such address")
    if make_default:
        await _set_default(db, user_id, address_id)
    return doc


async def delete(db, user_id: str, address_id: str) -> None:
    """Delete one; if it was the default, the newest other one becomes it."""
    await get_own(db, user_id, address_id)
    await db.addresses.delete_one({"_id": address_id, "user_id": user_id})
    if await default_of(db, user_id) == address_id:
        newest = await db.addresses.find_one({"user_id": user_id}, sort=[("created_at", -1)])
        await _set_default(db, user_id, newest["_id"] if newest else "")


def copy_for_order(doc: dict) -> dict:
    """What an order keeps of the address it was paid with."""
    return {f: doc[f] for f in FIELDS}
