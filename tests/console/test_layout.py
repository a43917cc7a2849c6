"""How the incidents table and the key bar give way on a narrow terminal (pure functions)."""

from __future__ import annotations

from console.tui.screens.incidents import TITLE_MIN, plan_columns
from console.tui.widgets.keybar import MIN_WORD, fit_keys

NATURAL = {"number": 11, "severity": 5, "stage": 21, "left": 13, "deadline": 11, "grid": 4}


def test_the_title_takes_what_the_other_columns_leave() -> None:
    wide = plan_columns(120, NATURAL)
    assert list(wide) == ["number", "severity", "stage", "left", "deadline", "grid", "title"]
    used = sum(w + 2 for w in wide.values())
    assert used == 120 - 2  # the scrollbar's two cells
    assert wide["title"] > TITLE_MIN


def test_deadline_then_grid_give_way_before_the_title_is_too_short() -> None:
    narrow = plan_columns(80, NATURAL)
    assert "deadline" not in narrow and "number" in narrow and "left" in narrow
    assert narrow["title"] >= TITLE_MIN
    assert sum(w + 2 for w in narrow.values()) <= 80 - 2
    tiny = plan_columns(60, NATURAL)
    assert list(tiny) == ["number", "severity", "stage", "left", "title"]
    assert tiny["title"] == TITLE_MIN  # the table scrolls rather than lose the case's number


KEYS = [
    ("⏎", "Open", True, True),
    ("a", "Advance", True, True),
    ("r", "Return", False, True),
    ("c", "Complete task", True, True),
    ("esc", "Back", True, True),
    ("q", "Quit", True, False),  # the app's, not the screen's
]


def length(words, items=KEYS) -> int:
    pad = 1 if words.spaced else 0
    keys = sum(
        1 + len(k) + (1 + len(d) if d else 0) + pad
        for (k, *_), d in zip(items, words.descriptions, strict=True)
        if d is not None
    )
    return keys + 1 + 2 + (2 + len(words.palette) if words.palette else 0)


def test_key_words_give_way_in_order() -> None:
    full = fit_keys(KEYS, ("^p", "palette"), 200)
    assert full.descriptions == [d for _k, d, _e, _o in KEYS] and full.palette == "palette"
    # First the app's keys leave...
    no_quit = fit_keys(KEYS, ("^p", "palette"), length(full) - 1)
    assert no_quit.descriptions[-1] is None and no_quit.descriptions[:-1] == full.descriptions[:-1]
    # ...then the spacing and the palette's word, then greyed keys lose their words, then long
    # words are cut with "…"; the screen's keys all stay.
    tight = fit_keys(KEYS, ("^p", "palette"), 40)
    assert tight.palette == "" and not tight.spaced
    assert tight.descriptions[2] == ""  # Return is greyed: the key alone
    assert tight.descriptions[3] is not None and tight.descriptions[3].endswith("…")
    assert len(tight.descriptions[3]) >= MIN_WORD
    assert all(d is not None for d in tight.descriptions[:5])
    assert length(tight) <= 40
    # Last, keys at the end leave.
    squeezed = fit_keys(KEYS, ("^p", "palette"), 20)
    assert squeezed.descriptions[0] == "Open" and squeezed.descriptions[4] is None
    assert length(squeezed) <= 20
