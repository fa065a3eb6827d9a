"""Gavel's embedded store as its own service for the benchmark: starts an
nx-27017 under the given directory, prints its URL, and stops it when stdin
closes or on SIGTERM (the store also dies with this process)."""
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from server.embedded_store import EmbeddedStore  # noqa: E402


async def main(data_dir: str) -> None:
    store = EmbeddedStore(Path(data_dir))
    print(await store.start(), flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read() or done.set())
    await done.wait()
    await store.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
