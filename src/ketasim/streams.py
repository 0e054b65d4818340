"""Per-subject random streams: one numpy generator per (seed, group, subject index, stream[, period]).

A subject's draws come from `np.random.default_rng(np.random.SeedSequence([seed, group, index, stream,
period]))` (`subject_rng`), so they never depend on how many other subjects are drawn with it, on chunk size or on
worker count. Building that generator costs ~12 us in numpy (SeedSequence's entropy mixing and PCG64's seeding run
through Python-level code per object), which is most of the time of drawing a population: `draw` computes the same
PCG64 states for all subjects at once, with numpy integer arithmetic, and draws from them in compiled code (below).
States and draws are bit-identical to numpy's (tests/test_streams.py compares them on random keys, large seeds
included).

Algorithm (numpy/random/bit_generator.pyx, SeedSequence; numpy/random/src/pcg64, pcg64_set_seed): the entropy
words are the 32-bit little-endian words of each key integer; they are hashed into a pool of 4 words (`_pool`),
which `generate_state` expands into 4 64-bit words: PCG64's 128-bit initial state (words 0, 1) and stream
(words 2, 3), seeded as in pcg_setseq_128_srandom_r.

The draws themselves (`_fill`, compiled) step each subject's PCG64 and apply numpy's own transforms: next_double
(the top 53 bits) for uniforms and the 256-level ziggurat of random_standard_normal (numpy/random/src/
distributions/distributions.c, with its tables as numba ships them for its own Generator support) for normals.
Handing each state to a numpy generator instead cost ~2.7 us per subject and stream (the state setter parses a
dict), ~1 s of CPU per 100,000 subjects; compiled, drawing a population costs almost nothing. tests/test_streams.py
compares every path, the ziggurat's rare tail and wedge cases included, with numpy's generators.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

try:  # numpy's ziggurat tables, as numba ships them for its own np.random.Generator support
    from numba.np.random._constants import fi_double, ki_double, wi_double, ziggurat_nor_inv_r, ziggurat_nor_r

    COMPILED_NORMALS = True
except ImportError:  # a numba without them: normals go through numpy's generators (same bits, slower)
    fi_double = wi_double = np.zeros(256)
    ki_double = np.zeros(256, dtype=np.uint64)
    ziggurat_nor_inv_r = ziggurat_nor_r = 0.0
    COMPILED_NORMALS = False

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


def _state_words(seed: int, group: int, indices: Array, stream: int, period: int) -> list[Array]:
    """SeedSequence([seed, group, index, stream, period]).generate_state(4, uint64) for every index (< 2**32)."""
    idx = np.asarray(indices, dtype=np.int64)
    n = len(idx)
    entropy = [np.full(n, w, dtype=np.uint32) for w in _words(int(seed)) + _words(int(group))]
    entropy.append(idx.astype(np.uint32))
    entropy += [np.full(n, w, dtype=np.uint32) for w in _words(int(stream)) + _words(int(period))]
    with np.errstate(over="ignore"):
        pool = _pool(entropy)
        hashmix = _Hash(INIT_B, MULT_B)
        state32 = [hashmix(pool[i % POOL_SIZE]).astype(np.uint64) for i in range(2 * POOL_SIZE)]
    return [state32[2 * k] | (state32[2 * k + 1] << np.uint64(32)) for k in range(POOL_SIZE)]


def pcg64_states(seed: int, group: int, indices: Array, stream: int, period: int = 0) -> list[tuple[int, int]]:
    """(state, inc) of PCG64(SeedSequence([seed, group, index, stream, period])) for every index (< 2**32)."""
    words = [w.tolist() for w in _state_words(seed, group, indices, stream, period)]
    out = []
    for w0, w1, w2, w3 in zip(*words, strict=True):
        init_state = (w0 << 64) | w1
        inc = (((w2 << 64) | w3) << 1 | 1) & MASK128
        state = (inc + init_state) & MASK128  # pcg_setseq_128_srandom_r: state = 0; step; += initstate; step
        state = (state * PCG_MULT + inc) & MASK128
        out.append((state, inc))
    return out


# ---------------------------------------------------------------------------------------------- compiled draws
#: PCG64's multiplier as two 64-bit halves, and the masks of 128-bit arithmetic on such halves
MULT_HI = np.uint64(PCG_MULT >> 64)
MULT_LO = np.uint64(PCG_MULT & 0xFFFFFFFFFFFFFFFF)
LOW32 = np.uint64(MASK32)
#: next_double: the top 53 bits of a 64-bit output, times 2**-53 (numpy/random/src/pcg64/pcg64.h)
DOUBLE_SHIFT = np.uint64(11)
DOUBLE_SCALE = 1.0 / 9007199254740992.0
#: random_standard_normal's split of a 64-bit output: 8 bits of level, a sign bit, 52 bits of magnitude
LEVEL_MASK = np.uint64(0xFF)
MAGNITUDE_MASK = np.uint64(0x000FFFFFFFFFFFFF)
#: PCG64's output rotation: XSL-RR takes the rotation from the top 6 bits
ROTATE_SHIFT = np.uint64(58)
KIND_NORMAL = 0
KIND_UNIFORM = 1


@njit(cache=True, nogil=True, inline="always")
def _mul_hi(a: np.uint64, b: np.uint64) -> np.uint64:
    """The high 64 bits of the 128-bit product a * b."""
    a0 = a & LOW32
    a1 = a >> np.uint64(32)
    b0 = b & LOW32
    b1 = b >> np.uint64(32)
    p01 = a0 * b1
    p10 = a1 * b0
    mid = ((a0 * b0) >> np.uint64(32)) + (p01 & LOW32) + (p10 & LOW32)
    return a1 * b1 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (mid >> np.uint64(32))


@njit(cache=True, nogil=True, inline="always")
def _step(s: np.ndarray) -> np.uint64:
    """One PCG64 step of s = [state_hi, state_lo, inc_hi, inc_lo] (state = state * MULT + inc mod 2**128) and
    its XSL-RR output."""
    hi = _mul_hi(s[1], MULT_LO) + s[1] * MULT_HI + s[0] * MULT_LO
    lo = s[1] * MULT_LO
    new_lo = lo + s[3]
    hi = hi + s[2] + (np.uint64(1) if new_lo < lo else np.uint64(0))
    s[0] = hi
    s[1] = new_lo
    value = hi ^ new_lo
    rot = hi >> ROTATE_SHIFT
    return (value >> rot) | (value << ((np.uint64(64) - rot) & np.uint64(63)))


@njit(cache=True, nogil=True, inline="always")
def _next_double(s: np.ndarray) -> float:
    return float(_step(s) >> DOUBLE_SHIFT) * DOUBLE_SCALE


@njit(cache=True, nogil=True)
def _standard_normal(s: np.ndarray) -> float:
    """numpy's random_standard_normal (ziggurat) on the PCG64 state s."""
    while True:
        r = _step(s)
        idx = r & LEVEL_MASK
        r >>= np.uint64(8)
        rabs = (r >> np.uint64(1)) & MAGNITUDE_MASK
        x = float(rabs) * wi_double[idx]
        if r & np.uint64(1):
            x = -x
        if rabs < ki_double[idx]:
            return x
        if idx == 0:
            while True:
                xx = -ziggurat_nor_inv_r * np.log1p(-_next_double(s))
                yy = -np.log1p(-_next_double(s))
                if yy + yy > xx * xx:
                    if (rabs >> np.uint64(8)) & np.uint64(1):
                        return -(ziggurat_nor_r + xx)
                    return ziggurat_nor_r + xx
        elif (fi_double[idx - 1] - fi_double[idx]) * _next_double(s) + fi_double[idx] < np.exp(-0.5 * x * x):
            return x


@njit(cache=True, nogil=True)
def _fill(w0: Array, w1: Array, w2: Array, w3: Array, kind: int, out: Array) -> None:
    """out[:, j]: subject j's draws from PCG64 seeded with the words w0..w3[j] (pcg_setseq_128_srandom_r)."""
    s = np.empty(4, dtype=np.uint64)
    for j in range(out.shape[1]):
        # inc = (w2:w3) << 1 | 1; state = 0, step, += initial state (w0:w1), step
        s[2] = (w2[j] << np.uint64(1)) | (w3[j] >> np.uint64(63))
        s[3] = (w3[j] << np.uint64(1)) | np.uint64(1)
        lo = s[3] + w1[j]
        s[0] = s[2] + w0[j] + (np.uint64(1) if lo < s[3] else np.uint64(0))
        s[1] = lo
        _step(s)
        for i in range(out.shape[0]):
            out[i, j] = _standard_normal(s) if kind == KIND_NORMAL else _next_double(s)


def draw(seed: int, group: int, indices: Array, stream: int, size: int, kind: str = "normal", period: int = 0) -> Array:
    """`size` draws per subject from its own stream: array (size, n); kind "normal" or "uniform" ([0, 1))."""
    if kind not in ("normal", "uniform"):
        raise ValueError(f"kind must be 'normal' or 'uniform', got {kind!r}")
    idx = np.asarray(indices, dtype=np.int64)
    out = np.empty((size, len(idx)))
    if not len(idx):
        return out
    if idx.min() < 0 or idx.max() >= ONE_WORD:
        for j, i in enumerate(idx):
            rng = subject_rng(seed, group, int(i), stream, period)
            out[:, j] = rng.standard_normal(size) if kind == "normal" else rng.random(size)
        return out
    if kind == "normal" and not COMPILED_NORMALS:
        bits = np.random.PCG64()
        rng = np.random.Generator(bits)
        for j, (state, inc) in enumerate(pcg64_states(seed, group, idx, stream, period)):
            bits.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0,
                          "uinteger": 0}
            out[:, j] = rng.standard_normal(size)
        return out
    w0, w1, w2, w3 = _state_words(seed, group, idx, stream, period)
    _fill(w0, w1, w2, w3, KIND_NORMAL if kind == "normal" else KIND_UNIFORM, out)
    return out
