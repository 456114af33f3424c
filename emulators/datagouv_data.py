"""A synthetic data.gouv.fr catalogue in the real export dialect, and its expected answer.

The files reproduce what `sources.md` says of the real exports: `;` delimiter, strings quoted
with `""` doubling, numbers and booleans bare, UTF-8 without BOM, `\\r\\n` record ends, quoted
multi-line descriptions holding `;` and quotes (some with `\\r\\n` inside, some with `\\n`),
comma-separated tags, datasets owned by a user (empty organization), and an organizations
header carrying `metric.dataservices` twice.

`expected_tops` recomputes the answer in plain Python (csv module + unicodedata), independently
of the Spark job, so tests and the demo can check the job against it.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import random
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATASETS_FILE = "export-dataset.csv"
ORGANIZATIONS_FILE = "export-organization.csv"

# The 40 columns of the real export of 2026-01-16, in its order (no `badges`, `spatial.geom` nor
# `harvest.remote_id` any more).
DATASET_COLUMNS: tuple[str, ...] = (
    "id", "title", "slug", "acronym", "url", "organization", "organization_id", "owner", "owner_id",
    "description", "description_short", "frequency", "license", "temporal_coverage.start",
    "temporal_coverage.end", "spatial.granularity", "spatial.zones", "featured",
    "created_at", "last_modified", "tags", "archived", "resources_count",
    "main_resources_count", "resources_formats", "harvest.backend", "harvest.domain",
    "harvest.created_at", "harvest.modified_at", "harvest.remote_url",
    "quality_score", "metric.discussions", "metric.discussions_open", "metric.reuses",
    "metric.reuses_by_months", "metric.dataservices", "metric.followers",
    "metric.followers_by_months", "metric.views", "metric.resources_downloads",
)  # fmt: skip
ORGANIZATION_COLUMNS: tuple[str, ...] = (
    "id", "name", "acronym", "slug", "url", "description", "logo", "badges", "created_at",
    "last_modified", "business_number_id", "members_count", "downloads", "metric.datasets",
    "metric.dataservices", "metric.followers", "metric.members", "metric.reuses", "metric.views",
    "metric.dataservices",
)  # fmt: skip

_SENTENCES = (
    "Ce jeu de données présente les informations publiées par la collectivité",
    "Les données sont mises à jour chaque trimestre; voir la documentation jointe",
    "Le fichier décrit les équipements publics recensés sur le territoire",
    "Les coordonnées sont exprimées en Lambert 93 (EPSG:2154)",
    'Pour toute question, écrire à l\'équipe "open data" de la métropole',
    "Données issues du recensement communal; certaines valeurs sont estimées",
    "La licence ouverte Etalab s'applique; citer la source « Ville »",
    "Les montants sont exprimés en euros courants, hors taxes",
    "Historique complet depuis 2012, y compris les corrections rétroactives",
    'Champ « statut » : valeurs possibles "actif"; "fermé"; "en travaux"',
    "Élaboré avec les services déconcentrés de l'État et les intercommunalités",
    "Les zones d'activité économique sont délimitées selon le plan local d'urbanisme",
    "Qualité de l'air, bruit et îlots de chaleur : indicateurs agrégés par quartier",
    "Liste des établissements scolaires publics et privés sous contrat",
)
_TITLE_WORDS = (
    "Budget primitif", "Équipements sportifs", "Qualité de l'eau", "Délibérations du conseil",
    "Marchés publics", "Arbres d'alignement", "Population légale", "Bornes de recharge",
    "Parkings relais", "Immobilier d'entreprise", "Mobilier urbain", "Consommation électrique",
    "Subventions aux associations", "Adresses postales", "Cadastre", "Écoles et collèges",
)  # fmt: skip
# Forms that must match once accents and case are ignored (substring match).
_MATCH_FORMS = (
    "Mobilité", "MOBILITÉ", "mobilite", "Mobilités douces", "TRANSPORT", "Transports en commun",
    "transport scolaire", "Plan de mobilite", "Immobilité", "TRANSPORTS", "Transport à la demande",
    "mobilıte",  # dotless i: NFKD keeps it, so this one does NOT match (kept as a trap)
)  # fmt: skip
_NEAR_MISSES = ("mobilit", "transpor", "mobilier", "Transpondeur", "trans-port", "mobil-ite", "mobile")
_TAG_POOL = (
    "budget", "finances", "environnement", "urbanisme", "education", "sante", "energie",
    "eau", "culture", "sport", "logement", "emploi", "agriculture", "tourisme",
)  # fmt: skip
_MATCH_TAGS = ("mobilite", "transport-public", "mobilite-douce", "transports", "velo-mobilite")
_FREQUENCIES = ("annual", "monthly", "quarterly", "daily", "irregular", "unknown")
_LICENSES = ("lov2", "odc-odbl", "fr-lo", "cc-by", "notspecified")


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _cell(value: Any) -> str:
    """One cell as the real export writes it: strings quoted, numbers/booleans bare, None `""`."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def _record(values: Iterable[Any]) -> str:
    return ";".join(_cell(v) for v in values) + "\r\n"


def _header(columns: Sequence[str]) -> str:
    return _record(columns)


def _description(rng: random.Random, size: int, marker: str | None) -> str:
    """A multi-paragraph text of about `size` characters; `marker` lands somewhere inside."""
    parts: list[str] = []
    total = 0
    while total < size:
        sentence = rng.choice(_SENTENCES)
        parts.append(sentence)
        total += len(sentence) + 2
    if marker is not None:
        parts.insert(rng.randrange(len(parts) + 1), marker)
    text = ""
    for i, part in enumerate(parts):
        if i:
            roll = rng.random()
            text += ".\r\n\r\n" if roll < 0.15 else ".\n" if roll < 0.4 else ". "
        text += part
    return text + "."


def _org_followers(rng: random.Random, count: int, tie_at_boundary: bool) -> list[int]:
    values = sorted((int(rng.paretovariate(1.1) * 3) for _ in range(count)), reverse=True)
    if tie_at_boundary and count > 32:
        # Ranks 29..32 (1-based) share one value: the top 30 is decided by id.
        tie = values[28]
        for i in range(28, 32):
            values[i] = tie
        for i in range(32, count):
            values[i] = min(values[i], tie - 1) if tie > 0 else 0
    return values


def generate(
    root: Path,
    n_datasets: int,
    n_organizations: int,
    *,
    seed: int = 20260101,
    description_size: int = 3800,
    match_rate: float = 0.09,
    duplicate_header: bool = True,
    tie_at_boundary: bool = True,
    week: int = 0,
) -> None:
    """Write `export-dataset.csv` and `export-organization.csv` under `root` (deterministic).

    `week` > 0 gives the same catalogue `week` weeks later (see `_evolve`): the random stream is
    the same, so week 0 is byte for byte what it always was.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    org_columns = list(ORGANIZATION_COLUMNS)
    if not duplicate_header:
        org_columns = org_columns[:-1]
    followers = _org_followers(rng, n_organizations, tie_at_boundary)
    orgs: list[tuple[str, str]] = []
    org_tmp = root / (ORGANIZATIONS_FILE + ".tmp")
    with org_tmp.open("w", encoding="utf-8", newline="") as out:
        out.write(_header(org_columns))
        order = list(range(n_organizations))
        rng.shuffle(order)  # the file is not sorted by followers
        for i in order:
            org_id = _hex_id(rng)
            name = f"Organisation {i:05d}" + (" ; Métropole" if i % 7 == 0 else "")
            if i % 11 == 0:
                name += ' dite "la grande"'
            orgs.append((org_id, name))
            desc = _description(rng, rng.randint(50, 900), None)
            dataservices = rng.randint(0, 3)
            row: list[Any] = [
                org_id, name, None if i % 3 else f"ORG{i}", f"organisation-{i:05d}",
                f"http://www.data.gouv.fr/fr/organizations/organisation-{i:05d}/", desc,
                "https://static.data.gouv.fr/avatars/logo.png", "certified" if i % 5 == 0 else None,
                "2015-03-02T10:00:00.000000+00:00", "2026-01-02T10:00:00.000000+00:00",
                f"{rng.randint(10**8, 10**9 - 1)}", rng.randint(1, 40), rng.randint(0, 10**6),
                rng.randint(0, 300), dataservices, followers[i], rng.randint(1, 40), rng.randint(0, 50),
                rng.randint(0, 10**6),
            ]  # fmt: skip
            if duplicate_header:
                row.append(dataservices)
            out.write(_record(row))
    org_tmp.replace(root / ORGANIZATIONS_FILE)

    ds_tmp = root / (DATASETS_FILE + ".tmp")
    with ds_tmp.open("w", encoding="utf-8", newline="") as out:
        out.write(_header(DATASET_COLUMNS))
        for i in range(n_datasets):
            record: list[Any] | None = _dataset_row(rng, i, orgs, description_size, match_rate)
            if week and record is not None:
                record = _evolve(record, i, week)
            if record is not None:
                out.write(_record(record))
        if week:
            out.write(_record(_new_in_week(orgs, week)))
    ds_tmp.replace(root / DATASETS_FILE)
    log.info("generated %d datasets and %d organizations under %s", n_datasets, n_organizations, root)


def _dataset_row(
    rng: random.Random, i: int, orgs: list[tuple[str, str]], description_size: int, match_rate: float
) -> list[Any]:
    where = rng.random()
    # A match goes into the title, the description or the tags; near misses are sprinkled too.
    matching = rng.random() < match_rate
    title = f"{rng.choice(_TITLE_WORDS)} {i}"
    marker: str | None = rng.choice(_NEAR_MISSES) if rng.random() < 0.05 else None
    tags = rng.sample(_TAG_POOL, rng.randint(0, 4))
    if matching:
        form = rng.choice(_MATCH_FORMS)
        if where < 0.4:
            title = f"{form} – {title}" if rng.random() < 0.5 else f"{title} ({form})"
        elif where < 0.75:
            marker = form
        else:
            tags.insert(rng.randrange(len(tags) + 1), rng.choice(_MATCH_TAGS))
    description = _description(rng, rng.randint(description_size // 3, description_size * 5 // 3), marker)
    owned_by_user = rng.random() < 0.15 or not orgs
    org_id, org_name = ("", "") if owned_by_user else orgs[rng.randrange(len(orgs))]
    ds_id = _hex_id(rng)
    created = (
        f"20{rng.randint(13, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T08:30:00.000000+00:00"
    )
    return [
        ds_id, title, f"jeu-{i}", None, f"http://www.data.gouv.fr/fr/datasets/jeu-{i}/",
        org_name or None, org_id or None, None if org_id else "Jean Dupont", None if org_id else _hex_id(rng),
        description, description[:120], rng.choice(_FREQUENCIES), rng.choice(_LICENSES),
        "2020-01-01" if i % 4 == 0 else None, "2025-12-31" if i % 4 == 0 else None,
        "fr:commune", "fr:commune:75056", rng.random() < 0.02, created,
        "2026-01-10T09:15:00.000000+00:00", ",".join(tags) or None, rng.random() < 0.03,
        rng.randint(0, 30), rng.randint(0, 10), "csv,json" if i % 2 else "csv", None, None, None, None,
        None, f"{round(rng.random(), 2)}", rng.randint(0, 5), rng.randint(0, 2), rng.randint(0, 9),
        "{'2025-12': 1}", rng.randint(0, 2), rng.randint(0, 400), "{'2025-12': 0}",
        rng.randint(0, 10**5), rng.randint(0, 10**5),
    ]  # fmt: skip


# Column positions `_evolve` edits.
_TITLE, _FOLLOWERS = DATASET_COLUMNS.index("title"), DATASET_COLUMNS.index("metric.followers")


def _evolve(row: list[Any], i: int, week: int) -> list[Any] | None:
    """A dataset `week` weeks later: some deleted, some retitled, some with more followers."""
    kind = i % 25
    if kind == 7:
        return None
    if kind == 11:
        row[_TITLE] = f"{row[_TITLE]} (v{week + 1})"
    if kind == 13:
        row[_FOLLOWERS] = int(row[_FOLLOWERS]) + 3 * week
    return row


def _new_in_week(orgs: list[tuple[str, str]], week: int) -> list[Any]:
    """A matching dataset published in `week` (a fixed id, so reruns agree)."""
    org_id, org_name = orgs[week % len(orgs)]
    row = _dataset_row(random.Random(week), 10**6 + week, orgs, 200, 0.0)
    row[0] = f"{week:08d}0000000000000000"
    row[_TITLE] = f"Navettes de transport à la demande, semaine {week}"
    row[DATASET_COLUMNS.index("organization")] = org_name
    row[DATASET_COLUMNS.index("organization_id")] = org_id
    return row


def generate_demo(root: Path, week: int = 0) -> None:
    """A small catalogue for the demo and the tests (400 datasets, 60 organizations); `week` 1
    is the same catalogue a week later (datasets added, removed, retitled, followed)."""
    generate(Path(root), 400, 60, seed=7, description_size=600, match_rate=0.25, week=week)


def expected_matches(root: Path) -> dict[str, tuple[str, str | None, int]]:
    """Every matching dataset: id -> (title, organization name or None, followers)."""
    names = {r["id"]: r["name"] for r in _rows(Path(root) / ORGANIZATIONS_FILE)}
    out: dict[str, tuple[str, str | None, int]] = {}
    for row in _rows(Path(root) / DATASETS_FILE):
        text = " ".join(normalise(row[c]) for c in ("title", "description", "tags"))
        if "mobilite" in text or "transport" in text:
            out[row["id"]] = (row["title"], names.get(row["organization_id"]), _int(row["metric.followers"]))
    return out


def expected_changes(before: Path | None, after: Path) -> dict[str, Any]:
    """The /datagouv/changes lists from the catalogue `before` (None: first run) to `after`."""
    old = expected_matches(before) if before is not None else {}
    new = expected_matches(after)
    changed = []
    for dataset_id in sorted(old.keys() & new.keys()):
        fields = [
            f
            for f, a, b in zip(
                ("title", "organization", "followers"), old[dataset_id], new[dataset_id], strict=True
            )
            if a != b
        ]
        if fields:
            changed.append({"dataset_id": dataset_id, "fields": fields})
    return {
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "changed": changed,
    }


def normalise(text: str) -> str:
    """NFKD, combining marks removed, case-folded: how the contract compares text."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _rows(path: Path) -> Iterable[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=";", quotechar='"', doublequote=True)
        header = next(reader)
        for values in reader:
            # First occurrence wins for a duplicated header name.
            row: dict[str, str] = {}
            for name, value in zip(header, values, strict=True):
                row.setdefault(name, value)
            yield row


def _int(text: str) -> int:
    return int(float(text)) if text.strip() else 0


def expected_tops(root: Path, run_date: str) -> list[dict[str, Any]]:
    """The `datasets` list the API must answer for `run_date` on this catalogue, in API order.

    The files do not depend on the date; `run_date` is accepted so callers read naturally.
    """
    del run_date
    orgs = [(r["id"], r["name"], _int(r["metric.followers"])) for r in _rows(Path(root) / ORGANIZATIONS_FILE)]
    orgs.sort(key=lambda o: (-o[2], o[0]))
    top = {org_id: (name, followers) for org_id, name, followers in orgs[:30]}
    result: list[dict[str, Any]] = []
    for row in _rows(Path(root) / DATASETS_FILE):
        text = " ".join(normalise(row[c]) for c in ("title", "description", "tags"))
        if "mobilite" not in text and "transport" not in text:
            continue
        if row["organization_id"] not in top:
            continue
        name, followers = top[row["organization_id"]]
        result.append(
            {
                "dataset_id": row["id"],
                "title": row["title"],
                "dataset_followers": _int(row["metric.followers"]),
                "organization": name,
                "organization_id": row["organization_id"],
                "organization_followers": followers,
            }
        )
    result.sort(key=lambda d: (-d["organization_followers"], -d["dataset_followers"], d["dataset_id"]))
    return result


def matching_records(root: Path) -> list[list[str]]:
    """Header plus every matching dataset's cells, as a CSV reader sees them (for export checks)."""
    with (Path(root) / DATASETS_FILE).open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=";", quotechar='"', doublequote=True)
        header = next(reader)
        idx = [header.index(c) for c in ("title", "description", "tags")]
        out = [header]
        for values in reader:
            text = " ".join(normalise(values[i]) for i in idx)
            if "mobilite" in text or "transport" in text:
                out.append(values)
        return out


def parse_csv_text(text: str) -> list[list[str]]:
    """Cells of a `;` CSV text (helper for tests comparing exports)."""
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"', doublequote=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a synthetic data.gouv.fr catalogue")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--datasets", type=int, default=400)
    parser.add_argument("--organizations", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    generate(args.root, args.datasets, args.organizations, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
