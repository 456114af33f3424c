"""Errors that end a job with one clear line instead of a traceback."""

from __future__ import annotations


class PlatformError(Exception):
    """An expected failure: bad input or a failing dependency. Its message is shown as is."""


class ConfigError(PlatformError):
    """A setting is missing or wrong; the message names the setting."""

    def __init__(self, setting: str, cause: str) -> None:
        super().__init__(f"{setting}: {cause}")
        self.setting = setting


class SourceError(PlatformError):
    """An upstream source (GitHub, Wikimedia, data.gouv.fr) failed after bounded retries."""


class StorageError(PlatformError):
    """The lake, MinIO or MongoDB failed after bounded retries."""
