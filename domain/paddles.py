"""Paddle numbers (号牌): how bidders are told apart in a session's bid
history without showing who they are. A bidder gets the session's next
number at their first deposit in it, and keeps it for the session.

The number is the session's counter taken by one `$inc`, kept under a
unique id per (session, bidder): two deposits racing get one number, and a
number taken by a crash before it was kept is only a gap.
"""
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from domain.accounts import masked_name


def key(auction_id: str, user_id: str) -> str:
    return f"{auction_id}:{user_id}"


async def paddle_for(db, auction_id: str, user_id: str) -> int:
    """The bidder's number in the session, given now if they have none yet."""
    found = await db.paddles.find_one({"_id": key(auction_id, user_id)})
    if found:
        return found["number"]
    session = await db.auctions.find_one_and_update({"_id": auction_id}, {"$inc": {"paddle_seq": 1}},
                                                    {"paddle_seq": 1}, return_document=ReturnDocument.AFTER)
    try:
        await db.paddles.insert_one({"_id": key(auction_id, user_id), "auction_id": auction_id, "user_id": user_id,
                                     "number": session["paddle_seq"]})
        return session["paddle_seq"]
    except DuplicateKeyError:  # the same bidder's other deposit got there first
        return (await db.paddles.find_one({"_id": key(auction_id, user_id)}))["number"]


def label(paddle: int, user: dict) -> str:
    """How other bidders see someone: their paddle and a masked name (`3号 张*`), never a phone."""
    return f"{paddle}号 {masked_name(user)}"
