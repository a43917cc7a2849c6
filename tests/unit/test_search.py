"""Full-text search over cases and notes, with Chinese words found inside unsegmented text."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from incidents import workflow as wf
from incidents.limits import Policy
from incidents.models import Incident, Stage
from incidents.records import (
    ListFilter,
    NewIncident,
    create_incident,
    find_case,
    list_incidents,
    resolve_number,
    search_incidents,
)
from store.clock import FixedClock
from store.db import apply_migrations, connect
from store.errors import InvalidInput, NotFound
from store.schema import MIGRATIONS
from store.textsearch import fts_query, segment
from tests.conftest import OPERATOR, MakeCase


@pytest.fixture
def cases(make_case: MakeCase) -> dict[str, Incident]:
    return {
        "fire": make_case(title="3号楼发生火灾", location="幸福小区"),
        "garbage": make_case(
            title="河道垃圾堆放", category="environment", type="garbage", description="气味难闻"
        ),
        "gas": make_case(
            title="Gas leak at Station Road", category="accident_disaster", type="gas_leak"
        ),
        "light": make_case(title="路灯不亮", category="facilities", type="streetlight"),
    }


def found(db: Database, text: str) -> list[int]:
    return [hit.incident.id for hit in search_incidents(db, text)]


def ids(*incidents: Incident) -> list[int]:
    return [i.id for i in incidents]


def test_segment_writes_bigrams_and_the_last_character() -> None:
    assert segment("发生火灾").split() == ["发生", "生火", "火灾", "灾"]
    assert segment("3号楼 fire").split() == ["3", "号楼", "楼", "fire"]
    assert segment("") == ""
    assert segment(None) == ""


def test_a_word_inside_unsegmented_text(db: Database, cases: dict[str, Incident]) -> None:
    assert found(db, "火灾") == ids(cases["fire"])


@pytest.mark.parametrize(
    ("word", "case"),
    [
        ("发生", "fire"),
        ("垃圾", "garbage"),
        ("河道", "garbage"),
        ("路灯", "light"),
        ("不亮", "light"),
    ],
)
def test_two_character_words(
    db: Database, cases: dict[str, Incident], word: str, case: str
) -> None:
    assert found(db, word) == ids(cases[case])


@pytest.mark.parametrize(
    ("char", "case"),
    [("火", "fire"), ("灾", "fire"), ("河", "garbage"), ("放", "garbage"), ("亮", "light")],
)
def test_a_single_character(db: Database, cases: dict[str, Incident], char: str, case: str) -> None:
    assert found(db, char) == ids(cases[case])


def test_a_single_character_found_only_where_it_occurs(
    db: Database, cases: dict[str, Incident]
) -> None:
    assert found(db, "气") == ids(cases["garbage"])
    assert found(db, "鬼") == []


@pytest.mark.parametrize(
    ("phrase", "case"),
    [
        ("发生火灾", "fire"),
        ("3号楼发生火灾", "fire"),
        ("河道垃圾堆放", "garbage"),
        ("幸福小区", "fire"),
    ],
)
def test_longer_phrases(db: Database, cases: dict[str, Incident], phrase: str, case: str) -> None:
    assert found(db, phrase) == ids(cases[case])


@pytest.mark.parametrize("phrase", ["火灾发生", "楼火", "垃圾河道", "发生垃圾"])
def test_phrases_match_only_where_they_occur(
    db: Database, cases: dict[str, Incident], phrase
) -> None:
    assert found(db, phrase) == []


@pytest.mark.parametrize("text", ["gas", "GAS", "Leak", "station road", "ROAD gas"])
def test_english_words_ignore_case(db: Database, cases: dict[str, Incident], text: str) -> None:
    assert found(db, text) == ids(cases["gas"])


def test_every_term_must_match(db: Database, cases: dict[str, Incident]) -> None:
    assert found(db, "火灾 幸福") == ids(cases["fire"])
    assert found(db, "火灾 垃圾") == []


def test_description_and_location_are_searched(db: Database, cases: dict[str, Incident]) -> None:
    assert found(db, "难闻") == ids(cases["garbage"])
    assert found(db, "小区") == ids(cases["fire"])


def test_notes_are_searchable(db: Database, clock: FixedClock, cases: dict[str, Incident]) -> None:
    assert found(db, "液化气") == []
    wf.add_note(db, clock, OPERATOR, cases["light"].id, "现场发现液化气罐")
    wf.add_note(db, clock, OPERATOR, cases["light"].id, "已通知供电所")
    assert found(db, "液化气") == ids(cases["light"])
    assert found(db, "供电所") == ids(cases["light"])
    assert found(db, "路灯") == ids(cases["light"])


def test_title_matches_rank_first(db: Database, clock: FixedClock, make_case: MakeCase) -> None:
    in_note = make_case(title="巡查记录一", category="environment")
    wf.add_note(db, clock, OPERATOR, in_note.id, "仓库火灾")
    in_description = make_case(title="巡查记录二", category="environment", description="仓库火灾")
    in_title = make_case(title="仓库火灾", category="environment")
    hits = search_incidents(db, "火灾")
    assert [h.incident.id for h in hits] == ids(in_title, in_description, in_note)
    assert hits[0].rank < hits[1].rank < hits[2].rank


def test_search_follows_a_title_edit(
    db: Database, clock: FixedClock, policy: Policy, cases: dict[str, Incident]
) -> None:
    wf.edit(db, clock, policy, OPERATOR, cases["garbage"].id, title="河道漂浮物", location="东湖")
    assert found(db, "道垃") == []  # only in the old title ("垃圾" is its type's name, 垃圾堆放)
    assert found(db, "漂浮物") == ids(cases["garbage"])
    assert found(db, "东湖") == ids(cases["garbage"])
    assert found(db, "难闻") == ids(cases["garbage"])


def test_search_after_stage_changes_and_notes(
    db: Database, clock: FixedClock, policy: Policy, cases: dict[str, Incident]
) -> None:
    wf.register(db, clock, policy, OPERATOR, cases["fire"].id)
    wf.add_note(db, clock, OPERATOR, cases["fire"].id, "消防车已到场")
    wf.edit(db, clock, policy, OPERATOR, cases["fire"].id, description="烟雾很大")
    assert found(db, "消防车") == ids(cases["fire"])
    assert found(db, "烟雾") == ids(cases["fire"])
    assert found(db, "火灾") == ids(cases["fire"])


def test_search_finds_finished_cases(
    db: Database, clock: FixedClock, policy: Policy, make_case: MakeCase
) -> None:
    closed = make_case(Stage.CLOSED, title="井盖缺失", category="facilities", type="manhole")
    assert found(db, "井盖") == ids(closed)


def test_the_list_filter_uses_the_same_search(
    db: Database, clock: FixedClock, cases: dict[str, Incident]
) -> None:
    page = list_incidents(db, clock.now(), ListFilter(text="火灾"))
    assert [i.id for i in page.items] == ids(cases["fire"])


@pytest.mark.parametrize(
    "text",
    [
        '"火灾',
        '火灾"',
        "火灾*",
        "-火灾",
        "火灾 AND",
        "AND 火灾",
        "火灾 OR NOT",
        "NEAR(火灾 幸福)",
        "title:火灾",
        "{火灾}",
        "火灾^",
        "(火灾)",
        "'火灾'",
        "火灾;--",
    ],
)
def test_fts_syntax_in_user_input_is_taken_literally(
    db: Database, clock: FixedClock, cases: dict[str, Incident], text: str
) -> None:
    hits = search_incidents(db, text)
    assert all(h.incident.id == cases["fire"].id for h in hits)
    listed = list_incidents(db, clock.now(), ListFilter(text=text)).items
    assert [i.id for i in listed] == [h.incident.id for h in hits]


@pytest.mark.parametrize("text", ['"火灾', "火灾*", "-火灾", "(火灾)", "'火灾'", "火灾;--"])
def test_punctuation_around_a_word_still_finds_it(
    db: Database, cases: dict[str, Incident], text: str
) -> None:
    assert found(db, text) == ids(cases["fire"])


@pytest.mark.parametrize("text", ["AND", "OR", "NOT", "NEAR", "gas AND", "gas OR 火灾"])
def test_operator_words_are_searched_as_words(
    db: Database, cases: dict[str, Incident], text: str
) -> None:
    # "AND" etc. do not occur in any case: a literal search finds nothing, and does not fail.
    assert found(db, text) == []


def test_a_minus_sign_does_not_exclude(db: Database, cases: dict[str, Incident]) -> None:
    assert found(db, "gas -leak") == ids(cases["gas"])


@pytest.mark.parametrize("text", ["", "   ", '"', "*", "-", "()", "''", "：，。"])
def test_input_with_nothing_searchable(
    db: Database, clock: FixedClock, cases: dict[str, Incident], text: str
) -> None:
    assert fts_query(text) is None
    with pytest.raises(InvalidInput) as refused:
        search_incidents(db, text)
    assert refused.value.field == "text"
    assert not isinstance(refused.value, sqlite3.Error)
    if text:
        with pytest.raises(InvalidInput):
            list_incidents(db, clock.now(), ListFilter(text=text))
    else:  # an empty search box means no text filter
        assert len(list_incidents(db, clock.now(), ListFilter(text=text)).items) == len(cases)


def test_ranking_is_limited_to_the_most_recent_matches(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    """Only the ``window`` newest matching cases are ranked; the best of them comes first."""
    ids = []
    for title in ("燃气泄漏 燃气 燃气", "燃气表故障", "楼道燃气味", "燃气管道检查"):
        # Type "other": a kind named 燃气泄漏 would match all four alike, and even out the ranks.
        new = NewIncident(title=title, category="accident_disaster", type="other")
        ids.append(create_incident(db, clock, policy, "t", new).id)
    everything = [h.incident.id for h in search_incidents(db, "燃气")]
    assert everything[0] == ids[0] and sorted(everything) == sorted(ids)
    recent = [h.incident.id for h in search_incidents(db, "燃气", window=2)]
    assert sorted(recent) == sorted(ids[2:])


def test_a_category_or_type_name_finds_the_cases_of_that_kind(
    db: Database, make_case: MakeCase
) -> None:
    """A fire reported as 冒烟 is found by 火灾 (its type) and 事故灾难 (its category), in
    Chinese and in English, and a code works too; other kinds are not."""
    smoke = make_case(title="5栋楼道冒烟", category="accident_disaster", type="fire")
    leak = make_case(title="闻到异味", category="accident_disaster", type="gas_leak")
    noise = make_case(title="夜间施工", category="environment", type="noise")
    assert found(db, "火灾") == ids(smoke)
    assert found(db, "fire") == ids(smoke)
    assert found(db, "Fire") == ids(smoke)
    assert sorted(found(db, "事故灾难")) == ids(smoke, leak)
    assert sorted(found(db, "accident")) == ids(smoke, leak)
    assert found(db, "燃气泄漏") == ids(leak)
    assert found(db, "gas leak") == ids(leak)
    assert found(db, "gas_leak") == ids(leak)
    assert found(db, "噪声") == ids(noise)
    assert found(db, "noise") == ids(noise)
    # Words of a name and of the text combine: every word must match somewhere.
    assert found(db, "火灾 楼道") == ids(smoke)
    assert found(db, "火灾 异味") == []
    # The words that join an English name are not a kind.
    assert found(db, "and") == [] and found(db, "or") == []


def test_an_upgraded_database_indexes_the_kinds_of_its_cases(
    tmp_path: Path, clock: FixedClock, policy: Policy
) -> None:
    """Cases logged before the kind was indexed are found by it after the upgrade, and their
    notes are still found."""
    db = connect(tmp_path / "old.db", migrate=False)
    apply_migrations(db, upto=len(MIGRATIONS) - 1)
    new = NewIncident(title="5栋楼道冒烟", category="accident_disaster", type="fire")
    case = create_incident(db, clock, policy, OPERATOR, new)
    wf.add_note(db, clock, OPERATOR, case.id, "已疏散住户")
    assert apply_migrations(db) == len(MIGRATIONS)
    assert found(db, "火灾") == [case.id]
    assert found(db, "疏散") == [case.id]
    db.close()


def test_a_number_s_tail_names_the_newest_year_s_case(
    db: Database, clock: FixedClock, policy: Policy
) -> None:
    def log(title: str) -> Incident:
        return create_incident(
            db, clock, policy, OPERATOR, NewIncident(title=title, category="dispute")
        )

    clock.set(datetime(2025, 12, 30, 4, 0, tzinfo=UTC))
    old_one, old_two = log("去年一"), log("去年二")
    clock.set(datetime(2026, 1, 5, 4, 0, tzinfo=UTC))
    new_one = log("今年一")
    assert (old_two.number, new_one.number) == ("2025-000002", "2026-000001")
    assert resolve_number(db, "1") == new_one.id
    assert resolve_number(db, "000001") == new_one.id
    assert resolve_number(db, " 2 ") == old_two.id  # none this year: the year before's
    assert resolve_number(db, "2025-000001") == old_one.id
    for text in ("0", "1234567", "一", "2a", ""):
        with pytest.raises(InvalidInput):
            resolve_number(db, text)
    with pytest.raises(NotFound):
        resolve_number(db, "244")
    # find_case (the CLI's `incident show`) falls back to the id.
    assert find_case(db, "3") == new_one.id
    assert find_case(db, "1") == new_one.id
