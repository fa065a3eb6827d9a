"""Close benchmark: how long a real Gavel server takes to close a big
session — every lot closed, every winner's order made, every other deposit
refunded through the ledger, the session `ended` and settled — measured from
the session's auction_end.

The data (users, paid lot deposits, bids) is written straight into the
database by tests/bulk.py in the shapes the code writes; the server then does
the close by its own timers, as in production. Afterwards every count is
checked, so a fast wrong close does not pass for a fast one.

    python bench/close_bench.py                      # 1,000 lots x 20 deposits
    python bench/close_bench.py --lots 200 --deposits 5
"""
import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import bulk  # noqa: E402
from gavel_server import Api, GavelServer  # noqa: E402
from helpers import database, iso  # noqa: E402
from server.embedded_store import EmbeddedStore  # noqa: E402


async def run(args, url: str, data_dir: Path) -> None:
    server = GavelServer(data_dir / "gavel", url, redis=args.redis).start()
    try:
        admin = Api(server.url, server.admin_token)
        far = time.time() + 3600
        status, auction = await admin.post("/api/admin/auctions", {
            "title": "close bench", "preview_start": iso(far), "preview_end": iso(far),
            "auction_start": iso(far), "auction_end": iso(far + 60)})
        assert status == 201, auction
        async with database(url) as db:
            t = time.monotonic()
            await bulk.seed(db, auction["id"], args.lots, args.deposits, args.bids, args.users)
            print(f"seeded {args.lots} lots, {args.lots * args.deposits} deposits, {args.lots * args.bids} bids "
                  f"in {time.monotonic() - t:.1f} s")
            # Live soon, with time for every lot to go live before the end (not measured here).
            start = time.time() + 1
            end = start + max(3, args.lots * 0.02)
            status, body = await admin.put(f"/api/admin/auctions/{auction['id']}", {
                "preview_start": iso(start), "preview_end": iso(start), "auction_start": iso(start),
                "auction_end": iso(end)})
            assert status == 200, body
            while await db.lots.find_one({"auction_id": auction["id"], "status": {"$ne": "live"}}, {"_id": 1}):
                await asyncio.sleep(0.1)
            if time.time() > end:
                sys.exit(f"the lots went live only {time.time() - end:.1f} s after auction_end: raise the margin")
            ended_at = None
            while True:
                doc = await db.auctions.find_one({"_id": auction["id"]}, {"status": 1, "settle": 1, "ended_at": 1})
                if doc["status"] == "ended" and ended_at is None:
                    ended_at = time.time()
                # Done: the session settled, and every lot's refunds paid out (its `settle` done).
                if doc.get("settle") == "done" and not await db.lots.find_one(
                        {"auction_id": auction["id"], "settle": {"$ne": "done"}}, {"_id": 1}):
                    settled = time.time()
                    break
                await asyncio.sleep(0.05)
            await check(db, auction["id"], args)
    finally:
        server.stop()
    refunds = args.lots * (args.deposits - 1)
    print(f"session ended {ended_at - end:.2f} s after auction_end")
    print(f"close of {args.lots} lots ({refunds} refunds, {args.lots} orders) done "
          f"{settled - end:.2f} s after auction_end ({refunds / (settled - end):.0f} refunds/s)")


async def check(db, auction_id: str, args) -> None:
    """The close did what it should, exactly once."""
    refunds = args.lots * (args.deposits - 1)
    assert await db.lots.count_documents({"auction_id": auction_id, "status": "sold", "settle": "done"}) == args.lots
    assert await db.orders.count_documents({"auction_id": auction_id}) == args.lots
    assert await db.deposits.count_documents({"auction_id": auction_id, "state": "refunded"}) == refunds
    assert await db.deposit_refunds.count_documents({"status": "done"}) == refunds
    assert await db.ledger.count_documents({"kind": "refund"}) == refunds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=1000)
    parser.add_argument("--deposits", type=int, default=20, help="paid lot deposits per lot")
    parser.add_argument("--bids", type=int, default=2, help="bids per lot (the last bidder wins)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--redis", action="store_true", help="fan events out through Redis at 127.0.0.1:6379")
    args = parser.parse_args()
    assert args.deposits >= 2 and args.bids >= 1 and args.users >= args.deposits
    with tempfile.TemporaryDirectory(prefix="gavel-close-bench-") as tmp:
        store = EmbeddedStore(Path(tmp) / "store")
        store.start_sync()
        try:
            asyncio.run(run(args, f"{store.base_url}/close_bench", Path(tmp)))
        finally:
            store.stop_sync()


if __name__ == "__main__":
    main()
