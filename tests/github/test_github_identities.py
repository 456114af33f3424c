"""chispa tests of the bot/identity transforms, and the parsers of their two settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from common.errors import ConfigError
from common.settings import load_settings
from jobs.github_contributors import identities
from jobs.github_contributors.identities import MapEntry, parse_identity_map

pytestmark = pytest.mark.unit

COMMITS = StructType(
    [
        StructField("org", StringType(), False),
        StructField("repo", StringType(), False),
        StructField("author_login", StringType(), True),
        StructField("author_type", StringType(), True),
        StructField("author_email", StringType(), True),
        StructField("author_name", StringType(), True),
        StructField("author_date", TimestampType(), True),
    ]
)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def commits(spark: Any, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, COMMITS)


def prepared(spark: Any, rows: list[tuple[Any, ...]], entries: list[MapEntry] | None = None) -> DataFrame:
    df = identities.with_bot(
        identities.with_identity(commits(spark, rows)), frozenset({"facebook-github-bot"})
    )
    return identities.with_merged_identity(df, identities.map_frame(spark, entries or []))


D = ts("2024-01-05 10:00:00")


def test_identity_adds_noreply_logins_to_the_contract_rule(spark: Any) -> None:
    rows = [
        ("o", "r", "OctoCat", "User", "x@y.z", "Octo", D),
        ("o", "r", None, None, "12345+Mona@users.noreply.github.com", "Mona", D),
        ("o", "r", None, None, "Hubot@Users.NoReply.GitHub.com", "Hubot", D),
        ("o", "r", None, None, "Dev@Corp.COM", "Dev", D),
        ("o", "r", None, None, "", "Only Name", D),
        ("o", "r", None, None, "12345+a+b@users.noreply.github.com.evil", "X", D),
    ]
    out = identities.with_identity(commits(spark, rows)).select("identity")
    expected = spark.createDataFrame(
        [
            ("octocat",),
            ("mona",),
            ("hubot",),
            ("dev@corp.com",),
            ("Only Name",),
            ("12345+a+b@users.noreply.github.com.evil",),
        ],
        StructType([StructField("identity", StringType(), True)]),
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_bot_is_type_suffix_or_listed_login_and_nothing_else(spark: Any) -> None:
    rows = [
        ("o", "r", "renovate", "Bot", "x@y.z", "Renovate", D),  # type Bot, no suffix
        ("o", "r", "dependabot[bot]", None, "x@y.z", "d", D),  # login suffix (type not recorded)
        ("o", "r", None, None, "49699333+dependabot[bot]@users.noreply.github.com", "d", D),  # email suffix
        ("o", "r", "Facebook-GitHub-Bot", "User", "f@fb.com", "f", D),  # listed, case-insensitive
        (
            "o",
            "r",
            None,
            None,
            "6422482+facebook-github-bot@users.noreply.github.com",
            "f",
            D,
        ),  # listed noreply
        ("o", "r", "robotnik", "User", "bot@corp.com", "Robot", D),  # "bot" in names: still human
        ("o", "r", None, None, "ci[bot].example@corp.com", "CI", D),  # [bot] not before @: human
        ("o", "r", None, None, None, "Nobody", D),
    ]
    out = identities.with_bot(commits(spark, rows), frozenset({"facebook-github-bot"})).select("is_bot")
    assert [r["is_bot"] for r in out.collect()] == [True, True, True, True, True, False, False, False]


def test_contributors_kind_first_commit_and_count(spark: Any) -> None:
    rows = [
        ("o", "r", "Alice", "User", "a@x.io", "Alice", ts("2024-02-01 00:00:00")),
        ("o", "r", None, None, "1+alice@users.noreply.github.com", "Alice", ts("2024-01-31 23:59:59")),
        ("o", "r", "dependabot[bot]", "Bot", "x@y.z", "dependabot", ts("2024-03-01 00:00:00")),
        (
            "o",
            "r",
            None,
            None,
            "49699333+dependabot[bot]@users.noreply.github.com",
            "d",
            ts("2024-02-01 00:00:00"),
        ),
        ("o", "r", None, None, None, None, ts("2024-02-01 00:00:00")),  # no identity: left out
        ("o", "s", "alice", "User", "a@x.io", "Alice", ts("2023-01-01 00:00:00")),
    ]
    out = identities.contributors(prepared(spark, rows)).drop("merged_identity").orderBy("repo", "identity")
    schema = StructType(
        [
            StructField("org", StringType()),
            StructField("repo", StringType()),
            StructField("identity", StringType()),
            StructField("kind", StringType()),
            StructField("first_commit_at", TimestampType()),
            StructField("commits", LongType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("o", "r", "alice", "human", ts("2024-01-31 23:59:59"), 2),
            ("o", "r", "dependabot[bot]", "bot", ts("2024-02-01 00:00:00"), 2),
            ("o", "s", "alice", "human", ts("2023-01-01 00:00:00"), 1),
        ],
        schema,
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_merged_identity_follows_the_map_and_linked_emails(spark: Any) -> None:
    entries = parse_identity_map(
        "# the team\n"
        "Bob <bob@corp.com> <bob@home.net>\n"
        "<carol@users.noreply.github.com> <carol.old@corp.com>\n"
        "Dan <dan@corp.com> Daniel <DAN@laptop.local>\n",
        "mailmap",
    )
    rows = [
        ("o", "r", "Bob", "User", "bob@corp.com", "Bob", D),  # links bob@corp.com to login bob
        ("o", "r", None, None, "Bob@Home.net", "Bob", D),  # mapped to bob@corp.com -> bob
        ("o", "r", None, None, "carol.old@corp.com", "C", D),  # mapped to carol's noreply -> carol
        ("o", "r", None, None, "dan@laptop.local", "Daniel", D),  # name-keyed entry
        ("o", "r", None, None, "dan@laptop.local", "Someone Else", D),  # name differs: unmapped
        ("o", "r", None, None, "", "Eve", D),
    ]
    out = prepared(spark, rows, entries).select("identity", "merged_identity")
    got = [(r["identity"], r["merged_identity"]) for r in out.collect()]
    assert sorted(got, key=str) == sorted(
        [
            ("bob", "bob"),
            ("bob@home.net", "bob"),
            ("carol.old@corp.com", "carol"),
            ("dan@laptop.local", "dan@corp.com"),
            ("dan@laptop.local", "dan@laptop.local"),
            ("Eve", "Eve"),
        ],
        key=str,
    )


def test_relinked_repos_are_those_whose_unlinked_commits_follow_a_moved_link(spark: Any) -> None:
    """A daily run recomputes a repository with no new commit when a new commit elsewhere links
    an email it holds (directly, or as a map's proper email); an unmoved link moves nothing."""
    entries = [MapEntry("solo@home.net", None, "solo@corp.com", None)]
    before = commits(
        spark,
        [
            ("o", "quiet", None, None, "Solo@Corp.com", "Solo", D),  # its identity is the email
            ("o", "mapped", None, None, "solo@home.net", "Solo", D),  # mapped to solo@corp.com
            ("o", "linked", "solo", "User", "solo@corp.com", "Solo", D),  # linked already
            ("o", "other", None, None, "else@corp.com", "Else", D),
        ],
    )
    landed = commits(spark, [("o", "busy", "Eve", "User", "eve@corp.com", "Eve", D)])
    assert identities.relinked_repos(before, before.unionByName(landed), {"eve@corp.com"}, entries) == set()
    # A smaller login for solo@corp.com: the link moves from `solo` to `a-solo`.
    landed = commits(spark, [("o", "busy", "A-Solo", "User", "solo@corp.com", "Solo", D)])
    after = before.unionByName(landed)
    assert identities.relinked_repos(before, after, {"solo@corp.com"}, entries) == {"quiet", "mapped"}
    assert identities.relinked_repos(before, after, set(), entries) == set()


def test_kind_columns_beside_the_series(spark: Any) -> None:
    rows = [
        ("o", "r", "alice", "User", "alice@corp.com", "A", ts("2023-12-20 00:00:00")),  # before creation
        ("o", "r", None, None, "alice@home.net", "A", ts("2024-02-03 00:00:00")),
        ("o", "r", "renovate[bot]", "Bot", "r@x.io", "R", ts("2024-02-04 00:00:00")),
        ("o", "r", "bob", "User", "bob@corp.com", "B", ts("2024-05-01 00:00:00")),  # after run month
    ]
    entries = [MapEntry("alice@home.net", None, "alice@corp.com", None)]
    df = prepared(spark, rows, entries)
    repos = spark.createDataFrame(
        [("o", "r", ts("2024-01-10 00:00:00"))], "org string, repo string, created_at timestamp"
    )
    series = spark.createDataFrame(
        [("o", "r", m, 0, 0) for m in ("2024-01", "2024-02", "2024-03")],
        "org string, repo string, month string, new_contributors long, total_contributors long",
    )
    out = identities.kind_columns(df, repos, series, date(2024, 3, 15)).orderBy("month")
    got = [(r["month"], r["new_humans"], r["new_bots"], r["new_humans_merged"]) for r in out.collect()]
    assert got == [("2024-01", 1, 0, 1), ("2024-02", 1, 1, 0), ("2024-03", 1, 0, 1)]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Good <a@b.c> <d@e.f>\nno brackets here\n", 2),
        ("<a@b.c> <d@e.f> <g@h.i>\n", 1),
        ("\n\nName <unclosed@x\n", 3),
        ("<> <d@e.f>\n", 1),
    ],
)
def test_identity_map_error_names_file_and_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as err:
        parse_identity_map(text, "s3a://lake/config/mailmap")
    message = str(err.value)
    assert message.startswith("GITHUB_IDENTITY_MAP: s3a://lake/config/mailmap line ")
    assert f" line {line}:" in message and "\n" not in message


def test_identity_map_forms_and_comments() -> None:
    entries = parse_identity_map(
        "Only Rename <x@y.z>\n<p@q.r> <C@D.E> # trailing comment\nP Name <p@q.r> C Name <c@d.e>\n", "m"
    )
    assert entries == [MapEntry("c@d.e", None, "p@q.r", None), MapEntry("c@d.e", "c name", "p@q.r", "P Name")]


def test_bot_logins_setting() -> None:
    assert "facebook-github-bot" in load_settings().github_bot_logins_set
    assert load_settings(github_bot_logins=" Foo-Bot ,bar").github_bot_logins_set == {"foo-bot", "bar"}
    assert load_settings(github_bot_logins="").github_bot_logins_set == frozenset()
    for bad in ("a,,b", "a,", ",", " , x"):
        with pytest.raises(ConfigError) as err:
            load_settings(github_bot_logins=bad)
        assert str(err.value).startswith("GITHUB_BOT_LOGINS: entry ")
