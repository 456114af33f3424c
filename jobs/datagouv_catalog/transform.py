"""Pure transforms of the catalogue: the mobility/transport matcher and the top-30 organizations.

Column names of the exports contain dots (`metric.followers`), so they are always referenced
with backticks.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as sf

from common.errors import ConfigError
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
    """True when `mobilite` or `transport` occurs in any text once normalised (see `normalise`).

    The Python form of the matcher (Spark runs `mentions_mobility_column`, in the JVM); tests hold
    the two to the same answers.
    """
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


# --- the matcher in the JVM ----------------------------------------------------------------------

# Planes 0 and 1 hold every character whose image is empty or holds a keyword letter (a test
# scans the other planes), so the tables below are built from 128k characters, not 1.1M.
SCANNED_CODE_POINTS = 0x20000
# What a complex character becomes in the folded text: never a keyword letter, so no keyword runs
# through it; the JVM matcher takes the exact path for a text that held one.
COMPLEX_MARK = "\uffff"


@dataclass(frozen=True)
class FoldTables:
    """The tables that decide the match without Python, in the form Spark's `translate` takes.

    Folding `text` as `translate(text, fold_from, fold_to)` maps each character whose image is
    one keyword letter to that letter, each complex character (image of several characters, one
    a keyword letter, e.g. `™` -> `tm`) to COMPLEX_MARK, and deletes characters whose image is
    empty (combining marks; `translate` deletes what `fold_to` has no counterpart for). Every
    other character stays as it is and is not a keyword letter. So, for a text without complex
    characters, a keyword occurs in `normalise(text)` exactly when it occurs in the folded text.

    A text with complex characters is folded again keeping them (`keep_from`, `keep_to`) and
    matched against `complex_regex` (Java syntax), which spells each keyword with, at each
    place, the plain letter or a complex character whose image supplies the letters there: the
    tail of its image may open the keyword, the whole image may sit inside it, the head of its
    image may close it.

    `dataplatform.datagouv.KeywordMatch` (jvm/) applies exactly this, folding on the fly: Spark's
    own `translate` plus byte searches gave the same answers but cost 5.5 s of CPU on the 60,000
    dataset benchmark against 0.8 s (it allocates a string per character).
    """

    fold_from: str
    fold_to: str
    keep_from: str
    keep_to: str
    complex_regex: str


def _images() -> dict[str, str]:
    """`normalise(c)` for every character it changes (lower-case ASCII letters are their own)."""
    images = {}
    for cp in range(SCANNED_CODE_POINTS):
        if 0xD800 <= cp <= 0xDFFF or (cp < 0x80 and not 0x41 <= cp <= 0x5A):
            continue
        char = chr(cp)
        if (
            unicodedata.combining(char)
            or unicodedata.normalize("NFKD", char) != char
            or char.casefold() != char
        ):
            images[char] = normalise(char)
    return images


def _java_class(chars: list[str]) -> str:
    """A Java regex character class, runs of code points as ranges."""
    points = sorted(ord(c) for c in chars)
    parts = []
    start = 0
    while start < len(points):
        end = start
        while end + 1 < len(points) and points[end + 1] == points[end] + 1:
            end += 1
        first, last = points[start], points[end]
        parts.append(f"\\x{{{first:X}}}" + (f"-\\x{{{last:X}}}" if last != first else ""))
        start = end + 1
    return "[" + "".join(parts) + "]"


def _word_regex(word: str, complex_images: dict[str, str]) -> str:
    """Where `word` occurs in a folded text that kept its complex characters (see FoldTables)."""

    def chars(test: Callable[[str], bool]) -> str | None:
        found = [c for c, image in complex_images.items() if test(image)]
        return _java_class(found) if found else None

    @functools.cache
    def rest(done: int) -> str:
        """The keyword from letter `done` on."""
        if done == len(word):
            return ""
        alternatives = [re.escape(word[done]) + rest(done + 1)]
        for end in range(done + 2, len(word)):
            inside = chars(lambda image, piece=word[done:end]: image == piece)  # type: ignore[misc]
            if inside:
                alternatives.append(inside + rest(end))
        closing = chars(lambda image, tail=word[done:]: image.startswith(tail))  # type: ignore[misc]
        if closing:
            alternatives.append(closing)
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    alternatives = []
    whole = chars(lambda image: word in image)
    if whole:
        alternatives.append(whole)
    alternatives.append(re.escape(word[0]) + rest(1))
    for done in range(1, len(word)):
        opening = chars(lambda image, head=word[:done]: image.endswith(head) and word not in image)  # type: ignore[misc]
        if opening:
            alternatives.append(opening + rest(done))
    return "|".join(alternatives)


@functools.cache
def fold_tables() -> FoldTables:
    """The tables, from this Python's `unicodedata` (the definition's); ~0.1 s, once per process."""
    letters = set("".join(KEYWORDS))
    single: list[tuple[str, str]] = []
    ignorable: list[str] = []
    complex_images: dict[str, str] = {}
    for char, image in _images().items():
        if image == "":
            ignorable.append(char)
        elif image in letters:
            single.append((char, image))
        elif letters.intersection(image):
            complex_images[char] = image
    to_letter = "".join(c for c, _ in single)
    letters_to = "".join(image for _, image in single)
    complex_chars = "".join(complex_images)
    return FoldTables(
        fold_from=to_letter + complex_chars + "".join(ignorable),
        fold_to=letters_to + COMPLEX_MARK * len(complex_chars),
        keep_from=to_letter + "".join(ignorable),
        keep_to=letters_to,
        complex_regex="|".join(_word_regex(word, complex_images) for word in KEYWORDS),
    )


def register_matcher(spark: SparkSession) -> str:
    """Register the JVM matcher (once per session) under the SQL function name it returns."""
    if _REGISTERED.get(id(spark)) is not spark:
        tables = fold_tables()
        jvm: Any = spark.sparkContext._jvm
        gateway: Any = spark.sparkContext._gateway
        keywords = gateway.new_array(jvm.java.lang.String, len(KEYWORDS))
        for i, word in enumerate(KEYWORDS):
            keywords[i] = word
        try:
            match = jvm.dataplatform.datagouv.KeywordMatch(
                tables.fold_from,
                tables.fold_to,
                tables.keep_from,
                tables.keep_to,
                keywords,
                tables.complex_regex,
            )
        except TypeError:  # py4j's answer for a class the classpath lacks
            raise ConfigError(
                "SPARK_JARS_DIR",
                "the project's jar lacks dataplatform.datagouv.KeywordMatch (run `make setup`)",
            ) from None
        spark._jsparkSession.udf().register(
            MATCHER_FUNCTION, match, jvm.org.apache.spark.sql.types.DataTypes.BooleanType
        )
        _REGISTERED[id(spark)] = spark
    return MATCHER_FUNCTION


MATCHER_FUNCTION = "datagouv_mentions_mobility"
_REGISTERED: dict[int, SparkSession] = {}


def mentions_mobility_column(spark: SparkSession, text: Column) -> Column:
    """Spark's form of `mentions_mobility` for one text column: true or false, never null.

    Runs in the JVM (no Python worker): one pass over the text's UTF-8 bytes, folding as it goes.
    """
    return sf.call_function(register_matcher(spark), text.cast("binary"))


def _col(name: str) -> Column:
    return sf.col(f"`{name}`")


def _count(name: str) -> Column:
    """A count cell (`12`, empty) as a long; empty or unreadable counts as 0."""
    return sf.coalesce(_col(name).try_cast("double").cast("long"), sf.lit(0).cast("long"))


def match_mobility(datasets: DataFrame) -> DataFrame:
    """Datasets whose title, description or tags mention mobilité or transport (any case/accents).

    Needs `title`, `description`, `tags`; keeps every column as is.
    """
    found = [mentions_mobility_column(datasets.sparkSession, _col(c)) for c in MATCH_COLUMNS]
    return datasets.filter(functools.reduce(lambda a, b: a | b, found))


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
