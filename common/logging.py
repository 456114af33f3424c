"""Logging configured once per process, with secrets redacted from every record."""

from __future__ import annotations

import logging
import os
import re
import sys
import time

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_configured = False
_secrets: set[str] = set()
# Bearer tokens and classic/fine-grained GitHub token shapes never reach a log line.
_TOKEN_RE = re.compile(r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|(?i:bearer|token)\s+\S+)")


def register_secret(value: str | None) -> None:
    """Remember a secret so that any log line containing it is masked."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and token-shaped strings."""
    for secret in _secrets:
        text = text.replace(secret, "***")
    return _TOKEN_RE.sub("***", text)


class _UtcFormatter(logging.Formatter):
    """ISO 8601 UTC times (`2024-03-01T00:30:00.123Z`): a log line reads the same in every zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger once; later calls only adjust the level."""
    global _configured
    root = logging.getLogger()
    # LOG_LEVEL is read here, not through Settings: logging starts before any setting is parsed
    # (so a bad setting is itself logged) and in Spark's Python workers, which build no Settings.
    root.setLevel((level or os.environ.get("LOG_LEVEL", "INFO")).upper())
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter(_FORMAT))
    handler.addFilter(_RedactingFilter())
    root.addHandler(handler)
    for noisy in ("py4j", "urllib3", "botocore", "boto3", "s3transfer", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True
