"""One embedded store for a whole test session (spec/mongo-subset.md: the
test command starts what it needs). Tests take the base URL and add their
own database name, e.g. f"{base}/gavel_bidding", so they do not collide."""
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from server.embedded_store import EmbeddedStore


@contextmanager
def embedded_mongo() -> Iterator[str]:
    """Yield `mongodb://127.0.0.1:PORT` (no database) of a fresh nx-27017
    in a temporary directory; stop it and delete the directory afterwards."""
    with tempfile.TemporaryDirectory(prefix="gavel-mongo-") as tmp:
        store = EmbeddedStore(Path(tmp))
        store.start_sync()
        try:
            yield store.base_url
        finally:
            store.stop_sync()
