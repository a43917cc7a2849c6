"""The translations: every marked string has Chinese, the catalog is compiled, the choice of
language follows --lang > configuration > locale, and nothing Chinese hides outside the catalog."""

from __future__ import annotations

import gettext
import os
import subprocess
import sys
from pathlib import Path

import pytest

from store import i18n
from store.i18n import CHINESE, ENGLISH, _, choose, normalize, set_language
from store.i18n_catalog import MO_PATH, PO_PATH, ROOT, check, cjk_literals, fields, read_catalog

# Where Chinese in the code is data, not interface: official terms accepted as input, the
# demo township, the replies people send, the texts sent to people (both languages in one
# SMS: the recipient's language is not known), the ack page (its own language per request).
CHINESE_DATA = (
    "incidents/models.py",
    "console/demo.py",
    "mobilization/acks.py",
    "mobilization/delivery.py:notify_text",
    "mobilization/delivery.py:followup_text",
    "mobilization/delivery.py:notice_text",
    "console/http/acks.py",
    "console/cli/i18n.py:",  # the punctuation a line must not start with (typography)
    "store/textsearch.py",
    # Official names accepted as input (网格长, 乡镇/街道, 救援队), and the Chinese sheet names,
    # column headers and separators an import file may use. "path:" is the module's top level.
    "contacts/models.py:",
    "jurisdiction/models.py:",
    "contacts/teams.py:",
    "contacts/importer.py:",
    "mobilization/channels.py:",  # e-mail subjects sent to people, both languages
    "reports/aar.py",  # the AAR/IP: fixed bilingual headings and words, Chinese first (printed)
    # Drill messages sent to people and calendar texts, both languages in one text.
    "drills/notices.py:reminder_text",
    "drills/runs.py:inject_text",
    "drills/runs.py:stop_text",
    "drills/improvements.py:overdue_text",
    "drills/ical.py",
    "drills/models.py:",  # the official Chinese names of the drill kinds, accepted as input
    "mobilization/templates.py:",  # the built-in Chinese call-out templates, sent to people
    "incidents/citizen.py:",  # the Chinese sentence marks where a citizen's SMS title ends
    # Information reports: the official names (初报/续报/终报), the report's element labels and
    # Chinese numerals of follow-ups, printed in the documents whatever the language.
    "uplink/reporting.py",
    "uplink/sitrep_render.py",  # the report's Chinese wording and template placeholders (printed)
    "reports/sitrep.py:",  # the full-width colon after an information report's labels
    "uplink/templates/build_sitrep.py",  # the default template's fonts, styles, placeholders
    # A drafted report's text, in Chinese as it goes up (the case's words, the measures taken).
    "uplink/sitreps.py:_local",
    "uplink/sitreps.py:_measures",
    "uplink/sitreps.py:_nature",
    "uplink/sitreps.py:_fresh_fields",
    "uplink/callanswer.py:call_message",  # the 叫应 SMS frame 【橙色暴雨预警】, sent to people
    "uplink/field.py:field_message",  # the dispatch's SMS 【派遣】…请于…前点链接签收处置, to people
    "uplink/field.py:plan",  # the labels of a dispatch's tree nodes (网格长, 网格员, 队长, 值班员)
    "uplink/callanswer_rules.py:event_key",  # a trailing 预警 names the same event
    # The four warning colours (红色/橙色/黄色/蓝色) and the words accepted with them (预警, 色).
    "uplink/cap.py:",
    "uplink/cap.py:Colour",
    "uplink/cap.py:Alert",
    "console/cli/alert.py:",  # 预警, after the colour and the event: 橙色暴雨预警
)


def test_every_marked_string_has_a_chinese_translation() -> None:
    problems = check()
    assert problems == [], "\n".join(problems[:50]) + f"\n({len(problems)} in all)"


def test_no_chinese_text_outside_the_catalog() -> None:
    found = cjk_literals(allowed=CHINESE_DATA)
    assert found == [], "\n".join(found[:50]) + f"\n({len(found)} in all)"


def test_the_compiled_catalog_is_the_po_file() -> None:
    with MO_PATH.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    catalog = read_catalog(PO_PATH)
    for message in catalog:
        if not message.id or message.fuzzy or not message.string:
            continue
        if isinstance(message.id, tuple):
            assert compiled.ngettext(message.id[0], message.id[1], 1) == message.string[0]
        else:
            assert compiled.gettext(message.id) == message.string, message.id


def test_check_finds_a_missing_translation_and_a_broken_field(tmp_path: Path) -> None:
    pkg = tmp_path / "console"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        'from store.i18n import _\nA = _("no such string here")\nB = _(f"x{1}")\n'
        'C = _("{count} cases").format(count=2)\n',
        encoding="utf-8",
    )
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "{count} cases"\nmsgstr "{n} 件"\n',
        encoding="utf-8",
    )
    problems = check(tmp_path, po)
    text = "\n".join(problems)
    assert "console/m.py:2: no translation for 'no such string here'" in text
    assert "console/m.py:3: _() of an f-string" in text
    assert "has fields ['n'], the original ['count']" in text


def test_fields_ignores_escaped_braces() -> None:
    assert fields("{name} has {{x}} and {count:,}") == {"name", "count"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zh_CN.UTF-8", CHINESE),
        ("zh-cn", CHINESE),
        ("zh", CHINESE),
        ("zh_Hans", CHINESE),
        ("en_US.UTF-8", ENGLISH),
        ("C", ENGLISH),
        ("C.UTF-8", ENGLISH),
        ("fr_FR", None),
        ("", None),
    ],
)
def test_normalize(value: str, expected: str | None) -> None:
    assert normalize(value) == expected


def test_the_flag_beats_the_configuration_which_beats_the_locale() -> None:
    env = {"LANG": "zh_CN.UTF-8"}
    assert choose(None, None, env) == CHINESE
    assert choose(None, "en", env) == ENGLISH
    assert choose("zh_CN", "en", env) == CHINESE
    assert choose(None, None, {}) == ENGLISH
    # gettext's order: LANGUAGE, LC_ALL, LC_MESSAGES, LANG; the first one set decides.
    assert choose(None, None, {"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}) == ENGLISH
    assert choose(None, None, {"LANGUAGE": "fr:zh_CN", "LANG": "en_US"}) == CHINESE
    assert choose(None, None, {"LANG": "fr_FR.UTF-8"}) == ENGLISH


def test_set_language_switches_and_rejects_unknown_ones() -> None:
    set_language("zh_CN")
    assert _("reported") == "上报"
    set_language("en")
    assert _("reported") == "reported"
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        set_language("fr")
    assert i18n.language() == ENGLISH


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in i18n.LOCALE_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", "from console.cli import main; main()", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_locale_gives_chinese_help_and_lang_overrides_it() -> None:
    zh = _run(["--help"], LANG="zh_CN.UTF-8")
    assert zh.returncode == 0, zh.stderr
    assert "用法" in zh.stdout
    en = _run(["--lang", "en", "--help"], LANG="zh_CN.UTF-8")
    assert "Usage:" in en.stdout
    assert "用法" not in en.stdout
    forced = _run(["--lang", "zh_CN", "--help"], LANG="C.UTF-8")
    assert "用法" in forced.stdout


def test_the_configuration_chooses_the_language(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[ui]\nlanguage = "zh_CN"\n', encoding="utf-8")
    out = _run(["--config", str(config), "--help"], LANG="C.UTF-8")
    assert "用法" in out.stdout
    out = _run(["--config", str(config), "--lang", "en", "--help"], LANG="C.UTF-8")
    assert "Usage:" in out.stdout


def test_an_unknown_language_is_a_usage_error() -> None:
    out = _run(["--lang", "fr", "--help"])
    assert out.returncode == 2
    assert "unknown language 'fr'" in out.stderr


def test_errors_come_in_chinese_too(tmp_path: Path) -> None:
    out = _run(["--lang", "zh_CN", "--db", str(tmp_path / "x.db"), "incident", "show", "99"])
    assert out.returncode != 0
    assert "99" in out.stderr
    assert any("\u4e00" <= ch <= "\u9fff" for ch in out.stderr), out.stderr


def test_chinese_help_wraps_by_display_width() -> None:
    from rich.cells import cell_len

    from console.cli.i18n import wrap_cells

    text = (
        "先检查每一行；默认只要有一行有误就什么都不写入。"
        "按代码（单位、队伍）、编号或手机号匹配各行。"
    )
    lines = wrap_cells(text, 30)
    assert "".join(lines) == text  # nothing lost, no space added between Chinese characters
    # Closing punctuation may hang one character past the width, as in Chinese typesetting.
    assert all(cell_len(line) <= 30 or (cell_len(line[:-1]) <= 30) for line in lines)
    assert not any(line[0] in "，。；：）" for line in lines)  # punctuation never starts a line
    assert wrap_cells("use --db FILE 或 DUTYDESK_DB", 12) == ["use --db", "FILE 或", "DUTYDESK_DB"]


def test_chinese_help_fits_the_terminal_and_says_everything_in_chinese() -> None:
    from rich.cells import cell_len

    out = _run(["--lang", "zh_CN", "--help"], LANG="C.UTF-8", COLUMNS="80")
    lines = out.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80, out.stdout
    assert "显示本帮助并退出" in out.stdout and "Show this message" not in out.stdout
    imported = _run(["--lang", "zh_CN", "contacts", "import", "--help"], COLUMNS="80")
    assert max(cell_len(line) for line in imported.stdout.splitlines()) <= 80, imported.stdout
