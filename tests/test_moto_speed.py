"""moto's shortcuts (grader.harness.moto_speed) keep what moto would say: the same shapes, drawn
from the same seeded generator, so a run stays deterministic."""
from __future__ import annotations

import string

from moto.moto_api._internal import mock_random

from grader.harness.moto_speed import RECEIPT_LENGTH, fast_receipt_handle


def test_a_receipt_handle_is_what_moto_makes_and_follows_the_seed():
    mock_random.seed("course/test")
    first = [fast_receipt_handle() for _ in range(50)]
    mock_random.seed("course/test")
    again = [fast_receipt_handle() for _ in range(50)]
    assert first == again
    assert len(set(first)) == 50
    assert all(len(h) == RECEIPT_LENGTH == 185 and set(h) <= set(string.ascii_lowercase) for h in first)
    assert set("".join(first)) == set(string.ascii_lowercase)  # every letter is drawn
