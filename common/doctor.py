"""`python -m common.doctor`: check the settings and reach every dependency, one line each.

Jobs run the same checks at start-up; this entry point lets an operator check a deployment's
configuration before scheduling anything.
"""

from __future__ import annotations

import argparse
import logging

from common.cli import add_settings_flags, run_entry, settings_from_args
from common.errors import ConfigError
from common.settings import Settings
from common.storage import check_lake

log = logging.getLogger("doctor")


def check_mongo(settings: Settings) -> None:
    """Ping MONGO_URI with a short timeout."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient[dict[str, object]] = MongoClient(
        settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=3000, connectTimeoutMS=3000
    )
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        raise ConfigError("MONGO_URI", f"cannot reach the server: {str(exc).split(',')[0]}") from None
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.doctor", description=__doc__)
    add_settings_flags(parser)
    parser.add_argument("--mongo", action="store_true", help="also check MONGO_URI")
    args = parser.parse_args(argv)

    def _run() -> int:
        settings = settings_from_args(args)
        check_lake(settings)
        log.info("LAKE_ROOT ok: %s", settings.lake_root)
        if args.mongo:
            check_mongo(settings)
            log.info("MONGO_URI ok")
        return 0

    return run_entry("doctor", _run)


if __name__ == "__main__":
    raise SystemExit(main())
