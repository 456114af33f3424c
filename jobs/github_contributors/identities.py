"""Bots and identities: who is automation, and which emails and names are one person.

The contract's series keeps its own identity rule (see `transform.with_contributor`); everything
here feeds the additions beside it: `new_humans`, `new_bots`, `new_humans_merged` on the monthly
table and the `github/contributors` table. Spark functions take and return DataFrames (no I/O);
`parse_identity_map` is plain text in, entries out, so a bad file fails before Spark starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf

from common.errors import ConfigError
from common.schema import local_frame, struct
from jobs.github_contributors.transform import KEY, clamp_first_months, month_of

# `12345+login@users.noreply.github.com` or `login@users.noreply.github.com` (case-insensitive).
NOREPLY = r"(?i)^(?:[0-9]+\+)?([^@+]+)@users\.noreply\.github\.com$"
_NOREPLY = re.compile(NOREPLY)
BOT_SUFFIX = "[bot]"

# map_email: the commit email, lower-cased ("" for none); map_name: the commit name, lower-cased
# (null: any name); the proper email and name it maps to.
MAP_SCHEMA = struct("map_email string!, map_name string, proper_email string, proper_name string")


@dataclass(frozen=True)
class MapEntry:
    """One `.mailmap` line: commits with this email (and name, when given) are by the proper pair."""

    email: str
    name: str | None
    proper_email: str | None
    proper_name: str | None


def noreply_login(email: str) -> str | None:
    """The login of a GitHub noreply address, lower-cased, else None."""
    found = _NOREPLY.match(email)
    return found.group(1).lower() if found else None


# `Name <email>` pairs of a line: the name part may be empty, the email part may be `<>`.
_PAIR = re.compile(r"\s*([^<>#]*?)\s*<([^<>]*)>")


def parse_identity_map(text: str, source: str) -> list[MapEntry]:
    """Parse a `.mailmap`: `<proper@email> <commit@email>`, `Proper Name <proper@email> <commit@email>`,
    `Proper Name <proper@email> Commit Name <commit@email>`; `#` starts a comment.

    The one-pair form `Proper Name <commit@email>` is accepted and changes nothing here: as in git
    it only renames, and an email-keyed identity does not move. Raises ConfigError naming `source`
    and the line, so a bad file ends the job before Spark starts.
    """
    entries: list[MapEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pairs: list[tuple[str, str]] = []
        pos = 0
        while (found := _PAIR.match(line, pos)) is not None:
            pairs.append((found.group(1), found.group(2).strip()))
            pos = found.end()
        if line[pos:].strip() or not 1 <= len(pairs) <= 2:
            raise ConfigError(
                "GITHUB_IDENTITY_MAP", f"{source} line {number}: cannot parse '{raw.strip()[:120]}'"
            )
        if len(pairs) == 1:
            continue
        (proper_name, proper_email), (commit_name, commit_email) = pairs
        if not proper_email and not proper_name:
            raise ConfigError(
                "GITHUB_IDENTITY_MAP", f"{source} line {number}: neither a proper name nor a proper email"
            )
        entries.append(
            MapEntry(
                commit_email.lower(),
                commit_name.lower() or None,
                proper_email.lower() or None,
                proper_name or None,
            )
        )
    return entries


def map_frame(spark: SparkSession, entries: list[MapEntry]) -> DataFrame:
    """The identity map as a small DataFrame (joined, so a large map costs no Python UDF)."""
    return local_frame(spark, [(e.email, e.name, e.proper_email, e.proper_name) for e in entries], MAP_SCHEMA)


def _local_part(email: Column) -> Column:
    return sf.substring_index(email, "@", 1)


def _noreply(email: Column) -> Column:
    login = sf.lower(sf.regexp_extract(email, NOREPLY, 1))
    return sf.when(login != "", login)


def with_identity(commits: DataFrame) -> DataFrame:
    """Add `identity`: lower(login); else the noreply email's login; else lower(email); else name."""
    email = sf.col("author_email")
    return commits.withColumn(
        "identity",
        sf.coalesce(
            sf.lower(sf.col("author_login")),
            _noreply(email),
            sf.when(email != "", sf.lower(email)),
            sf.col("author_name"),
        ),
    )


def with_bot(commits: DataFrame, bot_logins: frozenset[str]) -> DataFrame:
    """Add `is_bot` (per commit): author.type Bot, login or email local part ending in `[bot]`,
    or login in `bot_logins`. Needs `author_type` (null when the crawl did not record it)."""
    # The login a noreply email stands for counts as the login (the additions' identity rule).
    login = sf.coalesce(sf.lower(sf.col("author_login")), _noreply(sf.col("author_email")))
    listed = login.isin(sorted(bot_logins)) if bot_logins else sf.lit(False)
    is_bot = (
        (sf.col("author_type") == "Bot")
        | login.endswith(BOT_SUFFIX)
        | sf.lower(_local_part(sf.col("author_email"))).endswith(BOT_SUFFIX)
        | listed
    )
    return commits.withColumn("is_bot", sf.coalesce(is_bot, sf.lit(False)))


def email_links(commits: DataFrame) -> DataFrame:
    """(`_target`, `_linked`): per lower-cased email a linked commit used, the smallest login
    among them (GitHub links by verified email, so the email is that person's). Org-wide: a
    repository's merged identities read the links of every repository's commits."""
    email = sf.lower(sf.col("author_email"))
    return (
        commits.where(sf.col("author_login").isNotNull() & (email != ""))
        .groupBy(email.alias("_target"))
        .agg(sf.min(sf.lower(sf.col("author_login"))).alias("_linked"))
    )


def with_merged_identity(
    commits: DataFrame, identity_map: DataFrame, links: DataFrame | None = None
) -> DataFrame:
    """Add `merged_identity`, one per person as far as the data and the map tell.

    A linked commit is its lower-cased login. Otherwise the map gives the proper email and name (an
    entry naming the commit name wins over an email-only one), and the identity is: the login of a
    noreply email; else the login a linked commit of the same data used that email with
    (`links`: `email_links` of the org's commits, when `commits` are only some of them); else the
    email; else the name. Needs `with_identity`'s output (the map is matched on lower-cased email
    and name).
    """
    links = email_links(commits) if links is None else links
    email = sf.lower(sf.coalesce(sf.col("author_email"), sf.lit("")))
    keyed = commits.withColumn("_email", email).withColumn("_name", sf.lower(sf.col("author_name")))
    named = (
        identity_map.where(sf.col("map_name").isNotNull())
        .groupBy(sf.col("map_email").alias("_email"), sf.col("map_name").alias("_name"))
        .agg(sf.min(sf.struct("proper_email", "proper_name")).alias("_named"))
    )
    by_email = (
        identity_map.where(sf.col("map_name").isNull())
        .groupBy(sf.col("map_email").alias("_email"))
        .agg(sf.min(sf.struct("proper_email", "proper_name")).alias("_any"))  # repeated email: one answer
    )
    mapped = sf.coalesce(sf.col("_named"), sf.col("_any"))
    out = (
        keyed.join(sf.broadcast(named), ["_email", "_name"], "left")
        .join(sf.broadcast(by_email), ["_email"], "left")
        .withColumn("_target", sf.coalesce(mapped.getField("proper_email"), sf.col("_email")))
        .withColumn("_pname", sf.coalesce(mapped.getField("proper_name"), sf.col("author_name")))
        .join(links, ["_target"], "left")
    )
    merged = sf.coalesce(
        sf.lower(sf.col("author_login")),
        _noreply(sf.col("_target")),
        sf.col("_linked"),
        sf.when(sf.col("_target") != "", sf.col("_target")),
        sf.col("_pname"),
    )
    return out.withColumn("merged_identity", merged).drop(
        "_email", "_name", "_named", "_any", "_target", "_pname", "_linked"
    )


def relinked_repos(
    before: DataFrame, after: DataFrame, emails: set[str], entries: list[MapEntry]
) -> set[str]:
    """The repositories of `after` (an org's commits; `before`: the same org's earlier commits)
    holding a commit with no login whose email's link (`email_links`) differs between the two,
    or may: their merged identities may move although none of their commits did. `emails`: the
    lower-cased emails of the commits that differ (only their links can move); `entries`: the
    identity map, whose proper emails a commit's link is looked up by."""
    if not emails:
        return set()

    def links(commits: DataFrame) -> dict[str, str]:
        mine = commits.where(sf.lower(sf.col("author_email")).isin(sorted(emails)))
        return {row["_target"]: row["_linked"] for row in email_links(mine).collect()}

    old, new = links(before), links(after)
    moved = {email for email in emails if old.get(email) != new.get(email)}
    if not moved:
        return set()
    keyed = moved | {entry.email for entry in entries if entry.proper_email in moved}
    unlinked = after.where(
        sf.col("author_login").isNull() & sf.lower(sf.col("author_email")).isin(sorted(keyed))
    )
    return {row["repo"] for row in unlinked.select("repo").distinct().collect()}


def contributors(commits: DataFrame) -> DataFrame:
    """One row per (org, repo, identity): kind (`bot` if any of its commits is), first_commit_at
    (earliest author_date), commits, merged_identity (the smallest, should a map split one).

    Needs `with_identity`, `with_bot` and `with_merged_identity` outputs. Commits with no identity
    are left out, as in the contract's series.
    """
    return (
        commits.where(sf.col("identity").isNotNull())
        .groupBy(*KEY, "identity")
        .agg(
            sf.when(sf.max(sf.col("is_bot").cast("int")) == 1, "bot").otherwise("human").alias("kind"),
            sf.min("author_date").alias("first_commit_at"),
            sf.count(sf.lit(1)).cast("long").alias("commits"),
            sf.min("merged_identity").alias("merged_identity"),
        )
    )


def kind_columns(commits: DataFrame, repos: DataFrame, series: DataFrame, run_date: date) -> DataFrame:
    """The series plus `new_humans`, `new_bots` (identities as in `with_identity`) and
    `new_humans_merged` (merged identities; a merged identity is a bot if any part is), clamped to
    the series' months as the contract's count is. Needs the three `with_*` outputs on `commits`."""
    clamp = clamp_first_months(month_of(run_date))
    dated = commits.where(sf.col("identity").isNotNull() & sf.col("author_date").isNotNull())

    def firsts(column: str) -> DataFrame:
        return dated.groupBy(*KEY, sf.col(column).alias("contributor")).agg(
            sf.min("author_date").alias("first_at"), sf.max(sf.col("is_bot").cast("int")).alias("bot")
        )

    def count(bot: int) -> Column:
        return sf.count(sf.when(sf.col("bot") == bot, sf.lit(1))).cast("long")

    by_identity = (
        clamp(firsts("identity"), repos)
        .groupBy(*KEY, "month")
        .agg(count(0).alias("new_humans"), count(1).alias("new_bots"))
    )
    by_merged = (
        clamp(firsts("merged_identity").where(sf.col("bot") == 0), repos)
        .groupBy(*KEY, "month")
        .agg(sf.count(sf.lit(1)).cast("long").alias("new_humans_merged"))
    )
    out = series.join(by_identity, [*KEY, "month"], "left").join(by_merged, [*KEY, "month"], "left")
    for name in ("new_humans", "new_bots", "new_humans_merged"):
        out = out.withColumn(name, sf.coalesce(sf.col(name), sf.lit(0)).cast("long"))
    return out


def prepare(
    commits: DataFrame,
    *,
    bot_logins: frozenset[str],
    identity_map: DataFrame,
    links: DataFrame | None = None,
) -> DataFrame:
    """The commits with `identity`, `is_bot` and `merged_identity`: what `additions` reads
    (`links`: see `with_merged_identity`)."""
    return with_merged_identity(with_bot(with_identity(commits), bot_logins), identity_map, links)


def additions(
    prepared: DataFrame, repos: DataFrame, series: DataFrame, run_date: date
) -> tuple[DataFrame, DataFrame]:
    """(series with the kind columns, contributors rows) from `prepare`'s output (best cached: both
    read it). `repos` and the commits are what the contract's series was computed from.
    """
    return kind_columns(prepared, repos, series, run_date), contributors(prepared)
