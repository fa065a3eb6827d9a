"""Fan-out benchmark: how fast, and how correctly, bids on a lot reach N
WebSocket watchers — on Gavel and on a minimal baseline, side by side.

Per target: start the server (pinned to --server-cpus), prepare lots and
bidders, open N watcher sockets with bench/wsflood (C, pinned with this
driver to --client-cpus), measure the server's memory per idle watcher,
then bid at a fixed total rate for a fixed time from M Python bidder
sockets and measure ack latency, fan-out latency, delivery rate, CPU and
ordering. See bench/README.md for how to read the report.

    python bench/fanout.py --watchers 10000 --rate 20 --duration 20
    python bench/fanout.py --watchers 10000 --lots 50 --rate 200 --bidders 50
"""
import argparse
import asyncio
import copy
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

from report import analyse, markdown
from targets import BENCH, TARGETS, BenchError, Server, cpu_seconds, machine_cpu_seconds, rss_kb, tree_usage

WSFLOOD = BENCH / "wsflood"


# ---- watchers (bench/wsflood processes) --------------------------------------

class Watchers:
    """k wsflood processes sharing N connections; connection i watches lot i mod L."""

    def __init__(self, args, ports: list[int], lots: list[str]):
        self.args, self.ports, self.lots = args, ports, lots  # watcher process j connects to ports[j % len]
        self.procs: list[asyncio.subprocess.Process] = []
        self.progress: list[int] = []
        self.ready: list[tuple[int, int] | None] = []
        self.results: list[dict | None] = []
        self.readers: list[asyncio.Task] = []

    async def start(self) -> None:
        n, k = self.args.watchers, self.args.watcher_procs
        offset = 0
        for j in range(k if n else 0):  # none: a reference run of the same target without watchers
            count = n // k + (j < n % k)
            proc = await asyncio.create_subprocess_exec(
                str(WSFLOOD), "--port", str(self.ports[j % len(self.ports)]), "--lots", ",".join(self.lots),
                "--conns", str(count), "--lot-offset", str(offset), "--batch", str(self.args.batch),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 30,
                preexec_fn=(lambda: os.nice(self.args.client_nice)) if self.args.client_nice else None)
            offset += count
            self.procs.append(proc)
            self.progress.append(0)
            self.ready.append(None)
            self.results.append(None)
            self.readers.append(asyncio.create_task(self._read(j, proc)))

    async def _read(self, j: int, proc) -> None:
        async for line in proc.stdout:
            word, _, rest = line.decode().partition(" ")
            if word == "READY":
                ok, failed = rest.split()
                self.ready[j] = (int(ok), int(failed))
            elif word == "PROGRESS":
                self.progress[j] = int(rest)
            elif word == "RESULT":
                self.results[j] = json.loads(rest)

    async def wait_ready(self, timeout: float) -> tuple[int, int]:
        deadline = time.monotonic() + timeout
        while None in self.ready:
            if any(p.returncode is not None for p in self.procs):
                raise BenchError("a wsflood process exited before READY")
            if time.monotonic() > deadline:
                raise BenchError(f"watchers not all subscribed after {timeout:.0f}s")
            await asyncio.sleep(0.1)
        return sum(r[0] for r in self.ready), sum(r[1] for r in self.ready)

    def frames(self) -> int:
        return sum(self.progress)

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    async def finish(self) -> list[dict]:
        """Tell every process to stop and collect its RESULT."""
        for p in self.procs:
            if p.returncode is None:
                p.stdin.write(b"stop\n")
                await p.stdin.drain()
        await asyncio.wait_for(asyncio.gather(*self.readers), 60)
        await asyncio.gather(*(p.wait() for p in self.procs))
        if None in self.results:
            raise BenchError("a wsflood process gave no RESULT")
        return self.results

    def kill(self) -> None:
        for p in self.procs:
            if p.returncode is None:
                p.kill()


# ---- bidders ----------------------------------------------------------------

@dataclass
class Bid:
    lot: str
    bidder: int
    price: int
    sent_ns: int
    ack_ns: int = 0
    seq: int = 0
    error: str = ""


@dataclass
class LotState:
    """What the driver knows of a lot, to bid its next minimum without bidding against itself."""
    next_min: int
    increment: int
    last_sent: int = 0
    last_sender: int = -1
    leader: int = -1
    leader_seq: int = -1
    in_flight: Counter = field(default_factory=Counter)  # bidder -> unanswered bids
    acked: list[Bid] = field(default_factory=list)


class Bidders:
    def __init__(self, args, port: int, lots: list[str], tokens: list[str]):
        self.args, self.port, self.lots, self.tokens = args, port, lots, tokens
        self.sockets = []
        self.state: dict[str, LotState] = {}
        self.bids: dict[str, Bid] = {}
        self.unanswered = 0
        self.last_reply = 0
        self.late = 0
        self.cursor = -1
        self.readers: list[asyncio.Task] = []

    async def connect(self) -> None:
        for token in self.tokens:
            self.sockets.append(await connect(f"ws://127.0.0.1:{self.port}/ws?token={token}",
                                              compression=None, max_size=None, ping_interval=None,
                                              open_timeout=30))
        await self._read_snapshots()
        self.readers = [asyncio.create_task(self._read(i, ws)) for i, ws in enumerate(self.sockets)]

    async def _read_snapshots(self) -> None:
        """Start price and increment of every lot, from one subscribe/unsubscribe
        each, spread over the bidders (servers limit messages per socket)."""
        for i, lot_id in enumerate(self.lots):
            ws = self.sockets[i % len(self.sockets)]
            await ws.send(orjson.dumps({"op": "subscribe", "lot": lot_id}), text=True)
            while True:
                msg = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                if msg.get("type") == "snapshot":
                    break
                if msg.get("type") == "error":
                    raise BenchError(f"subscribe to {lot_id} refused: {msg}")
            lot = msg["lot"]
            self.state[lot_id] = LotState(next_min=lot["next_min"], increment=lot["increment"])
            await ws.send(orjson.dumps({"op": "unsubscribe", "lot": lot_id}), text=True)

    async def _read(self, index: int, ws) -> None:
        async for raw in ws:
            t = time.monotonic_ns()
            msg = orjson.loads(raw)
            bid = self.bids.get(msg.get("id")) if msg.get("type") in ("ack", "error") else None
            if bid is None:
                continue  # outbid notices, watcher counts, leftovers of the snapshot step
            lot = self.state[bid.lot]
            if msg["type"] == "ack":
                bid.ack_ns, bid.seq = t, msg["seq"]
                if bid.seq > lot.leader_seq:  # acks of one lot may come back out of order
                    lot.leader, lot.leader_seq = index, bid.seq
                lot.next_min = max(lot.next_min, bid.price + lot.increment)
                lot.acked.append(bid)
            else:
                bid.error = msg.get("code", "?")
                if isinstance(msg.get("next_min"), int):
                    lot.next_min = max(lot.next_min, msg["next_min"])
            lot.in_flight[bid.bidder] -= 1
            self.unanswered -= 1
            self.last_reply = t

    def _pick(self, lot: LotState) -> int:
        """Next bidder in one rotation over all lots (spreading each user's rate)
        that does not lead the lot and, if possible, has no bid on it in flight
        (one that lands after its own earlier bid is refused as already_leading)."""
        n = len(self.sockets)
        for busy_ok in (False, True):
            for step in range(1, n + 1):
                b = (self.cursor + step) % n
                if b not in (lot.leader, lot.last_sender) and (busy_ok or not lot.in_flight[b]):
                    self.cursor = b
                    return b
        raise BenchError("no bidder free to bid")  # only possible with fewer than 2 bidders

    async def run(self) -> int:
        """Send rate*duration bids on schedule; returns the first send time (ns).

        The price is the lot's next minimum, counting a bid still in flight as
        accepted (else every bid sent before the previous ack would be too low).
        """
        total = round(self.args.rate * self.args.duration)
        interval = 1e9 / self.args.rate
        t0 = time.monotonic_ns()
        for k in range(total):
            delay = (t0 + k * interval - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.01:
                self.late += 1
            lot_id = self.lots[k % len(self.lots)]
            lot = self.state[lot_id]
            b = self._pick(lot)
            price = max(lot.next_min, lot.last_sent + lot.increment if lot.last_sent else 0)
            lot.last_sent, lot.last_sender = price, b
            lot.in_flight[b] += 1
            bid_id = f"b{k}"
            self.bids[bid_id] = Bid(lot_id, b, price, time.monotonic_ns())
            self.unanswered += 1
            await self.sockets[b].send(orjson.dumps(
                {"op": "bid", "lot": lot_id, "price": price, "id": bid_id}), text=True)
        self.last_reply = max(self.last_reply, time.monotonic_ns())  # settle() counts quiet from here
        return t0

    async def settle(self, quiet_s: float) -> None:
        """Wait for every reply, or until none came for quiet_s."""
        while self.unanswered > 0 and time.monotonic_ns() - self.last_reply < quiet_s * 1e9:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


# ---- one target ---------------------------------------------------------------

async def wait_delivered(watchers: Watchers, expected: int, quiet_s: float) -> None:
    """Until watchers got `expected` bid frames, or the count stood still for quiet_s."""
    last, since = -1, time.monotonic()
    while watchers.frames() < expected:
        if watchers.frames() != last:
            last, since = watchers.frames(), time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        await asyncio.sleep(0.05)


def usage(server: Server, watchers: Watchers) -> tuple:
    """CPU seconds so far: server, server tree, wsflood, this driver, whole machine."""
    pid = server.proc.pid
    return cpu_seconds(pid), tree_usage(pid)[0], watchers.cpu(), time.process_time(), machine_cpu_seconds()


async def run_target(server: Server, args) -> dict:
    watchers = bidders = None
    try:
        # Blocking calls on purpose: a cancellation (SIGINT/SIGTERM) must not
        # reach `finally` while a thread is still starting the server.
        server.start()
        prepared = server.prepare(args.lots, args.bidders)
        pid = server.proc.pid
        rss_before = rss_kb(pid)
        t_open = time.monotonic()
        watchers = Watchers(args, getattr(server, "ports", [server.port]), prepared.lots)
        await watchers.start()
        ready, failed = await watchers.wait_ready(args.connect_timeout)
        if not ready and args.watchers:
            raise BenchError(f"no watcher could subscribe ({failed} failed): see {server.log_path}")
        connect_s = time.monotonic() - t_open
        await asyncio.sleep(args.idle)
        rss_after = rss_kb(pid)
        tree_rss = tree_usage(pid)[1]

        bidders = Bidders(args, server.port, prepared.lots, prepared.tokens)
        await bidders.connect()
        cpu0 = usage(server, watchers)
        t_phase = time.monotonic_ns()
        first_send = await bidders.run()
        await bidders.settle(args.settle)
        n_lots = len(prepared.lots)
        expected = sum(len(bidders.state[lot].acked) * (args.watchers // n_lots + (i < args.watchers % n_lots))
                       for i, lot in enumerate(prepared.lots))
        await wait_delivered(watchers, expected, args.settle)
        phase_s = (time.monotonic_ns() - t_phase) / 1e9
        cpu = [b - a for a, b in zip(cpu0, usage(server, watchers))]
        results = await watchers.finish()
    finally:
        if bidders:
            await bidders.close()
        if watchers:
            watchers.kill()
        server.stop()

    report = analyse(args, bidders, results, first_send)
    report["connections"].update(watchers_ready=ready, watchers_failed=failed, connect_s=round(connect_s, 2),
                                 bidders=len(prepared.tokens))
    report["memory"] = {
        "rss_before_mb": round(rss_before / 1024, 1), "rss_after_mb": round(rss_after / 1024, 1),
        "kb_per_watcher": round((rss_after - rss_before) / max(ready, 1), 2),
        "tree_rss_mb": round(tree_rss / 1024, 1),
    }
    server_s, tree_s, watchers_s, driver_s, machine_s = cpu
    others_s = machine_s - tree_s - watchers_s - driver_s
    report["cpu"] = {
        "phase_s": round(phase_s, 2),
        "server_s": round(server_s, 2), "server_tree_s": round(tree_s, 2),
        "server_pct": round(100 * tree_s / phase_s, 1),
        "watchers_s": round(watchers_s, 2), "driver_s": round(driver_s, 2),
        "client_pct": round(100 * (watchers_s + driver_s) / phase_s, 1),
        # Busy time of the machine outside the server, wsflood and the driver:
        # interrupts (the loopback TCP stack's share, typically ~10% of the
        # phase) plus any other work, which would skew every figure above.
        "others_s": round(others_s, 2),
    }
    if report["cpu"]["client_pct"] > 85:
        print(f"[{server.name}] warning: the load clients used {report['cpu']['client_pct']}% of a core: "
              "the figures may measure them, not the server", file=sys.stderr)
    if others_s > 0.25 * phase_s:
        print(f"[{server.name}] warning: {others_s:.1f} CPU s went to interrupts and other work "
              f"during the {phase_s:.1f} s bid phase", file=sys.stderr)
    return report


# ---- analysis ---------------------------------------------------------------


def build_wsflood() -> None:
    """(Re)compile wsflood when its source is newer than the binary."""
    src = BENCH / "wsflood.c"
    if WSFLOOD.exists() and WSFLOOD.stat().st_mtime >= src.stat().st_mtime:
        return
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(WSFLOOD), str(src)], check=True)


def cpu_set(text: str) -> set[int]:
    return {int(c) for c in text.split(",")}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--watchers", type=int, default=1000, help="watcher sockets (N)")
    p.add_argument("--bidders", type=int, default=20, help="bidder sockets/users (M)")
    p.add_argument("--rate", type=float, default=20, help="total bids per second (R)")
    p.add_argument("--duration", type=float, default=20, help="seconds of bidding (T)")
    p.add_argument("--lots", type=int, default=1, help="lots; bids and watchers spread evenly")
    p.add_argument("--targets", default="gavel,baseline,raw",
                   help="comma-separated: " + ",".join(TARGETS) + "; NAME@N runs it with N watchers (gavel@0: a reference)")
    p.add_argument("--watcher-procs", type=int, default=1, help="wsflood processes sharing the watchers")
    p.add_argument("--batch", type=int, default=200, help="connections a wsflood opens at a time")
    p.add_argument("--server-cpus", type=cpu_set, default={0}, help="CPUs the servers are pinned to")
    p.add_argument("--client-cpus", type=cpu_set, default={1}, help="CPUs wsflood and this driver use")
    p.add_argument("--store-cpus", type=cpu_set, default=None,
                   help="CPUs of Gavel's store (nx-27017), a separate service (default: the client CPUs)")
    p.add_argument("--client-nice", type=int, default=0,
                   help="niceness of the watcher processes (with CPUs shared: the server comes first)")
    p.add_argument("--start-price", type=int, default=10000, help="lots' start price (cents)")
    p.add_argument("--increment", type=int, default=100, help="lots' increment (cents)")
    p.add_argument("--deposit", type=int, default=100, help="Gavel session and lot deposit (cents)")
    p.add_argument("--lead", type=int, default=3, help="seconds from creating the session to its start")
    p.add_argument("--idle", type=float, default=2, help="seconds watchers sit idle before RSS is read")
    p.add_argument("--settle", type=float, default=10,
                   help="give up waiting for acks/deliveries after this many quiet seconds")
    p.add_argument("--start-timeout", type=float, default=90, help="seconds for /healthz to answer 200")
    p.add_argument("--connect-timeout", type=float, default=300, help="seconds for all watchers to subscribe")
    p.add_argument("--redis-url", default="", help="pass REDIS_URL (and a fresh REDIS_PREFIX) to Gavel")
    p.add_argument("--out", type=Path, help="also write the JSON report here")
    args = p.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t.partition("@")[0] not in TARGETS or
               "@" in t and not t.partition("@")[2].isdigit()]
    if unknown:
        p.error(f"unknown target(s) {unknown}; choose from {list(TARGETS)}")
    if args.bidders < 2:
        p.error("need at least 2 bidders (nobody may outbid themselves)")
    if args.watchers < args.watcher_procs:
        p.error("fewer watchers than watcher processes")
    return args


async def main(argv=None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.watchers / args.watcher_procs > hard - 100:
        print(f"warning: {args.watchers} watchers need more than the open-file limit {hard}", file=sys.stderr)
    try:
        os.sched_setaffinity(0, args.client_cpus)
    except OSError as exc:
        print(f"warning: cannot pin the driver to {args.client_cpus}: {exc}", file=sys.stderr)
    build_wsflood()

    task = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)  # cleanup runs in `finally`
    reports: dict[str, dict] = {}
    for name in args.targets:
        target, _, watchers = name.partition("@")  # gavel@0: gavel with no watchers, a reference for its acks
        run_args = copy.copy(args)
        if watchers:
            run_args.watchers = int(watchers)
        print(f"[{name}] {run_args.watchers} watchers, {args.bidders} bidders, {args.lots} lot(s), "
              f"{args.rate:g} bids/s for {args.duration:g}s", file=sys.stderr, flush=True)
        server = TARGETS[target](run_args)
        try:
            reports[name] = await run_target(server, run_args)
        except (BenchError, OSError) as exc:
            print(f"[{name}] failed: {exc}", file=sys.stderr)
            reports[name] = {"error": str(exc)}
    doc = {"params": {k: sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v
                      for k, v in vars(args).items()}, "results": reports}
    brief = {**doc, "results": {name: {k: v for k, v in r.items() if k != "per_bid"} for name, r in reports.items()}}
    print(json.dumps(brief, indent=2, ensure_ascii=False))  # the per-bid rows only go to --out
    print()
    print(markdown(reports))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, ensure_ascii=False) + "\n")
    return 0 if all("error" not in r and r["correctness"]["ok"] for r in reports.values()) else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except asyncio.CancelledError:
        sys.exit("interrupted; servers and watchers stopped")
