"""The crawl's landing area `LAKE_ROOT/raw/github/{org}/pending/`: one file per finished work item.

Executors write an item's commits (JSON lines) and then its meta (the completion marker), each
atomically. A killed crawl leaves these files behind, and the next run only does the items that
have no meta yet; a successful run deletes the folder once the Delta tables hold everything.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from common.settings import Settings


def _is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in ("s3", "s3a")


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


class PendingStore:
    """Small file store on a local folder or S3/MinIO, usable from the driver and from executors.

    Executors import only this module's light dependencies: settings (pydantic) and boto3 are
    loaded only when the lake is on S3.
    """

    def __init__(self, settings: Settings, org: str, folder: str = "pending") -> None:
        from common.storage import lake_path

        self.uri = lake_path(settings, "raw", "github", org, folder)
        self.settings = settings if _is_s3(self.uri) else None

    def __getstate__(self) -> dict[str, Any]:
        return {"uri": self.uri, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.uri, self.settings = state["uri"], state["settings"]

    def _client(self) -> S3Client:
        from common.storage import s3_client

        assert self.settings is not None
        return s3_client(self.settings)

    def spark_path(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def put(self, name: str, data: bytes) -> None:
        if _is_s3(self.uri):
            bucket, key = _split(f"{self.uri}/{name}")
            self._client().put_object(Bucket=bucket, Key=key, Body=data)
            return
        target = Path(self.uri) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)

    def put_json(self, name: str, value: Any) -> None:
        self.put(name, json.dumps(value, separators=(",", ":")).encode())

    def get_json(self, name: str) -> Any:
        if _is_s3(self.uri):
            from botocore.exceptions import ClientError

            bucket, key = _split(f"{self.uri}/{name}")
            try:
                body = self._client().get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError:
                return None
            return json.loads(body)
        path = Path(self.uri) / name
        return json.loads(path.read_bytes()) if path.is_file() else None

    def names(self, folder: str, suffix: str = "") -> list[str]:
        """File names (relative to the store) under `folder` ending with `suffix`."""
        if _is_s3(self.uri):
            bucket, prefix = _split(f"{self.uri}/{folder}/")
            client = self._client()
            out: list[str] = []
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key.endswith(suffix):
                        out.append(f"{folder}/{key[len(prefix) :]}")
            return sorted(out)
        base = Path(self.uri) / folder
        if not base.is_dir():
            return []
        return sorted(f"{folder}/{p.name}" for p in base.iterdir() if p.name.endswith(suffix))

    def clear(self) -> None:
        if _is_s3(self.uri):
            bucket, prefix = _split(f"{self.uri}/")
            client = self._client()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            return
        shutil.rmtree(self.uri, ignore_errors=True)
