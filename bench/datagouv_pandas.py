"""The baseline beside the data.gouv.fr job: the same work in one pandas process, as a user would
write it (no Spark, no lake, no retries): find the exports through the catalogue API, download
both, match `mobilite`/`transport` accent- and case-insensitively in title/description/tags, write
the matching datasets to a CSV file, rank the top 30 organizations (followers, then id) and build
the documents of their matching datasets (integer numbers).

String columns are pyarrow-backed, so NFKD, mark removal, lower-casing and the substring test run
in Arrow's C++ kernels, not a Python loop. It prints one JSON line: stage seconds, counts and the
documents (the benchmark compares them with the job's).

    .venv/bin/python bench/datagouv_pandas.py API_URL WORKDIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import requests

CATALOGUE_ID = "5d13a8b6634f41070a43dff3"
KEYWORDS = "mobilite|transport"


def export_urls(api_url: str) -> dict[str, str]:
    resources = requests.get(f"{api_url}/datasets/{CATALOGUE_ID}/", timeout=30).json()["resources"]
    latest: dict[str, tuple[str, str]] = {}
    for res in resources:
        model = (res.get("extras") or {}).get("csv-export:model")
        stamp = str(res.get("last_modified") or "")
        if model and (model not in latest or stamp > latest[model][0]):
            latest[model] = (stamp, res["url"])
    return {model: url for model, (_, url) in latest.items()}


def download(url: str, target: Path) -> None:
    with requests.get(url, stream=True, timeout=60) as resp, target.open("wb") as out:
        resp.raise_for_status()
        for chunk in resp.iter_content(1 << 20):
            out.write(chunk)


def read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_csv(
        path, sep=";", quotechar='"', dtype="string[pyarrow]", keep_default_na=False, usecols=columns
    )


def folded(texts: pd.Series) -> pd.Series:
    """NFKD, combining marks removed, lower case."""
    return texts.str.normalize("NFKD").str.replace(r"\p{M}", "", regex=True).str.lower()


def main(api_url: str, workdir: Path) -> int:
    stages: dict[str, float] = {}
    last = started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[name] = round(now - last, 3)
        last = now

    workdir.mkdir(parents=True, exist_ok=True)
    urls = export_urls(api_url)
    datasets_path, orgs_path = workdir / "datasets.csv", workdir / "organizations.csv"
    download(urls["dataset"], datasets_path)
    download(urls["organization"], orgs_path)
    lap("download")
    datasets = read(datasets_path)
    lap("read")
    mask = pd.Series(False, index=datasets.index)
    for column in ("title", "description", "tags"):
        mask |= folded(datasets[column]).str.contains(KEYWORDS, regex=True).fillna(False).astype(bool)
    matching = datasets[mask]
    lap("match")
    matching.to_csv(workdir / "export.csv", sep=";", index=False)
    lap("csv")
    orgs = read(orgs_path, ["id", "name", "metric.followers"])
    orgs["followers"] = pd.to_numeric(orgs["metric.followers"], errors="coerce").fillna(0).astype("int64")
    top = orgs.sort_values(["followers", "id"], ascending=[False, True]).head(30)
    joined = matching.assign(
        dataset_followers=pd.to_numeric(matching["metric.followers"], errors="coerce")
        .fillna(0)
        .astype("int64")
    ).merge(top, left_on="organization_id", right_on="id", suffixes=("", "_org"))
    docs: list[dict[str, Any]] = [
        {
            "dataset_id": str(row.id),
            "title": str(row.title),
            "dataset_followers": int(row.dataset_followers),
            "organization": str(row.name),
            "organization_id": str(row.organization_id),
            "organization_followers": int(row.followers),
        }
        for row in joined.itertuples(index=False)
    ]
    lap("top30_documents")
    stages["total"] = round(time.perf_counter() - started, 3)
    print(json.dumps({"stages": stages, "matching": int(mask.sum()), "tops": len(docs), "documents": docs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2])))
