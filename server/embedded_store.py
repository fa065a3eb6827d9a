"""The embedded store: an `nx-27017` child process (spec/mongo-subset.md,
"Running it") used when no MONGODB_URL is configured, and by the tests.

Layout under `data_dir`: `mongo/` (one SQLite file per logical database),
`mongo.pid`, `mongo.log` (the store's log lines and tracebacks).

No orphans: the child gets SIGKILL when its parent dies, however it dies
(`prctl(PR_SET_PDEATHSIG)`, Linux). The kernel sends that signal when the
*thread* that forked the child exits, so call `start()` from the main thread
(the asyncio loop of the server and of pytest-tornado runs there). The child
has its own session, so a Ctrl-C in the terminal reaches only the server,
which closes its connections and then calls `stop()`.
"""
import asyncio
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

EXECUTABLE = "nx-27017"
DB_NAME = "gavel"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
_PORT_ATTEMPTS = 3  # a free port can be taken between our probe and the child's bind
_PR_SET_PDEATHSIG = 1


class EmbeddedStoreError(RuntimeError):
    pass


class EmbeddedStore:
    def __init__(self, data_dir: Path, executable: str | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.db_dir = self.data_dir / "mongo"
        self.pid_file = self.data_dir / "mongo.pid"
        self.log_file = self.data_dir / "mongo.log"
        self.executable = executable or find_executable()
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self._log_start = 0  # where this run's lines begin in mongo.log

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def base_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/{DB_NAME}"

    async def start(self) -> str:
        """Start the child and return its URL once it answers a ping."""
        if self._proc is not None:
            raise EmbeddedStoreError("embedded store already started")
        if threading.current_thread() is not threading.main_thread():
            log.warning("embedded store started off the main thread: it dies with that thread")
        self.db_dir.mkdir(parents=True, exist_ok=True)
        await _clear_stale(self.pid_file, self.db_dir)
        started = time.monotonic()
        for attempt in range(_PORT_ATTEMPTS):
            self.port = free_port()
            self._proc = self._spawn()
            try:
                await self._wait_ready(started + START_TIMEOUT_S)
            except _ExitedEarly:
                self._proc = None
                if "address already in use" in self.log_tail().lower() and attempt + 1 < _PORT_ATTEMPTS:
                    continue
                raise EmbeddedStoreError(
                    f"{EXECUTABLE} exited at start-up; log tail:\n{self.log_tail()}") from None
            except BaseException:
                await self.stop()
                raise
            log.info("embedded store %s ready in %.2f s (pid %s, %s)",
                     self.url, time.monotonic() - started, self.pid, self.db_dir)
            return self.url
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        """SIGTERM, up to STOP_TIMEOUT_S for a clean exit, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            if not await _wait_exit(proc, STOP_TIMEOUT_S):
                log.warning("embedded store pid %s ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                await _wait_exit(proc, STOP_TIMEOUT_S)
        if proc is not None and _read_pid(self.pid_file) == proc.pid:
            self.pid_file.unlink(missing_ok=True)  # left behind after a SIGKILL

    def start_sync(self) -> str:
        """`start()` for code without a running loop (pytest fixtures)."""
        return asyncio.run(self.start())

    def stop_sync(self) -> None:
        asyncio.run(self.stop())

    def log_tail(self, lines: int = 30) -> str:
        """The last lines this run wrote to mongo.log."""
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(self._log_start)
                text = fh.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _spawn(self) -> subprocess.Popen:
        # nx-27017 logs every line both to stderr and to --log-file: stderr
        # (which also carries its tracebacks) goes to mongo.log and the
        # --log-file copy to /dev/null, so each line is written once.
        args = [self.executable, "--db", str(self.db_dir), "-p", str(self.port),
                "--pid-file", str(self.pid_file), "--log-file", os.devnull]
        with open(self.log_file, "ab") as log_fh:
            self._log_start = log_fh.tell()
            return subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_fh,
                start_new_session=True, preexec_fn=_die_with_parent_fn())

    async def _wait_ready(self, deadline: float) -> None:
        # Poll the port first (cheap, every 20 ms); then one real ping. Pinging
        # before the port is open would make pymongo back off for 0.5 s.
        while True:
            if self._proc.poll() is not None:
                raise _ExitedEarly()
            if time.monotonic() > deadline:
                raise EmbeddedStoreError(
                    f"{EXECUTABLE} did not answer within {START_TIMEOUT_S:.0f} s; "
                    f"log tail:\n{self.log_tail()}")
            if await _port_open(self.port):
                try:
                    await _ping(self.url)
                    return
                except PyMongoError:
                    pass
            await asyncio.sleep(0.02)


class _ExitedEarly(Exception):
    pass


def find_executable() -> str:
    beside = Path(sys.executable).parent / EXECUTABLE
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(EXECUTABLE)
    if not found:
        raise EmbeddedStoreError(f"{EXECUTABLE} not found next to {sys.executable} or on PATH")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent_fn():
    """A preexec_fn asking the kernel to SIGKILL the child when we die, or
    None where prctl is unavailable. libc is loaded here, before the fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def die_with_parent():
        # SIGKILL, not SIGTERM: nx-27017 sometimes outlives a SIGTERM once its
        # clients are gone, and its acknowledged writes survive a kill -9
        # (spec/mongo-subset.md 16). A normal stop still asks with SIGTERM.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return die_with_parent


async def _clear_stale(pid_file: Path, db_dir: Path) -> None:
    """A pid file left by a crashed run: stop its process if it is still an
    nx-27017 on our directory, and remove the file either way (nx-27017
    refuses to start while its pid file names any live process)."""
    pid = _read_pid(pid_file)
    if pid is not None and _is_our_store(pid, db_dir):
        log.warning("stopping stale embedded store pid %s on %s", pid, db_dir)
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while pid_alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
            while pid_alive(pid):
                await asyncio.sleep(0.02)
    pid_file.unlink(missing_ok=True)


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_store(pid: int, db_dir: Path) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return any(EXECUTABLE in a for a in args) and str(db_dir) in args


def pid_alive(pid: int) -> bool:
    """Linux: True while `pid` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


async def _wait_exit(proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


async def _ping(url: str) -> None:
    client = AsyncMongoClient(url, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
    try:
        await client.admin.command("ping")
    finally:
        await client.close()
