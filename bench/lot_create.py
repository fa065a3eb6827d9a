"""Lot creation benchmark: how long each `POST /api/admin/auctions/{id}/lots`
takes as one session grows to N lots, on a real server and store.

    python bench/lot_create.py              # 1,000 lots
    python bench/lot_create.py --lots 300
"""
import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from gavel_server import Api, GavelServer  # noqa: E402
from helpers import lot_body, session_body  # noqa: E402
from mongo_fixture import embedded_mongo  # noqa: E402


async def run(args, base_url: str, data_dir: Path) -> list[float]:
    server = GavelServer(data_dir, f"{base_url}/lot_create", redis=args.redis).start()
    try:
        admin = Api(server.url, server.admin_token)
        status, auction = await admin.post("/api/admin/auctions", session_body())
        assert status == 201, auction
        times = []
        for i in range(args.lots):
            t = time.perf_counter()
            status, lot = await admin.post(f"/api/admin/auctions/{auction['id']}/lots", lot_body(title=f"拍品{i}"))
            times.append(time.perf_counter() - t)
            assert status == 201, lot
        return times
    finally:
        server.stop()


def report(times: list[float], step: int) -> None:
    print("lots        median ms   max ms")
    for start in range(0, len(times), step):
        part = sorted(times[start:start + step])
        print(f"{start + 1:>5}-{start + len(part):<5} {part[len(part) // 2] * 1000:8.1f} {part[-1] * 1000:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lots", type=int, default=1000)
    parser.add_argument("--redis", action="store_true", help="with Redis (REDIS_URL), as a cluster node")
    parser.add_argument("--step", type=int, default=100, help="lots per row of the report")
    args = parser.parse_args()
    with embedded_mongo() as base_url, tempfile.TemporaryDirectory(prefix="gavel-lots-") as tmp:
        times = asyncio.run(run(args, base_url, Path(tmp)))
    report(times, args.step)


if __name__ == "__main__":
    main()
