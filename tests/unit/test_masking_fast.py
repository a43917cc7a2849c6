"""The fast path of :func:`store.masking.mask_phone` masks a CN mobile as libphonenumber does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import store.masking as masking


@given(st.from_regex(r"\+861[3-9][0-9]{9}", fullmatch=True))
def test_the_fast_path_agrees_with_libphonenumber(number: str) -> None:
    slow = masking.mask_phone(number.replace("+86", "+86 ", 1))  # not E.164: the parsed path
    assert masking.mask_phone(number) == slow == number[3:6] + "****" + number[-4:]


def test_other_numbers_still_go_through_libphonenumber() -> None:
    assert masking.mask_phone("+12025550123") == "+1 202***0123"
    assert masking.mask_phone("+861012345678") == "101***5678"  # a Beijing landline
