"""One HTTP client for every source: timeouts always, bounded retries with backoff and jitter,
and verified streaming downloads.

urllib3 retries only what is transient whoever the caller is (connection errors, 408/423/5xx).
Rate-limit answers (403/429, `Retry-After`) go straight back to the caller: only the caller knows
what they mean (GitHubClient switches tokens, bounds its waits and counts them), and a wait
inside urllib3 would be invisible to it.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import random
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from common.errors import SourceError, one_line

log = logging.getLogger(__name__)

USER_AGENT = "dataplatform/1.0 (batch pipelines; +https://github.com/)"
DEFAULT_TIMEOUT = (5.0, 60.0)
RETRY_STATUSES = frozenset({408, 423, 500, 502, 503, 504})
RATE_LIMIT_STATUSES = frozenset({403, 429})


def jitter(delay: float) -> float:
    """A wait drawn from [delay/2, delay], so clients that failed together retry apart."""
    return random.uniform(delay / 2, delay) if delay > 0 else 0.0


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """The wait after failed try `attempt` (1, 2, ...): `base * 2**attempt`, capped, jittered."""
    return jitter(min(cap, base * 2**attempt))


class JitterRetry(Retry):
    """urllib3 Retry whose exponential backoff is jittered (see `jitter`).

    `on_retry`, when set, is called after the backoff and before each retry is sent (a caller
    pacing its requests counts the retry there)."""

    on_retry: Callable[[], None] | None = None

    def get_backoff_time(self) -> float:
        return jitter(super().get_backoff_time())

    def new(self, **kw: object) -> JitterRetry:
        retry = super().new(**kw)
        retry.on_retry = self.on_retry
        return retry

    def sleep(self, response: object = None) -> None:
        super().sleep(response)  # type: ignore[arg-type]
        if self.on_retry is not None:
            self.on_retry()


def make_retry(total: int = 5, backoff: float = 0.5, statuses: frozenset[int] = RETRY_STATUSES) -> Retry:
    """Bounded retries of connection errors and `statuses`; never of a rate-limit answer."""
    if statuses & RATE_LIMIT_STATUSES:
        raise ValueError(
            f"rate-limit statuses are the caller's to handle: {sorted(statuses & RATE_LIMIT_STATUSES)}"
        )
    return JitterRetry(
        total=total,
        connect=total,
        read=total,
        status=total,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=sorted(statuses),
        allowed_methods=frozenset({"GET", "HEAD"}),
        # True would make urllib3 retry a 429 (or 503) carrying Retry-After and sleep that long
        # itself, before the caller sees the answer.
        respect_retry_after_header=False,
        raise_on_status=False,
    )


def make_session(
    total_retries: int = 5,
    backoff: float = 0.5,
    pool_size: int = 16,
    statuses: frozenset[int] = RETRY_STATUSES,
    on_retry: Callable[[], None] | None = None,
) -> requests.Session:
    """A `requests.Session` with urllib3 retries on connection errors and retryable statuses
    (`on_retry`: called before each retry is sent, see `JitterRetry`)."""
    session = requests.Session()
    retry = make_retry(total_retries, backoff, statuses)
    if isinstance(retry, JitterRetry):
        retry.on_retry = on_retry
    adapter = HTTPAdapter(
        max_retries=retry,
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
    sha256: str | None  # None when not asked for (`download(digest=False)`)


def _verify_gzip(path: Path) -> None:
    """Read the whole gzip stream: a truncated or corrupt file raises."""
    with gzip.open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass


# What a bad try raises: the connection, a short or corrupt body, the disk.
_DOWNLOAD_ERRORS = (
    requests.RequestException,
    Urllib3Error,
    SourceError,
    OSError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
)


def _fetch_once(
    session: requests.Session, url: str, tmp: Path, timeout: tuple[float, float], digest: bool
) -> Download | None:
    """One GET streamed into `tmp`, its size checked against Content-Length (None for a 404)."""
    with session.get(url, stream=True, timeout=timeout) as resp:
        if resp.status_code == 404:
            tmp.unlink(missing_ok=True)
            return None
        if resp.status_code != 200:
            raise SourceError(f"GET {url} answered {resp.status_code}")
        expected = resp.headers.get("Content-Length")
        hashed = hashlib.sha256() if digest else None
        size = 0
        with tmp.open("wb") as out:
            try:
                for chunk in resp.raw.stream(1 << 20, decode_content=False):
                    out.write(chunk)
                    if hashed is not None:
                        hashed.update(chunk)
                    size += len(chunk)
            except Urllib3Error:
                # The server closed the connection before Content-Length bytes arrived.
                raise SourceError(f"GET {url}: truncated ({size} of {expected} bytes)") from None
    if expected is not None and int(expected) != size:
        raise SourceError(f"GET {url}: truncated ({size} of {expected} bytes)")
    return Download(tmp, size, None if hashed is None else hashed.hexdigest())


def download(
    session: requests.Session,
    url: str,
    workdir: Path,
    *,
    gzip_check: bool = False,
    digest: bool = True,
    attempts: int = 4,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Download | None:
    """Stream `url` to a temporary file, verify size and gzip, retry when truncated or corrupt.

    Returns None for a 404 (a missing file is the caller's to record); raises SourceError after
    `attempts` bad tries. Memory use is one chunk, whatever the file size. `digest=False` skips
    the SHA-256 (~0.6 s of CPU per GB) for callers that do not record it.
    """
    last_error = ""
    for attempt in range(1, attempts + 1):
        tmp = Path(tempfile.mkstemp(dir=workdir, suffix=".part")[1])
        try:
            got = _fetch_once(session, url, tmp, timeout, digest)
            if got is not None and gzip_check:
                _verify_gzip(tmp)
            return got
        except _DOWNLOAD_ERRORS as exc:
            tmp.unlink(missing_ok=True)
            last_error = one_line(exc)
            if attempt < attempts:
                delay = backoff_delay(attempt)
                log.warning(
                    "download %s failed (%s), try %d/%d in %.1fs", url, last_error, attempt, attempts, delay
                )
                time.sleep(delay)
    raise SourceError(f"GET {url} failed after {attempts} tries: {last_error}")
