"""Entry-point wrapper: expected failures end with one line and a non-zero exit."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from common.errors import ConfigError, PlatformError, one_line
from common.logging import redact, setup_logging
from common.settings import Settings, load_settings

if TYPE_CHECKING:
    from common.runner import JobRun

log = logging.getLogger(__name__)

EXIT_ERROR = 1
EXIT_USAGE = 2


def run_entry(name: str, main: Callable[[], int | None]) -> int:
    """Run an entry point that is not a job (the API, the doctor): failures as `run_job` maps them."""
    setup_logging()
    code, error, notice = _call(main, lambda: None)
    _print(name, error, notice)
    return code


def run_job(name: str, main: Callable[[JobRun], int | None], args: argparse.Namespace) -> int:
    """Run a job's main over its `JobRun` (common.runner); map failures to one `error:` line on
    stderr and an exit code.

    A PlatformError is expected (bad input, a dependency down) and prints its message alone.
    Anything else is a bug: the traceback goes to the debug log, and a one-line summary is printed.
    The run is recorded in the run ledger (common.ledger): a ledger that cannot be written fails
    the run, before any work when it is at the start.
    """
    from common import ledger
    from common.runner import JobRun

    setup_logging()
    try:
        settings = settings_from_args(args)
        record = ledger.open_run(name, settings, ledger.args_snapshot(args, SETTING_DESTS))
    except PlatformError as exc:
        print(f"{name}: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    job = JobRun(name, settings, record=record)
    try:
        cause = partial(_lake_cause, settings)
        code, error, notice = _call(lambda: main(job), lambda: job.stopped_reason, cause)
    finally:
        job.close()
    try:
        failure = error or notice or (f"exit status {code}" if code else None)
        ledger.close_run(record, failure)
    except PlatformError as exc:
        if error is None and notice is None:
            code, error = EXIT_ERROR, redact(str(exc))
        else:  # the run's own failure stays the line printed last
            log.warning("%s", redact(str(exc)))
    _print(name, error, notice)
    return code


def _print(name: str, error: str | None, notice: str | None) -> None:
    if notice is not None:
        print(f"{name}: {notice}", file=sys.stderr)
    elif error is not None:
        print(f"{name}: error: {error}", file=sys.stderr)


# How the JVM's clients (S3A, the AWS SDK) name a server that does not answer.
_UNREACHABLE = ("ConnectException", "NoRouteToHostException", "UnknownHostException", "Connection refused")


def _lake_cause(settings: Settings, line: str) -> str | None:
    """A Spark failure whose root cause is a connection no server took, on an S3 lake: the lake's
    object store stopped answering (a Spark job reads or writes nothing else over the network)."""
    if settings.lake_is_s3 and any(word in line for word in _UNREACHABLE):
        return f"the lake's object store ({settings.s3_endpoint_url or 'S3'}) does not answer: {line}"
    return None


def _call(
    main: Callable[[], int | None],
    stopped_reason: Callable[[], str | None],
    cause: Callable[[str], str | None] = lambda line: None,
) -> tuple[int, str | None, str | None]:
    """(exit code, the one-line error or None, a notice that is not an error or None).

    A session the executor watch stopped fails whatever ran: `stopped_reason` is then the cause;
    `cause` names a known root cause of an unexpected failure (see `_lake_cause`).
    """
    try:
        return main() or 0, None, None
    except PlatformError as exc:
        return EXIT_ERROR, stopped_reason() or redact(str(exc)), None
    except KeyboardInterrupt:
        return 130, None, "interrupted; rerun the same command to resume"
    except Exception as exc:
        log.debug("unexpected failure", exc_info=True)
        root = redact(one_line(exc, limit=500))
        return EXIT_ERROR, stopped_reason() or cause(root) or f"{type(exc).__name__}: {root}", None


# Settings that every job also accepts as a flag (the environment stays the default).
_SETTING_FLAGS = (
    ("--lake-root", "lake_root", "LAKE_ROOT: local path or s3a://bucket/prefix"),
    ("--s3-endpoint-url", "s3_endpoint_url", "S3_ENDPOINT_URL: S3-compatible endpoint"),
    ("--github-api-url", "github_api_url", "GITHUB_API_URL: GitHub REST base URL"),
    ("--wikimedia-dumps-url", "wikimedia_dumps_url", "WIKIMEDIA_DUMPS_URL: base of the dumps tree"),
    ("--datagouv-api-url", "datagouv_api_url", "DATAGOUV_API_URL: data.gouv.fr API base"),
    ("--datagouv-bucket", "datagouv_bucket", "DATAGOUV_BUCKET: bucket of the CSV exports"),
    ("--mongo-uri", "mongo_uri", "MONGO_URI: MongoDB connection string (without a password: see MONGO_URI)"),
    ("--spark-master", "spark_master", "Spark master for local runs (default local[*])"),
)


SETTING_DESTS = tuple(dest for _, dest, _ in _SETTING_FLAGS)


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """Add the settings flags; each defaults to its environment variable."""
    group = parser.add_argument_group("settings (default: the environment)")
    for flag, dest, text in _SETTING_FLAGS:
        group.add_argument(flag, dest=dest, default=None, help=text)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by any settings flag given.

    A flag is in every user's process list (`ps`, /proc/*/cmdline): a Mongo URI that carries a
    password is refused there; the environment (MONGO_URI) carries it instead.
    """
    given = getattr(args, "mongo_uri", None)
    if given and urlparse(given).password:
        raise ConfigError(
            "--mongo-uri",
            "carries a password, which every user of the machine reads in the process list: "
            "set MONGO_URI in the environment instead",
        )
    return load_settings(**{dest: getattr(args, dest, None) for _, dest, _ in _SETTING_FLAGS})


def iso_date(text: str) -> date:
    """argparse type for YYYY-MM-DD, with a message that names the expected form."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None
