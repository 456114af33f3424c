"""The Spark matcher (in the JVM) against the Python matcher and the definition, on tricky text.

`mentions_mobility_column` must give, for every text, the answer of `reference_match` (NFKD,
combining marks dropped, case-folded, substring): checked here on hand-picked cases (every French
accent, ligatures, NFD text, ß, Turkish İ/ı, separators, empty and null cells) and on a few
thousand generated texts that plant keywords spelled with every kind of character the tables
handle (accented and compatibility letters, combining marks, complex characters).
"""

from __future__ import annotations

import functools
import random
import unicodedata
from typing import Any

import pytest
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from jobs.datagouv_catalog.transform import (
    KEYWORDS,
    MATCH_COLUMNS,
    SCANNED_CODE_POINTS,
    _images,
    fold_tables,
    match_mobility,
    mentions_mobility,
    mentions_mobility_column,
    normalise,
    reference_match,
    register_matcher,
)

TRICKY = [
    None,
    "",
    " ",
    "Mobilité durable",
    "MOBILITÉ",
    "Mobilités douces",
    "mobilités",
    "transports",
    "TRANSPORTS EN COMMUN",
    "Transport à la demande",
    "Plan de mobilité (PDM)",
    "immobilité",
    # every French accent on every keyword letter it can sit on, lower and upper case
    "mòbîlïtê",
    "MÒBÎLÏTÊ",
    "mŏbĭlĩtë",
    "trànspôrt",
    "TRÂNSPÖRT",
    "trãnšpørt",  # ø is not o + a mark: no match
    "àâäéèêëîïôöùûüÿç œ æ",
    "mobiliteœ",
    "mœbilite",  # œ is not o: no match
    "mobilitæ",
    "Œuvre et transport",
    # combining marks (NFD), alone and stacked
    unicodedata.normalize("NFD", "Mobilité"),
    unicodedata.normalize("NFD", "TRANSPORTS ÉLECTRIQUES"),
    "mo\u0301\u0308bilite",
    "m\u0327o\u0323b\u0331i\u0306l\u030ci\u0303t\u0330e\u0301",
    "\u0301mobilite",
    "mobilit\u0301",
    # ß and ẞ fold to "ss", which no keyword holds
    "traßport",
    "tranßport",
    "TRANẞPORT",
    "straße transport",
    # Turkish dotted and dotless i
    "MOBİLİTE",
    "mobİlite",
    "mobılite",
    "MOBILITE",
    # compatibility characters: full width, math letters, circled, ligatures, units
    "ｍｏｂｉｌｉｔｅ",
    "ＴＲＡＮＳＰＯＲＴ",
    "\U0001d426\U0001d428\U0001d41b\U0001d422\U0001d425\U0001d422\U0001d42d\U0001d41e",
    "ⓜⓞⓑⓘⓛⓘⓣⓔ",
    "™obilite",  # ™ -> tm: its m opens the keyword
    "mobili℡",  # ℡ -> tel: its te closes it
    "mobilit㋍",  # ㋍ -> erg: its e closes it
    "tra㎱port",  # ㎱ -> ns, inside the keyword
    "ﬆransport",  # ﬆ -> st: its t opens it
    "transpor™",  # ™ -> tm: its t closes it
    "ĳ transport",
    "tm obilite",
    "㎱",
    "\ufb03 mobil ite",
    # look-alikes and separators that break a keyword
    "mobil-ite",
    "trans-port",
    "trans\u00adport",  # soft hyphen is not a combining mark
    "trans\u200dport",  # zero-width joiner neither
    "mobili\ufe0fte",  # variation selector neither
    "mobilit",
    "transpor",
    "mobilier urbain",
    "Transpondeur",
    "mobile",
    "mobilite\uffff",
    "\uffff",
    "tra\uffffnsport",
    # tags as the export writes them
    "velo,mobilite-douce",
    "bus;transport",
    "education,sante",
    "mobilite|velo",
    "transport\r\nscolaire",
    "\U0001f68c transport \U0001f68b",
    "\U0001f68c\U0001f68b",
]


@functools.cache
def _character_kinds() -> tuple[dict[str, list[str]], list[str], dict[str, str]]:
    """Spellings of each keyword letter (plain letter first), ignorable and complex characters."""
    letters = set("".join(KEYWORDS))
    spellings: dict[str, list[str]] = {letter: [letter] for letter in letters}
    ignorable: list[str] = []
    complex_images: dict[str, str] = {}
    for char, image in _images().items():
        if image in letters:
            spellings[image].append(char)
        elif image == "":
            ignorable.append(char)
        elif letters.intersection(image):
            complex_images[char] = image
    return spellings, ignorable, complex_images


def _complex_piece(rng: random.Random, word: str, at: int) -> tuple[str, int] | None:
    """A complex character supplying letters of `word` from `at` on, and how many it supplies:
    the tail of its image opens the word, its whole image sits inside, or its head closes it."""
    _, _, complex_images = _character_kinds()
    options = []
    for char, image in complex_images.items():
        if at == 0:
            options += [(char, k) for k in range(1, len(word)) if image.endswith(word[:k])]
        options += [
            (char, len(image)) for k in [len(image)] if word[at : at + k] == image and at + k < len(word)
        ]
        if image.startswith(word[at:]):
            options.append((char, len(word) - at))
    return rng.choice(options) if options else None


def generated_texts(count: int, seed: int) -> list[str]:
    """Texts around a keyword spelled with random look-alikes, marks and complex characters."""
    rng = random.Random(seed)
    spellings, ignorable, complex_images = _character_kinds()
    complex_chars = sorted(complex_images)
    noise = ["", " ", "é", "ß", "ı", "İ", "\u00ad", "\U0001f68c", "-", "\n", "ø", "œ", "x", "\uffff"]
    texts = []
    for _ in range(count):
        word = rng.choice(KEYWORDS)
        parts = [rng.choice(noise)]
        at = 0
        while at < len(word):
            roll = rng.random()
            if roll < 0.03:
                at += 1  # a letter missing: mostly no match
                continue
            if roll < 0.06:
                parts.append(rng.choice(noise))
            piece = _complex_piece(rng, word, at) if roll > 0.85 else None
            if piece is not None:
                parts.append(piece[0])
                at += piece[1]
            else:
                parts.append(rng.choice(spellings[word[at]]) if rng.random() < 0.5 else word[at])
                at += 1
            if rng.random() < 0.15:
                parts.append(rng.choice(ignorable))
            if rng.random() < 0.03:
                parts.append(rng.choice(complex_chars))
        parts.append(rng.choice(noise))
        texts.append("".join(parts))
    return texts


@pytest.mark.unit
def test_the_other_planes_hold_no_character_the_tables_need() -> None:
    letters = set("".join(KEYWORDS))
    for cp in range(SCANNED_CODE_POINTS, 0x110000):
        image = normalise(chr(cp))
        assert image and not letters.intersection(image), hex(cp)


@pytest.mark.unit
def test_fold_tables_spell_translate_arguments() -> None:
    tables = fold_tables()
    assert len(tables.fold_from) > len(tables.fold_to) > 700  # the tail (marks) is deleted
    assert len(set(tables.fold_from)) == len(tables.fold_from)
    assert set(tables.fold_to) == set("".join(KEYWORDS)) | {"\uffff"}
    assert tables.keep_to == tables.fold_to.rstrip("\uffff")


@pytest.mark.unit
def test_generated_texts_cover_both_answers_and_complex_characters() -> None:
    texts = generated_texts(3000, seed=16)
    answers = [reference_match(t) for t in texts]
    assert 0.3 < sum(answers) / len(texts) < 0.95
    complex_hits = [t for t, a in zip(texts, answers, strict=True) if a and not mentions_mobility_plain(t)]
    assert len(complex_hits) > 100  # matches that only a complex character's image makes


def mentions_mobility_plain(text: str) -> bool:
    """The keyword with complex characters left as they are (wrong on purpose: a coverage probe)."""
    _, _, complex_images = _character_kinds()
    kept = "".join(c if c in complex_images else normalise(c) for c in text)
    return any(k in kept for k in KEYWORDS)


def _spark_answers(spark: Any, texts: list[str | None]) -> list[bool]:
    schema = st.StructType([st.StructField("i", st.IntegerType()), st.StructField("t", st.StringType())])
    frame = spark.createDataFrame(list(enumerate(texts)), schema)
    rows = frame.select("i", mentions_mobility_column(spark, frame["t"]).alias("m")).orderBy("i").collect()
    return [r["m"] for r in rows]


@pytest.mark.integration
def test_spark_matcher_equals_the_python_matcher_and_the_definition(spark: Any) -> None:
    texts: list[str | None] = [*TRICKY, *generated_texts(3000, seed=16)]
    got = _spark_answers(spark, texts)
    assert all(isinstance(g, bool) for g in got)  # never null, also for a null cell
    for text, answer in zip(texts, got, strict=True):
        expected = reference_match(text) if text is not None else False
        assert answer is expected, repr(text)
        assert mentions_mobility(text) is expected, repr(text)


@pytest.mark.integration
def test_spark_matcher_on_hand_picked_cases(spark: Any) -> None:
    cases = {
        "Mobilité durable": True,
        unicodedata.normalize("NFD", "MOBILITÉ"): True,
        "MOBİLİTE": True,
        "mobılite": False,
        "tranßport": False,
        "™obilite": True,
        "tra㎱port": True,
        "ﬆransport": True,
        "mœbilite": False,
        "trans\u00adport": False,
        "tra\uffffnsport": False,
        "": False,
    }
    assert dict(zip(cases, _spark_answers(spark, list(cases)), strict=True)) == cases


@pytest.mark.integration
def test_spark_matcher_reads_bytes_that_are_not_utf8_as_java_decodes_them(spark: Any) -> None:
    """The JVM matcher reads a cell's UTF-8 bytes; a malformed sequence (a cell Spark did not
    decode itself) counts as U+FFFD, what decoding it to a Java string gives."""
    cases = {
        b"\xffmobilite": True,
        b"mob\xffilite": False,
        b"trans\xc3port": False,  # a lead byte without its continuation
        b"\xe2\x84\xa2obilite \xc3": True,  # the complex path (TM) on a malformed text
        b"transport\xf8": True,
    }
    frame = spark.createDataFrame([(i, v) for i, v in enumerate(cases)], "i int, b binary")
    matcher = register_matcher(spark)
    rows = frame.select("i", sf.call_function(matcher, frame["b"]).alias("m")).orderBy("i").collect()
    assert [r["m"] for r in rows] == list(cases.values())


@pytest.mark.integration
def test_match_mobility_reads_title_description_and_tags(spark: Any) -> None:
    schema = st.StructType([st.StructField(c, st.StringType()) for c in ("id", *MATCH_COLUMNS)])
    rows = [
        ("t", "Plan de MOBİLİTE", None, None),
        ("d", None, "Les transports\nscolaires", ""),
        ("g", "", "", "velo,mobilite-douce"),
        ("n", None, None, None),
        ("x", "mobil", "ite", "transpor,t"),  # never joined across cells or tags
    ]
    got = {r["id"] for r in match_mobility(spark.createDataFrame(rows, schema)).collect()}
    assert got == {"t", "d", "g"}
