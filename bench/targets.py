"""The servers bench/fanout.py measures: how each is started, prepared for a
run (lots, bidder tokens) and stopped, and how its CPU and memory are read.

Each server runs in its own process group, pinned to the server CPUs, with
a raised open-file limit, in a fresh temporary data directory, so runs do
not disturb each other and nothing is left behind.
"""
import copy
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run cannot go on; the message says why (with the server's answer)."""


@dataclass
class Prepared:
    lots: list[str]
    tokens: list[str]  # one per bidder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- /proc readings ---------------------------------------------------------

def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (field 3 is index 0)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all but idle and iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """pid and every process below it (Gavel's store runs as a child)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat(int(entry))[1]), []).append(int(entry))
            except (OSError, IndexError):
                pass  # exited meanwhile
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def tree_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS kB) summed over the process tree."""
    cpu, rss = 0.0, 0
    for p in descendants(pid):
        try:
            cpu += cpu_seconds(p)
            rss += rss_kb(p)
        except OSError:
            pass
    return cpu, rss


# ---- HTTP -------------------------------------------------------------------

def http(base: str, method: str, path: str, body=None, token: str = "", expect=(200, 201)) -> dict:
    """One JSON call; any other status aborts the run with the server's answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "token " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError as exc:
        raise BenchError(f"{method} {path}: {exc}") from None
    if status not in expect:
        raise BenchError(f"{method} {path} -> {status}, expected {expect}: {raw[:2000].decode(errors='replace')}")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise BenchError(f"{method} {path} -> {status}, not JSON: {raw[:500]!r}") from None


def find_id(body: dict, what: str) -> str:
    """The created object's id, top-level or one level down ({"auction": {...}})."""
    if isinstance(body.get("id"), str):
        return body["id"]
    for value in body.values():
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            return value["id"]
    raise BenchError(f"no id in the created {what}: {json.dumps(body)[:500]}")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- server processes -------------------------------------------------------

class Server:
    """A server process under test. Subclasses say how to start and prepare it."""

    name = ""

    def __init__(self, args):
        self.args = args
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = OUT / f"{self.name}-server.log"

    def command(self) -> tuple[list[str], dict]:
        raise NotImplementedError

    def prepare(self, n_lots: int, n_bidders: int) -> Prepared:
        raise NotImplementedError

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv, env = self.command()
        cpus = self.args.server_cpus

        def pin_and_raise():
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            os.sched_setaffinity(0, cpus)

        OUT.mkdir(exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=pin_and_raise)
        self._wait_healthy(self.args.start_timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} at start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name}: /healthz not 200 after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the server (it stops its own children), then clear its process group."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"[{self.name}] did not stop in 20s after SIGTERM; killing", file=sys.stderr)
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _group_alive(pgid):
                time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc = None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


class Baseline(Server):
    """bench/baseline_server.py: no HTTP preparation, lots exist when named."""

    name = "baseline"

    def command(self):
        argv = [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(self.port),
                "--start-price", str(self.args.start_price), "--increment", str(self.args.increment)]
        return argv, dict(os.environ)

    def prepare(self, n_lots, n_bidders):
        return Prepared([f"L{i + 1}" for i in range(n_lots)], [f"bidder{i}" for i in range(n_bidders)])


class Raw(Baseline):
    """bench/baseline_server.py --raw: the floor, one pre-built frame written to each watcher in a loop."""

    name = "raw"

    def command(self):
        argv, env = super().command()
        return [*argv, "--raw"], env


class Gavel(Server):
    """run.py in a fresh DATA_DIR; lots, users and deposits made through the HTTP API.

    The store is started apart from the server (an nx-27017 pinned to
    --store-cpus, by default the load clients' core), as a MongoDB would be
    its own machine in production: pinned beside the server it would take
    half of the server's core, and its loopback traffic with it."""

    name = "gavel"

    def __init__(self, args):
        super().__init__(args)
        self.data_dir = tempfile.mkdtemp(prefix="gavel-bench-")
        self.admin_token = secrets.token_hex(16)
        self.store = None

    def command(self):
        if not (REPO / "run.py").exists():
            raise BenchError(f"{REPO / 'run.py'} does not exist yet")
        cpus = self.args.store_cpus or self.args.client_cpus
        self.store = subprocess.Popen([sys.executable, str(BENCH / "store.py"), str(Path(self.data_dir) / "store")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                      preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        url = self.store.stdout.readline().strip()
        if not url.startswith("mongodb://"):
            raise BenchError(f"the store did not start: {url!r}")
        # Every watcher connects from this one address: lift the per-address limit on new sockets.
        env = dict(os.environ, DATA_DIR=self.data_dir, ADMIN_TOKEN=self.admin_token, MONGODB_URL=url,
                   SMS_SANDBOX="1", WS_CONNECTS_PER_SECOND="1000000")
        if self.args.redis_url:
            env.update(REDIS_URL=self.args.redis_url, REDIS_PREFIX=f"bench-{secrets.token_hex(4)}:")
        return [sys.executable, "run.py", "--port", str(self.port)], env

    def stop(self):
        super().stop()
        if self.store:
            self.store.stdin.close()
            self.store.wait(timeout=20)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def prepare(self, n_lots, n_bidders):
        a = self.args
        now = time.time()
        start = int(now) + 1 + a.lead
        auction = http(self.base, "POST", "/api/admin/auctions", {
            "title": "fan-out bench", "preview_start": iso(now), "preview_end": iso(now),
            "auction_start": iso(start), "auction_end": iso(start + 3600), "deposit": a.deposit,
        }, self.admin_token, expect=(201,))
        auction_id = find_id(auction, "session")
        lots = [find_id(http(self.base, "POST", f"/api/admin/auctions/{auction_id}/lots", {
            "title": f"bench lot {i + 1}", "start_price": a.start_price, "increment": a.increment,
            "deposit": a.deposit,
        }, self.admin_token, expect=(201,)), "lot") for i in range(n_lots)]
        tokens = []
        for i in range(n_bidders):
            phone = f"139{i:08d}"
            code = http(self.base, "POST", "/api/auth/code", {"phone": phone}).get("dev_code")
            if not code:
                raise BenchError("POST /api/auth/code gave no dev_code: is SMS_SANDBOX off?")
            login = http(self.base, "POST", "/api/auth/login", {"phone": phone, "code": code})
            if not login.get("token"):
                raise BenchError(f"login gave no token: {json.dumps(login)[:500]}")
            tokens.append(login["token"])
        self._wait_live(lots, start + 30)
        for token in tokens:
            http(self.base, "POST", "/api/deposits",
                 {"auction_id": auction_id, "lot_id": None, "pay_type": "balance"}, token, expect=(201,))
        return Prepared(lots, tokens)

    def _wait_live(self, lots: list[str], deadline: float) -> None:
        pending = list(lots)
        while pending:
            lot = http(self.base, "GET", f"/api/lots/{pending[-1]}")
            status = lot.get("status", lot.get("lot", {}).get("status"))
            if status == "live":
                pending.pop()
            elif time.time() > deadline:
                raise BenchError(f"lot {pending[-1]} not live by auction_start + 30s: {json.dumps(lot)[:500]}")
            else:
                time.sleep(0.2)


class GavelPair(Gavel):
    """Two Gavel nodes sharing the store and Redis, each pinned to one of
    --server-cpus: the watcher processes are split between them and the
    bidders bid on the first, so every bid crosses Redis to the second node's
    watchers. How Gavel's fan-out uses more than one core: more nodes."""

    name = "gavel2"

    def __init__(self, args):
        super().__init__(args)
        self.second = Server(args)
        self.second.name, self.second.log_path = "gavel2-b", OUT / "gavel2-b-server.log"

    @property
    def ports(self) -> list[int]:
        return [self.port, self.second.port]

    def command(self):
        argv, env = super().command()
        if not env.get("REDIS_URL"):
            env.update(REDIS_URL="redis://127.0.0.1:6379/0", REDIS_PREFIX=f"bench-{secrets.token_hex(4)}:")
        self._env = env
        return argv, env

    def start(self):
        cpus = sorted(self.args.server_cpus)
        if len(cpus) < 2:
            raise BenchError("gavel2 needs two --server-cpus, one per node")
        first, self.args = self.args, copy.copy(self.args)
        self.args.server_cpus = {cpus[0]}
        super().start()
        self.second.args = copy.copy(first)
        self.second.args.server_cpus = {cpus[1]}
        self.second.command = lambda: ([sys.executable, "run.py", "--port", str(self.second.port)], self._env)
        self.second.start()
        self.args = first

    def stop(self):
        self.second.stop()
        super().stop()


TARGETS = {cls.name: cls for cls in (Gavel, GavelPair, Baseline, Raw)}
