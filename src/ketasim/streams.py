"""Per-subject random streams: one numpy generator per (seed, group, subject index, stream[, period]).

A subject's draws come from `np.random.default_rng(np.random.SeedSequence([seed, group, index, stream,
period]))` (`subject_rng`), so they never depend on how many other subjects are drawn with it, on chunk size or on
worker count. Building that generator costs ~12 us in numpy (SeedSequence's entropy mixing and PCG64's seeding run
through Python-level code per object), which is most of the time of drawing a population: `draw` computes the same
PCG64 states for all subjects at once, with numpy integer arithmetic, and hands each to one reused generator. The
states are bit-identical to numpy's (tests/test_streams.py compares them on random keys, large seeds included).

Algorithm (numpy/random/bit_generator.pyx, SeedSequence; numpy/random/src/pcg64, pcg64_set_seed): the entropy
words are the 32-bit little-endian words of each key integer; they are hashed into a pool of 4 words (`_pool`),
which `generate_state` expands into 4 64-bit words: PCG64's 128-bit initial state (words 0, 1) and stream
(words 2, 3), seeded as in pcg_setseq_128_srandom_r.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = np.ndarray
Words = npt.NDArray[np.uint32]

#: SeedSequence's constants (numpy/random/bit_generator.pyx)
POOL_SIZE = 4
INIT_A = 0x43B0D7E5
MULT_A = 0x931E8875
INIT_B = 0x8B51F9DD
MULT_B = 0x58F38DED
MIX_MULT_L = 0xCA01F9DD
MIX_MULT_R = 0x4973F715
XSHIFT = 16
MASK32 = 0xFFFFFFFF
#: PCG64's multiplier (PCG_DEFAULT_MULTIPLIER_128, numpy/random/src/pcg64/pcg64.h)
PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
MASK128 = (1 << 128) - 1
#: indices at or above this need more than one entropy word: `draw` then builds each generator as numpy does
ONE_WORD = 1 << 32


def subject_rng(seed: int, group: int, index: int, stream: int, period: int = 0) -> np.random.Generator:
    """The generator of one subject for one purpose (the definition `draw` reproduces)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(group), int(index), int(stream), int(period)]))


def _words(value: int) -> list[int]:
    """A non-negative integer as SeedSequence reads it: little-endian 32-bit words (0 is one word)."""
    if value < 0:
        raise ValueError(f"random keys must be non-negative, got {value}")
    out = [value & MASK32]
    value >>= 32
    while value:
        out.append(value & MASK32)
        value >>= 32
    return out


class _Hash:
    """SeedSequence's running hash constant: the same sequence for every subject, so a Python int."""

    def __init__(self, init: int, mult: int) -> None:
        self.const = init
        self.mult = mult

    def __call__(self, value: Words) -> Words:
        value = value ^ np.uint32(self.const)
        self.const = (self.const * self.mult) & MASK32
        value = value * np.uint32(self.const)
        return value ^ (value >> np.uint32(XSHIFT))


def _mix(x: Words, y: Words) -> Words:
    result: Words = x * np.uint32(MIX_MULT_L) - y * np.uint32(MIX_MULT_R)
    return result ^ (result >> np.uint32(XSHIFT))


def _pool(entropy: list[Words]) -> list[Words]:
    """SeedSequence.mix_entropy for many subjects: `entropy` holds one uint32 array (over subjects) per word."""
    hashmix = _Hash(INIT_A, MULT_A)
    n = len(entropy[0])
    zero = np.zeros(n, dtype=np.uint32)
    pool = [hashmix(entropy[i] if i < len(entropy) else zero) for i in range(POOL_SIZE)]
    for src in range(POOL_SIZE):
        for dst in range(POOL_SIZE):
            if src != dst:
                pool[dst] = _mix(pool[dst], hashmix(pool[src]))
    for src in range(POOL_SIZE, len(entropy)):
        for dst in range(POOL_SIZE):
            pool[dst] = _mix(pool[dst], hashmix(entropy[src]))
    return pool


def pcg64_states(seed: int, group: int, indices: Array, stream: int, period: int = 0) -> list[tuple[int, int]]:
    """(state, inc) of PCG64(SeedSequence([seed, group, index, stream, period])) for every index (< 2**32)."""
    idx = np.asarray(indices, dtype=np.int64)
    n = len(idx)
    entropy = [np.full(n, w, dtype=np.uint32) for w in _words(int(seed)) + _words(int(group))]
    entropy.append(idx.astype(np.uint32))
    entropy += [np.full(n, w, dtype=np.uint32) for w in _words(int(stream)) + _words(int(period))]
    with np.errstate(over="ignore"):
        pool = _pool(entropy)
        hashmix = _Hash(INIT_B, MULT_B)
        state32 = [hashmix(pool[i % POOL_SIZE]).astype(np.uint64) for i in range(2 * POOL_SIZE)]
    words = [(state32[2 * k] | (state32[2 * k + 1] << np.uint64(32))).tolist() for k in range(POOL_SIZE)]
    out = []
    for w0, w1, w2, w3 in zip(*words, strict=True):
        init_state = (w0 << 64) | w1
        inc = (((w2 << 64) | w3) << 1 | 1) & MASK128
        state = (inc + init_state) & MASK128  # pcg_setseq_128_srandom_r: state = 0; step; += initstate; step
        state = (state * PCG_MULT + inc) & MASK128
        out.append((state, inc))
    return out


def draw(seed: int, group: int, indices: Array, stream: int, size: int, kind: str = "normal", period: int = 0) -> Array:
    """`size` draws per subject from its own stream: array (size, n); kind "normal" or "uniform" ([0, 1))."""
    idx = np.asarray(indices, dtype=np.int64)
    out = np.empty((size, len(idx)))
    if len(idx) and (idx.min() < 0 or idx.max() >= ONE_WORD):
        for j, i in enumerate(idx):
            rng = subject_rng(seed, group, int(i), stream, period)
            out[:, j] = rng.standard_normal(size) if kind == "normal" else rng.random(size)
        return out
    bits = np.random.PCG64()
    rng = np.random.Generator(bits)
    fill = rng.standard_normal if kind == "normal" else rng.random
    for j, (state, inc) in enumerate(pcg64_states(seed, group, idx, stream, period)):
        bits.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0,
                      "uinteger": 0}
        out[:, j] = fill(size)
    return out
