"""Likely duplicates of a call being logged, adding a call to a case, and merging with callers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidents import workflow as wf
from incidents.duplicates import Call, add_call, find_duplicates, score, similarity, words
from incidents.models import Stage
from incidents.records import get_incident, timeline
from store.errors import InvalidInput, InvalidTransition
from tests.support.domain import OPERATOR


def test_words_are_the_search_index_pairs():
    assert words("3号楼着火") == {"3", "号楼", "楼着", "着火"}
    assert words("火") == {"火"}  # a lone character only when there is nothing else
    assert words("Fire at Gate 3") == {"fire", "at", "gate", "3"}
    assert similarity(words("3号楼着火"), words("3号楼着火")) == 1.0
    assert similarity(words("3号楼着火"), words("路灯不亮")) == 0.0


def test_the_same_fire_in_the_same_grid_is_found(db, clock, make_case):
    fire = make_case(title="3号楼着火了", grid="G01", location="幸福小区3号楼")
    make_case(title="3号楼着火了", grid="G02")  # another grid: not the same fire
    make_case(title="路灯不亮", category="facilities", type="streetlight", grid="G01")
    [dup] = find_duplicates(db, clock.now(), Call(title="3号楼冒烟着火", grid="G01"))
    assert dup.incident.id == fire.id
    assert dup.reasons[:2] == ("same_grid", "similar_words")
    assert dup.to_json()["number"] == fire.number


def test_place_without_grid_and_the_type_name_count(db, clock, make_case):
    fire = make_case(title="冒烟", location="幸福小区3号楼")  # type fire
    call = Call(title="火灾", location="幸福小区3号楼", type="fire")
    [dup] = find_duplicates(db, clock.now(), call)
    assert dup.incident.id == fire.id
    assert set(dup.reasons) == {"same_place", "similar_words", "same_type"}
    assert not find_duplicates(db, clock.now(), Call(title="火灾", location="和平路8号"))


def test_a_title_alone_needs_closer_words(db, clock, make_case):
    make_case(title="3号楼发生火灾", grid="G01")
    assert find_duplicates(db, clock.now(), Call(title="3号楼发生火灾"))
    assert not find_duplicates(db, clock.now(), Call(title="3号楼漏水"))
    assert not find_duplicates(db, clock.now(), Call(title=""))


def test_only_open_cases_of_the_window(db, clock, policy, make_case):
    old = make_case(title="3号楼着火", grid="G01")
    clock.advance(hours=6, minutes=1)
    assert not find_duplicates(db, clock.now(), Call(title="3号楼着火", grid="G01"))
    assert find_duplicates(
        db, clock.now(), Call(title="3号楼着火", grid="G01"), window=timedelta(hours=7)
    )
    recent = make_case(title="3号楼着火", grid="G01")
    wf.register(db, clock, policy, OPERATOR, recent.id)
    wf.void(db, clock, policy, OPERATOR, recent.id, "false alarm")
    assert not find_duplicates(db, clock.now(), Call(title="3号楼着火", grid="G01"))
    assert old.id


def test_score_rules_out_a_different_grid_whatever_the_words(make_case):
    case = make_case(title="3号楼着火", grid="G01")
    assert score(Call(title="3号楼着火", grid="G02"), case) is None
    assert score(Call(title="3号楼着火", grid="g01"), case) is not None


def test_add_call_is_a_note_naming_the_caller_masked(db, clock, make_case):
    case = make_case(title="3号楼着火", grid="G01")
    entry = add_call(
        db,
        clock,
        OPERATOR,
        case.number,
        "3号楼冒烟",
        caller_name="张三",
        caller_phone="+8613800138000",
    )
    note = timeline(db, case.id)[-1]
    assert note.id == entry and note.kind == "note"
    assert note.data == {"text": "3号楼冒烟", "caller": {"name": "张三", "phone": "138****8000"}}
    with pytest.raises(InvalidInput) as bad:
        add_call(db, clock, OPERATOR, case.id, "x", caller_phone="12ab")
    assert bad.value.field == "reporter_phone"
    with pytest.raises(InvalidInput):
        add_call(db, clock, OPERATOR, case.id, "  ")


def test_no_call_is_added_to_a_finished_case(db, clock, policy, make_case):
    case = make_case(Stage.REGISTERED)
    wf.void(db, clock, policy, OPERATOR, case.id, "false alarm")
    with pytest.raises(InvalidTransition, match="log the call as a new case"):
        add_call(db, clock, OPERATOR, case.id, "again")


def test_merge_refers_to_the_duplicates_notes_and_callers(db, clock, policy, make_case):
    original = make_case(title="3号楼着火", grid="G01")
    dup = make_case(
        title="3号楼冒烟", grid="G01", reporter_name="李四", reporter_phone="13900139000"
    )
    note = add_call(db, clock, OPERATOR, dup.id, "又一个电话", caller_name="王五")
    wf.merge(db, clock, policy, OPERATOR, dup.id, original.id)
    merged = get_incident(db, dup.id)
    assert merged.stage is Stage.MERGED and merged.merged_into == original.id
    entry = timeline(db, original.id)[-1]
    assert entry.kind == "merged_in"
    assert entry.data["notes"] == [note]
    assert entry.data["callers"] == [
        {"name": "李四", "phone": "139****9000"},
        {"name": "王五", "phone": None},
    ]
    assert [e.kind for e in timeline(db, dup.id)][-1] == "merge"  # its history stays
