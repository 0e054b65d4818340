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


def test_compiled_ziggurat_matches_numpy_in_its_rare_branches() -> None:
    """200,000 normals per subject: the tail beyond the last level (idx 0) and the wedges (rejections) are taken
    hundreds of times; every draw must equal numpy's, whichever branch made it."""
    from numba.np.random._constants import ziggurat_nor_r

    idx = np.array([0, 5, 2**31 + 3])
    out = draw(2**40 + 9, 3, idx, 4, 200_000, period=17)
    for j, i in enumerate(idx):
        np.testing.assert_array_equal(out[:, j], subject_rng(2**40 + 9, 3, int(i), 4, 17).standard_normal(200_000))
    assert np.sum(np.abs(out) > ziggurat_nor_r) > 10  # the tail branch was exercised


@settings(max_examples=25, deadline=None)
@given(seed=keys, stream=st.integers(0, 5), size=st.integers(0, 9), kind=st.sampled_from(["normal", "uniform"]),
       indices=st.lists(st.integers(0, ONE_WORD - 1), min_size=0, max_size=5))
def test_compiled_draws_equal_numpys(seed: int, stream: int, size: int, kind: str, indices: list[int]) -> None:
    out = draw(seed, 0, np.asarray(indices, dtype=np.int64), stream, size, kind=kind)
    assert out.shape == (size, len(indices))
    for j, i in enumerate(indices):
        rng = subject_rng(seed, 0, i, stream)
        np.testing.assert_array_equal(out[:, j], rng.standard_normal(size) if kind == "normal" else rng.random(size))


def test_without_numbas_tables_normals_come_from_numpys_generators(monkeypatch: pytest.MonkeyPatch) -> None:
    import ketasim.streams as streams

    idx = np.array([3, 4, 99])
    compiled = draw(5, 0, idx, 1, 7)
    monkeypatch.setattr(streams, "COMPILED_NORMALS", False)
    np.testing.assert_array_equal(draw(5, 0, idx, 1, 7), compiled)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        draw(1, 0, np.arange(3), 0, 2, kind="gamma")
