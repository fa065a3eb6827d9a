"""The database connection and the indexes the rules rely on."""
from pymongo import ASCENDING as A, DESCENDING as D, AsyncMongoClient

# collection -> [(keys, options)]; the unique ones are guards of the rules.
INDEXES = {
    "users": [([("phone", A)], {"unique": True})],
    "tokens": [([("user_id", A)], {})],
    "ledger": [
        ([("user_id", A), ("seq", A)], {"unique": True}),
        ([("user_id", A), ("key", A)], {"unique": True}),
    ],
    "auctions": [([("status", A)], {}), ([("deleted_at", A)], {})],
    "lots": [([("catalog_no", A)], {"unique": True}), ([("auction_id", A)], {}), ([("status", A)], {})],
    "bids": [
        ([("lot_id", A), ("seq", D)], {"unique": True}),
        ([("user_id", A), ("client_id", A)], {"unique": True}),
    ],
    "audit": [([("target", A)], {})],
}


def connect(url: str) -> AsyncMongoClient:
    return AsyncMongoClient(url, serverSelectionTimeoutMS=5000, tz_aware=True)


def database(client: AsyncMongoClient):
    return client.get_default_database("gavel")


async def ensure_indexes(db) -> None:
    for name, specs in INDEXES.items():
        for keys, options in specs:
            await db[name].create_index(keys, **options)
