"""Per-subject random streams: the vectorized seeding reproduces numpy's SeedSequence + PCG64 bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketasim.streams import ONE_WORD, draw, pcg64_states, subject_rng

keys = st.integers(min_value=0, max_value=2**70)


@settings(max_examples=60, deadline=None)
@given(seed=keys, group=st.integers(0, 2**33), stream=st.integers(0, 5), period=st.integers(0, 2**40),
       indices=st.lists(st.integers(0, ONE_WORD - 1), min_size=1, max_size=6))
def test_states_equal_numpys(seed: int, group: int, stream: int, period: int, indices: list[int]) -> None:
    ours = pcg64_states(seed, group, np.asarray(indices), stream, period)
    for (state, inc), i in zip(ours, indices, strict=True):
        theirs = np.random.PCG64(np.random.SeedSequence([seed, group, i, stream, period])).state["state"]
        assert (state, inc) == (theirs["state"], theirs["inc"])


@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_draws_equal_one_generator_per_subject(kind: str) -> None:
    idx = np.array([0, 1, 7, 12345, ONE_WORD - 1, ONE_WORD, 2**40])  # the last two take numpy's own path
    out = draw(3, 1, idx, 2, 5, kind=kind, period=4)
    for j, i in enumerate(idx):
        rng = subject_rng(3, 1, int(i), 2, 4)
        expected = rng.standard_normal(5) if kind == "normal" else rng.random(5)
        np.testing.assert_array_equal(out[:, j], expected)


def test_a_subjects_draws_do_not_depend_on_the_others() -> None:
    a = draw(11, 0, np.arange(100), 1, 4)
    b = draw(11, 0, np.arange(40, 60), 1, 4)
    np.testing.assert_array_equal(a[:, 40:60], b)
    assert np.unique(a[0]).size == 100


def test_negative_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        pcg64_states(-1, 0, np.arange(3), 0)
