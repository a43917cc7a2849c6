"""What ``incident list``, ``incident show`` and ``incident search`` print without ``--json``.

The tables and the card a duty officer reads, in English and with ``--lang zh_CN``: the columns,
a Chinese title lining up with the rest, the card's fields, the timeline, the tasks, and the
words for "no results". The wall clock stands still at Thursday 10:00 in Shanghai and is moved
by the test, so deadlines and the time left come out the same on every run. Lines are compared
without trailing spaces (a terminal shows none), columns in display cells (a Chinese character
takes two).
"""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from store.clock import FixedClock, SystemClock

LIST_EN = """\
number       sev   stage       title                       grid  deadline     left
2026-000001   II   registered  3号楼发生火灾               G01   11-26 11:15  -2h00m
2026-000002   IV   reported    Fallen tree on Xingfu Road        11-26 13:35  20m"""

LIST_ZH = """\
编号         级别  阶段  标题                        网格  时限         剩余
2026-000001   II   立案  3号楼发生火灾               G01   11-26 11:15  -2小时0分
2026-000002   IV   上报  Fallen tree on Xingfu Road        11-26 13:35  20分钟"""

HIT_EN = """\
number       sev   stage       title           grid  deadline     left
2026-000001   II   registered  3号楼发生火灾   G01   11-26 11:15  -2h00m"""

HIT_ZH = """\
编号         级别  阶段  标题            网格  时限         剩余
2026-000001   II   立案  3号楼发生火灾   G01   11-26 11:15  -2小时0分"""

CARD_EN = """\
case         2026-000001  (id 1)
title        3号楼发生火灾
stage        registered
severity      II  major (orange)
urgency      urgent
category     accident or disaster/fire
deadline     2026-11-26 11:15  -2h00m
location     幸福路1号
grid         G01
assignee     -
reporter     李四 138****8000
source       phone
tags         消防
reported at  2026-11-26 10:00
description  smoke on the fifth floor

timeline
 at                operator  what        details
 2026-11-26 10:00  王伟      reported    3号楼发生火灾 (accident or disaster/fire)
 2026-11-26 10:15  王伟      registered  已核实, deadline 2026-11-26 11:15
 2026-11-26 10:15  王伟      task added  疏散5楼住户, due 2026-11-26 11:15, owner 张三

tasks
 id  title        owner  due                       done
 1   疏散5楼住户  张三   2026-11-26 11:15 overdue

next steps: dispatch, void, merge, request extension (extend), park, edit"""  # noqa: E501 - a line as the terminal shows it

CARD_ZH = """\
事件      2026-000001（ID 1）
标题      3号楼发生火灾
阶段      立案
级别       II  重大（橙色）
紧急程度  紧急
类别      事故灾难/火灾
时限      2026-11-26 11:15  -2小时0分
地点      幸福路1号
网格      G01
责任人    -
报告人    李四 138****8000
来源      电话
标签      消防
上报时间  2026-11-26 10:00
描述      smoke on the fifth floor

办理记录
 时间              操作人  事项    详情
 2026-11-26 10:00  王伟    上报    3号楼发生火灾 (事故灾难/火灾)
 2026-11-26 10:15  王伟    立案    已核实, 时限 2026-11-26 11:15
 2026-11-26 10:15  王伟    新任务  疏散5楼住户, 2026-11-26 11:15 到期, 负责人 张三

任务
 编号  标题         负责人  期限                     完成
 1     疏散5楼住户  张三    2026-11-26 11:15 已超期

可执行的下一步：派遣（dispatch）, 作废（void）, 合并（merge）, 申请延期（extend）, 挂账（park）, 修改（edit）"""  # noqa: E501 - a line as the terminal shows it

BARE_CARD_EN = """\
case         2026-000002  (id 2)
title        Fallen tree on Xingfu Road
stage        reported
severity      IV  general (blue)
urgency      normal
category     municipal facilities/other
deadline     2026-11-26 13:35  20m
location     -
grid         -
assignee     -
reporter     -
source       phone
tags         -
reported at  2026-11-26 10:05

timeline
 at                operator  what      details
 2026-11-26 10:05  王伟      reported  Fallen tree on Xingfu Road (municipal facilities/other)

next steps: register, void, merge, request extension (extend), edit"""


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def column(line: str, text: str) -> int:
    """The display cell at which ``text`` starts in ``line``."""
    return cell_len(line[: line.index(text)])


@pytest.fixture
def office(run, clock: FixedClock, monkeypatch: pytest.MonkeyPatch):
    """Two cases on a stopped wall clock, seen three hours later (the fire is overdue).

    10:00 an urgent fire in G01 with every field filled; 10:05 a fallen tree with none;
    10:15 the fire registered, with a task due in an hour.
    """
    monkeypatch.setattr(SystemClock, "now", lambda self: clock.now())
    fire = run(
        "incident",
        "new",
        "--title",
        "3号楼发生火灾",
        "--category",
        "accident-disaster",
        "--type",
        "fire",
        "--severity",
        "II",
        "--urgency",
        "urgent",
        "--grid",
        "G01",
        "--description",
        "smoke on the fifth floor",
        "--location",
        "幸福路1号",
        "--reporter",
        "李四",
        "--phone",
        "13800138000",
        "--tag",
        "消防",
    )
    assert fire.code == 0, fire.err
    clock.advance(minutes=5)
    tree = run(
        "incident", "new", "--title", "Fallen tree on Xingfu Road", "--category", "facilities"
    )
    assert tree.code == 0, tree.err
    clock.advance(minutes=10)
    assert run("incident", "register", "2026-000001", "--note", "已核实").code == 0
    task = ("--title", "疏散5楼住户", "--owner", "张三", "--due", "+1h")
    assert run("incident", "task", "add", "2026-000001", *task).code == 0
    clock.advance(hours=3)
    return run


def test_list_prints_the_queue_with_a_chinese_title_lined_up(office) -> None:
    shown = office("incident", "list")
    assert shown.code == 0, shown.err
    assert lines(shown.out) == LIST_EN.splitlines()
    header, fire, tree = lines(shown.out)
    assert column(header, "grid") == column(fire, "G01")
    assert column(header, "deadline") == column(fire, "11-26 11:15") == column(tree, "11-26")
    assert column(header, "left") == column(fire, "-2h00m") == column(tree, "20m")


def test_list_in_chinese(office) -> None:
    shown = office("--lang", "zh_CN", "incident", "list")
    assert shown.code == 0, shown.err
    assert lines(shown.out) == LIST_ZH.splitlines()
    header, fire, tree = lines(shown.out)
    assert column(header, "标题") == column(fire, "3号楼") == column(tree, "Fallen")
    assert column(header, "网格") == column(fire, "G01")
    assert column(header, "剩余") == column(fire, "-2小时0分") == column(tree, "20分钟")


def test_list_names_the_next_page_and_says_when_nothing_matches(office) -> None:
    page = office("incident", "list", "--limit", "1")
    assert lines(page.out) == [*HIT_EN.splitlines(), "more: --after 2026-11-26T03:15:00Z/1"]
    none = office("incident", "list", "--stage", "closed")
    assert (none.code, none.out) == (0, "no cases match\n")


def test_list_next_page_and_nothing_in_chinese(office) -> None:
    page = office("--lang", "zh_CN", "incident", "list", "--limit", "1")
    assert lines(page.out) == [*HIT_ZH.splitlines(), "更多：--after 2026-11-26T03:15:00Z/1"]
    none = office("--lang", "zh_CN", "incident", "list", "--stage", "closed")
    assert (none.code, none.out) == (0, "没有符合条件的事件\n")


def test_search_prints_its_hits_as_the_list_does_or_says_nothing_was_found(office) -> None:
    hits = office("incident", "search", "火灾")
    assert hits.code == 0, hits.err
    assert lines(hits.out) == HIT_EN.splitlines()
    nothing = office("incident", "search", "地震")
    assert (nothing.code, nothing.out) == (0, "nothing found for '地震'\n")


def test_search_in_chinese(office) -> None:
    hits = office("--lang", "zh_CN", "incident", "search", "火灾")
    assert lines(hits.out) == HIT_ZH.splitlines()
    nothing = office("--lang", "zh_CN", "incident", "search", "地震")
    assert (nothing.code, nothing.out) == (0, "未找到与 '地震' 相关的结果\n")


def test_show_prints_the_card_the_timeline_the_tasks_and_the_next_steps(office) -> None:
    shown = office("incident", "show", "2026-000001")
    assert shown.code == 0, shown.err
    assert lines(shown.out) == CARD_EN.splitlines()


def test_show_in_chinese(office) -> None:
    shown = office("--lang", "zh_CN", "incident", "show", "2026-000001")
    assert shown.code == 0, shown.err
    assert lines(shown.out) == CARD_ZH.splitlines()
    card = lines(shown.out)
    # The values start in one column although the labels are two to four characters wide.
    assert column(card[0], "2026") == column(card[13], "2026") == column(card[14], "smoke")


def test_show_of_a_case_with_nothing_filled_in_prints_dashes(office) -> None:
    shown = office("incident", "show", "2026-000002")
    assert shown.code == 0, shown.err
    assert lines(shown.out) == BARE_CARD_EN.splitlines()
