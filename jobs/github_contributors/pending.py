"""The crawl's landing area `LAKE_ROOT/raw/github/{org}/pending/`: one file per finished work item.

Executors write an item's commits (JSON lines) and then its meta (the completion marker), each
atomically. A killed crawl leaves these files behind, and the next run only does the items that
have no meta yet; a successful run deletes the folder once the Delta tables hold everything.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.storage import is_s3, lake_path, read_object, s3_client, split_s3, write_object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from common.settings import Settings


class PendingStore:
    """Small file store on a local folder or S3/MinIO, usable from the driver and from executors.

    Executors import only this module's light dependencies: settings (pydantic) and boto3 are
    loaded only when the lake is on S3.
    """

    def __init__(self, settings: Settings, org: str, folder: str = "pending") -> None:
        self.uri = lake_path(settings, "raw", "github", org, folder)
        self.settings = settings if is_s3(self.uri) else None

    def __getstate__(self) -> dict[str, Any]:
        return {"uri": self.uri, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.uri, self.settings = state["uri"], state["settings"]

    def _client(self) -> S3Client:
        assert self.settings is not None
        return s3_client(self.settings)

    def spark_path(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def put(self, name: str, data: bytes) -> None:
        write_object(self.spark_path(name), data, self.settings)

    def put_json(self, name: str, value: Any) -> None:
        self.put(name, json.dumps(value, separators=(",", ":")).encode())

    def get_json(self, name: str) -> Any:
        data = read_object(self.spark_path(name), self.settings)
        return None if data is None else json.loads(data)

    def names(self, folder: str, suffix: str = "") -> list[str]:
        """File names (relative to the store) under `folder` ending with `suffix`."""
        if is_s3(self.uri):
            bucket, prefix = split_s3(f"{self.uri}/{folder}/")
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

    def landed(self) -> dict[str, dict[str, Any]]:
        """The metas of the items that finished (their completion markers), by item id."""
        metas = (self.get_json(name) for name in self.names("items", ".meta.json"))
        return {meta["id"]: meta for meta in metas if meta is not None}

    def clear(self) -> None:
        if is_s3(self.uri):
            bucket, prefix = split_s3(f"{self.uri}/")
            client = self._client()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            return
        shutil.rmtree(self.uri, ignore_errors=True)
