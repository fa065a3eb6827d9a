"""Coupon claim benchmark: a flash claim on real Gavel nodes sharing one
store and Redis. Many users (logged in beforehand, in bulk) claim one coupon
at the same moment over HTTP, each on its own connection, the nodes taking
turns; then every count is checked, so a fast wrong answer does not pass
for a fast one: exactly `count` user coupons for distinct users, the
coupon's own count, every other answer `coupon_sold_out`, no 5xx.

    python bench/coupon_claims.py                        # 500 users, 100 coupons, 2 nodes, 5 rounds
    python bench/coupon_claims.py --users 2000 --count 500 --rounds 3
"""
import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import bulk  # noqa: E402
from gavel_server import Api, GavelServer  # noqa: E402
from helpers import claim_all, claiming_coupon, database  # noqa: E402
from server.embedded_store import EmbeddedStore  # noqa: E402
from targets import cpu_seconds, machine_cpu_seconds  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def cpu_now(store_pid: int, nodes: list[GavelServer]) -> list[float]:
    """CPU seconds so far of: the store, the nodes together, this driver, the whole machine."""
    return [cpu_seconds(store_pid), sum(cpu_seconds(n.proc.pid) for n in nodes), time.process_time(),
            machine_cpu_seconds()]


async def one_round(nodes: list[GavelServer], store_pid: int, url: str, args) -> dict:
    admin = Api(nodes[0].url, nodes[0].admin_token)
    async with database(url) as db:
        tokens = await bulk.logged_in_users(db, args.users)
        coupon = await claiming_coupon(admin, count=args.count)
        cpu_before, started = cpu_now(store_pid, nodes), time.monotonic()
        answers = await claim_all([n.url for n in nodes], tokens, coupon["id"])
        wall = time.monotonic() - started
        cpu = [after - before for before, after in zip(cpu_before, cpu_now(store_pid, nodes))]
        statuses = Counter(status for status, _, _ in answers)
        codes = Counter(body["error"]["code"] for status, body, _ in answers if status != 201)
        held = await db.user_coupons.find({"coupon_id": coupon["id"]}, {"user_id": 1, "status": 1}).to_list(None)
        stored = await db.coupons.find_one({"_id": coupon["id"]})
    expected = {201: args.count, 409: args.users - args.count} if args.users > args.count else {201: args.users}
    checks = {
        "answers": dict(statuses) == expected,
        "sold_out only": set(codes) <= {"coupon_sold_out"},
        "user coupons": len(held) == len({h["user_id"] for h in held}) == min(args.count, args.users),
        "all unused": {h["status"] for h in held} <= {"unused"},
        "coupon's count": (stored["claimed"], stored["remaining"]) == (len(held), args.count - len(held)),
    }
    seconds = [s * 1000 for _, _, s in answers]
    return {"claims/s": len(answers) / wall, "wall s": wall, "p50 ms": statistics.median(seconds),
            "p99 ms": percentile(seconds, 99), "max ms": max(seconds), "statuses": dict(statuses),
            "cpu s": dict(zip(("store", "nodes", "driver", "machine"), cpu)),
            "failed checks": [name for name, ok in checks.items() if not ok]}


async def run(args, store_pid: int, url: str, data_dir: Path) -> bool:
    prefix = f"gavel-bench-coupons-{secrets.token_hex(3)}:"
    nodes = [GavelServer(data_dir / f"node{i}", url, prefix=prefix).start() for i in range(args.nodes)]
    try:
        results = [await one_round(nodes, store_pid, url, args) for _ in range(args.rounds)]
    finally:
        for node in nodes:
            node.stop()
    print(f"{args.users} users claiming {args.count} coupons at once over {args.nodes} nodes (Redis), "
          f"{args.rounds} rounds")
    print("| round | claims/s | wall s | p50 ms | p99 ms | max ms | CPU s: store / nodes / driver / machine | answers "
          "| checks |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(results, 1):
        cpu = " / ".join(f"{v:.2f}" for v in r["cpu s"].values())
        print(f"| {i} | {r['claims/s']:.0f} | {r['wall s']:.2f} | {r['p50 ms']:.0f} | {r['p99 ms']:.0f} | "
              f"{r['max ms']:.0f} | {cpu} | {r['statuses']} | {', '.join(r['failed checks']) or 'ok'} |")
    return not any(r["failed checks"] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--count", type=int, default=100, help="the coupon's quantity")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="a fresh coupon and fresh users each round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gavel-coupon-bench-") as tmp:
        store = EmbeddedStore(Path(tmp) / "store")
        store.start_sync()
        try:
            ok = asyncio.run(run(args, store.pid, f"{store.base_url}/coupon_bench", Path(tmp)))
        finally:
            store.stop_sync()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
