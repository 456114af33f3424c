"""Typed settings read from the environment (the table in the contract), overridable by flags."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.errors import ConfigError
from common.logging import register_secret

LAKE_SCHEMES = ("", "file", "s3a", "s3")
DEFAULT_BOT_LOGINS = (
    "facebook-github-bot,k8s-ci-robot,k8s-merge-robot,openshift-ci-robot,openshift-merge-robot,"
    "tensorflower-gardener,copybara-service,bors,homu,gitter-badger"
)


class Settings(BaseSettings):
    """Every setting of the platform; the environment variable is the field name upper-cased."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    lake_root: str = "./lake"
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_region: str = "us-east-1"
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    wikimedia_dumps_url: str = "https://dumps.wikimedia.org"
    datagouv_api_url: str = "https://www.data.gouv.fr/api/1"
    datagouv_bucket: str = "datagouv"
    mongo_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    spark_master: str | None = None
    spark_driver_memory: str = "2g"
    # Where the Delta, S3A and pageviews jars are (filled by `make setup`); unset: the project's jars/.
    spark_jars_dir: str | None = None
    spark_ui_enabled: bool = False
    spark_log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"] = "WARN"
    # How long a standalone application goes without any executor (none registered yet, or every
    # worker died mid-run) before it stops with one line instead of waiting for ever.
    spark_executor_wait_seconds: float = Field(default=90.0, gt=0.0)
    # One run of a job per lake (common.lease): a lease not renewed for this long is taken over.
    lease_ttl_seconds: float = Field(default=60.0, ge=4.0)
    # Database of the data.gouv.fr `tops` collection (the job's --mongo-database overrides it).
    mongo_database: str = Field(default="datagouv", min_length=1)
    # Each GitHub token's pacing budget (jobs.github_contributors.pacing), across every partition
    # and executor of a run: GitHub's documented secondary limits by default; settings may only
    # lower them.
    github_max_concurrent: int = Field(default=100, ge=1, le=100)
    github_points_per_minute: float = Field(default=900.0, gt=0.0, le=900.0)
    github_response_seconds_per_minute: float = Field(default=90.0, gt=0.0, le=90.0)
    # The sliding window the budgets are kept over: 60 s (GitHub's minute); a shorter one keeps
    # a 1/ceil(60/w) part of each per-minute budget per window (smoother, never more per minute).
    github_pacing_window_seconds: float = Field(default=60.0, gt=0.0, le=60.0)
    # A token refused for secondary limits for more than this many seconds in a run ends it.
    github_secondary_wait_seconds: float = Field(default=900.0, ge=0.0)
    # How often the GitHub crawl logs its progress (seconds; 0: only at the end).
    github_progress_seconds: float = Field(default=10.0, ge=0.0)
    # Tests and drills only: `<job>.<defect>` plants that defect in the job's gold rows just before
    # its quality gates audit them (common.gates), proving a bad publish is stopped.
    quality_fault: str | None = None
    # Automation accounts of type User (so neither `author.type == Bot` nor a `[bot]` suffix
    # tells): big organizations' merge, CI and sync robots.
    github_bot_logins: str = DEFAULT_BOT_LOGINS
    # A .mailmap merging emails and names into one contributor: a path under LAKE_ROOT, an
    # absolute path or s3a:// URI, or an http(s) URL. Unset: no merging beyond noreply emails.
    github_identity_map: str | None = None

    @field_validator("spark_log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("lake_root")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme not in LAKE_SCHEMES:
            raise ValueError(f"unknown scheme '{scheme}://' (use a local path or s3a://bucket/prefix)")
        if scheme in ("s3a", "s3") and not urlparse(value).netloc:
            raise ValueError("an s3a:// root needs a bucket, e.g. s3a://lake/prefix")
        return value.rstrip("/") or "/"

    @field_validator("s3_endpoint_url", "github_api_url", "wikimedia_dumps_url", "datagouv_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value is None else value
        if urlparse(value).scheme not in ("http", "https") or not urlparse(value).netloc:
            raise ValueError(f"'{value}' is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("github_bot_logins")
    @classmethod
    def _no_empty_login(cls, value: str) -> str:
        if not value.strip():
            return ""  # an empty setting is an empty list (no login listed)
        for position, login in enumerate(value.split(","), start=1):
            if not login.strip():
                raise ValueError(f"entry {position} of '{value}' is empty (comma-separated logins)")
        return value

    @property
    def github_bot_logins_set(self) -> frozenset[str]:
        """`GITHUB_BOT_LOGINS`, lower-cased."""
        logins = (login.strip().lower() for login in self.github_bot_logins.split(","))
        return frozenset(login for login in logins if login)

    @property
    def github_tokens(self) -> list[str]:
        """The token pool: `GITHUB_TOKEN=a,b,c`."""
        if self.github_token is None:
            return []
        return [t.strip() for t in self.github_token.get_secret_value().split(",") if t.strip()]

    @property
    def lake_is_s3(self) -> bool:
        return urlparse(self.lake_root).scheme in ("s3a", "s3")


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus flag overrides (None values are ignored).

    Raises ConfigError naming the first wrong setting, so entry points print one line.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(name, str(first["msg"]).removeprefix("Value error, ")) from None
    for secret in settings.github_tokens:
        register_secret(secret)
    if settings.aws_secret_access_key is not None:
        register_secret(settings.aws_secret_access_key.get_secret_value())
    password = urlparse(settings.mongo_uri.get_secret_value()).password
    register_secret(password)
    return settings
