"""The one text check: control characters, line breaks and over-long values are refused."""

from __future__ import annotations

import pytest

from store.errors import InvalidInput
from store.text import LIMITS, clean_text


@pytest.mark.parametrize(
    "value",
    [
        "fire\x1b[2J",  # clears the screen
        "\x1b]0;pwned\x07title",  # retitles the terminal
        "nul\x00byte",
        "c1\x9bcontrol",
        "bidi\u202eevil",  # Trojan Source: reverses what follows
        "del\x7f",
    ],
)
def test_control_characters_are_refused_and_named(value: str) -> None:
    with pytest.raises(InvalidInput, match=r"title: contains a control character \(U\+"):
        clean_text(value, "title", kind="title")


def test_line_breaks_only_where_the_field_is_multi_line() -> None:
    with pytest.raises(InvalidInput, match="must be one line"):
        clean_text("two\nlines", "title", kind="title")
    assert clean_text("  two\nlines\twith a tab  ", "note", kind="note", multiline=True) == (
        "two\nlines\twith a tab"
    )


def test_each_field_has_a_limit() -> None:
    assert clean_text("x" * LIMITS["title"], "title", kind="title") == "x" * LIMITS["title"]
    with pytest.raises(InvalidInput, match="100001 characters long; at most 200"):
        clean_text("x" * 100_001, "title", kind="title")


def test_chinese_text_and_emoji_pass_unchanged() -> None:
    assert (
        clean_text(" 幸福社区 3 号楼 起火 🔥 ", "title", kind="title") == "幸福社区 3 号楼 起火 🔥"
    )


def test_required_fields_must_not_be_empty() -> None:
    with pytest.raises(InvalidInput, match="must not be empty"):
        clean_text("   ", "name", kind="name", required=True)
    assert clean_text("", "name", kind="name") == ""
