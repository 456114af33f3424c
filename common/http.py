"""One HTTP client for every source: timeouts always, bounded retries with backoff and jitter,
`Retry-After` honoured, and verified streaming downloads."""

from __future__ import annotations

import gzip
import hashlib
import logging
import random
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from common.errors import SourceError

log = logging.getLogger(__name__)

USER_AGENT = "dataplatform/1.0 (batch pipelines; +https://github.com/)"
DEFAULT_TIMEOUT = (5.0, 60.0)
RETRY_STATUSES = frozenset({408, 423, 500, 502, 503, 504})


class JitterRetry(Retry):
    """urllib3 Retry whose exponential backoff gets full jitter, so parallel clients desynchronise."""

    def get_backoff_time(self) -> float:
        base = super().get_backoff_time()
        return random.uniform(base / 2, base) if base > 0 else 0.0


def make_retry(total: int = 5, backoff: float = 0.5, statuses: frozenset[int] = RETRY_STATUSES) -> Retry:
    return JitterRetry(
        total=total,
        connect=total,
        read=total,
        status=total,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=sorted(statuses),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def make_session(
    total_retries: int = 5,
    backoff: float = 0.5,
    pool_size: int = 16,
    statuses: frozenset[int] = RETRY_STATUSES,
) -> requests.Session:
    """A `requests.Session` with urllib3 retries on connection errors and retryable statuses."""
    session = requests.Session()
    adapter = HTTPAdapter(
        max_retries=make_retry(total_retries, backoff, statuses),
        pool_connections=pool_size,
        pool_maxsize=pool_size,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


@dataclass(frozen=True)
class Download:
    """A verified file on local disk, ready to be published to the landing zone."""

    path: Path
    size: int
    sha256: str


def _verify_gzip(path: Path) -> None:
    """Read the whole gzip stream: a truncated or corrupt file raises."""
    with gzip.open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass


def download(
    session: requests.Session,
    url: str,
    workdir: Path,
    *,
    gzip_check: bool = False,
    attempts: int = 4,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Download | None:
    """Stream `url` to a temporary file, verify size and gzip, retry when truncated or corrupt.

    Returns None for a 404 (a missing file is the caller's to record); raises SourceError after
    `attempts` bad tries. Memory use is one chunk, whatever the file size.
    """
    last_error = ""
    for attempt in range(1, attempts + 1):
        tmp = Path(tempfile.mkstemp(dir=workdir, suffix=".part")[1])
        try:
            with session.get(url, stream=True, timeout=timeout) as resp:
                if resp.status_code == 404:
                    tmp.unlink(missing_ok=True)
                    return None
                if resp.status_code != 200:
                    raise SourceError(f"GET {url} answered {resp.status_code}")
                expected = resp.headers.get("Content-Length")
                digest = hashlib.sha256()
                size = 0
                with tmp.open("wb") as out:
                    try:
                        for chunk in resp.raw.stream(1 << 20, decode_content=False):
                            out.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                    except Urllib3Error:
                        # The server closed the connection before Content-Length bytes arrived.
                        raise SourceError(f"GET {url}: truncated ({size} of {expected} bytes)") from None
            if expected is not None and int(expected) != size:
                raise SourceError(f"GET {url}: truncated ({size} of {expected} bytes)")
            if gzip_check:
                _verify_gzip(tmp)
            return Download(tmp, size, digest.hexdigest())
        except (
            requests.RequestException,
            Urllib3Error,
            SourceError,
            OSError,
            EOFError,
            zlib.error,
            gzip.BadGzipFile,
        ) as exc:
            tmp.unlink(missing_ok=True)
            last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if attempt < attempts:
                delay = min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning(
                    "download %s failed (%s), try %d/%d in %.1fs", url, last_error, attempt, attempts, delay
                )
                time.sleep(delay)
    raise SourceError(f"GET {url} failed after {attempts} tries: {last_error}")
