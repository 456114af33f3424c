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
from typing import Any

from botocore.exceptions import ClientError

from common.settings import Settings
from common.storage import is_s3, lake_path, s3_client, split_s3


class PendingStore:
    """Small file store on a local folder or S3/MinIO, usable from the driver and from executors."""

    def __init__(self, settings: Settings, org: str, folder: str = "pending") -> None:
        self.settings = settings
        self.uri = lake_path(settings, "raw", "github", org, folder)

    def spark_path(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def put(self, name: str, data: bytes) -> None:
        if is_s3(self.uri):
            bucket, key = split_s3(f"{self.uri}/{name}")
            s3_client(self.settings).put_object(Bucket=bucket, Key=key, Body=data)
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
        if is_s3(self.uri):
            bucket, key = split_s3(f"{self.uri}/{name}")
            try:
                body = s3_client(self.settings).get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError:
                return None
            return json.loads(body)
        path = Path(self.uri) / name
        return json.loads(path.read_bytes()) if path.is_file() else None

    def names(self, folder: str, suffix: str = "") -> list[str]:
        """File names (relative to the store) under `folder` ending with `suffix`."""
        if is_s3(self.uri):
            bucket, prefix = split_s3(f"{self.uri}/{folder}/")
            client = s3_client(self.settings)
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
        if is_s3(self.uri):
            bucket, prefix = split_s3(f"{self.uri}/")
            client = s3_client(self.settings)
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            return
        shutil.rmtree(self.uri, ignore_errors=True)
