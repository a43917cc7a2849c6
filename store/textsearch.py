"""Provides the text segmentation that lets SQLite FTS5 find Chinese words.

FTS5's ``unicode61`` tokenizer keeps a run of Chinese characters as one token, so "火灾" is not
found inside "3号楼发生火灾"; the ``trigram`` tokenizer misses two-character words. dutydesk
indexes *segmented* text instead: every run of CJK characters is written as its overlapping
bigrams plus its last character ("发生火灾" -> "发生 生火 火灾 灾"), other text is kept as it is.
A query is segmented the same way and searched as a phrase, so any Chinese word of two or more
characters matches exactly where it occurs, a single character matches through a prefix query,
and English words behave as in any FTS5 index. No dictionary is needed, and the index stays in
step with the data through triggers that call :func:`segment` (registered on every connection
as the SQL function ``dd_seg``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

# CJK Unified Ideographs (+ Extension A), compatibility ideographs, kana and hangul syllables.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"


# Compiled on first use: the two character classes take ~5 ms to compile, which the console's
# first frame (it imports this module and searches nothing) need not pay.
@cache
def _cjk_run() -> re.Pattern[str]:
    return re.compile(f"[{_CJK}]+")


@cache
def _term() -> re.Pattern[str]:
    return re.compile(f"[{_CJK}]+|[^\\s{_CJK}\"'()*:^+\\-,.;!?，。；：！？、（）【】《》“”‘’]+")


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return run
    return " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " " + run[-1]


def segment(text: str | None) -> str:
    """Return ``text`` with every CJK run replaced by its bigrams and last character."""
    if not text:
        return ""
    return _cjk_run().sub(lambda m: f" {_bigrams(m.group())} ", text)


def fts_query(text: str, also: Callable[[str], str | None] | None = None) -> str | None:
    """Turn what a person typed into an FTS5 MATCH expression, or ``None`` if nothing is left.

    Every term must match (AND). Chinese terms become phrases of their bigrams; a single Chinese
    character becomes a prefix query; other terms are quoted so FTS5 syntax in user input
    (``AND``, ``-``, ``:``...) is taken literally.

    Args:
        also: given a term as typed, another FTS5 expression that may match in its place
            (``OR``), or ``None``: how the owner of the indexed table adds words of its own
            vocabulary (a category's name finding the category's code).
    """
    parts: list[str] = []
    for term in _term().findall(text):
        if _cjk_run().fullmatch(term):
            if len(term) == 1:
                part = f'"{term}"*'
            else:
                grams = " ".join(term[i : i + 2] for i in range(len(term) - 1))
                part = f'"{grams}"'
        else:
            part = quote(term)
        extra = also(term) if also is not None else None
        parts.append(f"({part} OR {extra})" if extra else part)
    return " AND ".join(parts) if parts else None


def quote(word: str) -> str:
    """``word`` as an FTS5 string, to be matched as it is written."""
    return '"' + word.replace('"', '""') + '"'
