"""Pure transforms of the catalogue: the mobility/transport matcher and the top-30 organizations.

Column names of the exports contain dots (`metric.followers`), so they are always referenced
with backticks.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from common.tables import DATAGOUV_TOP_FIELDS

KEYWORDS = ("mobilite", "transport")
MATCH_COLUMNS = ("title", "description", "tags")
TOP_N = 30
TOPS_COLUMNS = ("run_date", *DATAGOUV_TOP_FIELDS)


def normalise(text: str) -> str:
    """NFKD, combining marks dropped, case-folded: `Mobilité` -> `mobilite`, `TRANSPORTS` -> `transports`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def reference_match(text: str) -> bool:
    """The definition: a keyword occurs in the normalised text (slow; the oracle of the tests)."""
    norm = normalise(text)
    return any(k in norm for k in KEYWORDS)


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(re.escape(c) for c in chars) + "]"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes equivalent to `reference_match` on text without "complex" characters.

    `normalise` works character by character, so a keyword occurs in the normalised text exactly
    when the original holds, for each keyword letter in turn, a character whose image is that
    letter, separated only by characters whose image is empty (combining marks). Characters
    whose image is several characters including a keyword letter (ligatures like `ĳ`, `™`), and
    any character outside the BMP, are "complex": such a text takes the exact, slower path.
    Built once per Python worker from the BMP (~65k characters).
    """
    letters = set("".join(KEYWORDS))
    classes: dict[str, list[str]] = {letter: [] for letter in letters}
    ignorable: list[str] = []
    complex_chars: list[str] = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        image = normalise(char)
        if image == "":
            ignorable.append(char)
        elif image in letters:
            classes[image].append(char)
        elif letters.intersection(image):
            complex_chars.append(char)
    gap = _char_class(ignorable) + "*"
    keyword = "|".join(gap.join(_char_class(classes[letter]) for letter in word) for word in KEYWORDS)
    complex_re = _char_class(complex_chars) + "|[\U00010000-\U0010ffff]"
    return re.compile(keyword), re.compile(complex_re)


def mentions_mobility(*texts: str | None) -> bool:
    """True when `mobilite` or `transport` occurs in any text once normalised (see `normalise`)."""
    for text in texts:
        if not text:
            continue
        if text.isascii():  # NFKD and mark stripping change nothing; casefold is lower
            lowered = text.lower()
            if any(k in lowered for k in KEYWORDS):
                return True
            continue
        keyword_re, complex_re = _patterns()
        if complex_re.search(text) is not None:
            if reference_match(text):
                return True
        elif keyword_re.search(text) is not None:
            return True
    return False


def _col(name: str) -> Column:
    return sf.col(f"`{name}`")


def _count(name: str) -> Column:
    """A count cell (`12`, empty) as a long; empty or unreadable counts as 0."""
    return sf.coalesce(_col(name).try_cast("double").cast("long"), sf.lit(0).cast("long"))


def match_mobility(datasets: DataFrame) -> DataFrame:
    """Datasets whose title, description or tags mention mobilité or transport (any case/accents).

    Needs `title`, `description`, `tags`; keeps every column as is.
    """
    matcher = sf.udf(mentions_mobility, st.BooleanType(), useArrow=False)
    return datasets.filter(matcher(*[_col(c) for c in MATCH_COLUMNS]))


def top_organizations(organizations: DataFrame, n: int = TOP_N) -> DataFrame:
    """The `n` organizations with most followers, ties going to the smaller `id`.

    Needs `id`, `name`, `metric.followers`; returns `organization_id`, `organization`,
    `organization_followers` (long), `rank` (1..n).
    """

    ranked = organizations.select(
        _col("id").alias("organization_id"),
        _col("name").alias("organization"),
        _count("metric.followers").alias("organization_followers"),
    ).filter(sf.col("organization_id").isNotNull())
    order = Window.orderBy(sf.col("organization_followers").desc(), sf.col("organization_id").asc())
    return ranked.withColumn("rank", sf.row_number().over(order)).filter(sf.col("rank") <= n)


def tops(matching: DataFrame, top_orgs: DataFrame, run_date: str) -> DataFrame:
    """One row per matching dataset of a top organization, in the gold `datagouv/tops` schema.

    Needs matching datasets (`id`, `title`, `organization_id`, `metric.followers`) and the
    output of `top_organizations`.
    """
    datasets = matching.select(
        _col("id").alias("dataset_id"),
        _col("title").alias("title"),
        _count("metric.followers").alias("dataset_followers"),
        _col("organization_id").alias("organization_id"),
    )
    joined = datasets.join(top_orgs.drop("rank"), on="organization_id", how="inner")
    return joined.select(sf.lit(run_date).alias("run_date"), *[c for c in TOPS_COLUMNS if c != "run_date"])
