"""The crawl's landing area `LAKE_ROOT/raw/github/{org}/pending/`: one file per finished work item.

Executors write an item's commits (JSON lines) and then its meta (the completion marker), each
atomically. A killed crawl leaves these files behind, and the next run only does the items that
have no meta yet; a successful run deletes the folder once the Delta tables hold everything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from common.storage import RawStore

if TYPE_CHECKING:
    from common.settings import Settings


class PendingStore(RawStore):
    """The org's folder of the crawl (`common.storage.RawStore`), from the driver and executors."""

    def __init__(self, settings: Settings, org: str, folder: str = "pending") -> None:
        super().__init__(settings, "raw", "github", org, folder)

    def spark_path(self, name: str) -> str:
        return self.uri(name)

    def landed(self) -> dict[str, dict[str, Any]]:
        """The metas of the items that finished (their completion markers), by item id."""
        metas = (self.get_json(name) for name in self.names("items", ".meta.json"))
        return {meta["id"]: meta for meta in metas if meta is not None}
