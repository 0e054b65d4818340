"""SIMD lanes: LANES subjects integrated side by side, each with its own time, step size and events.

Why: one RODAS4 step of one subject is ~1 µs of scalar arithmetic on ~35 states, while the machine's vector units
hold 4 (AVX2) or 8 (AVX-512) doubles. Here the arithmetic of a step (the right-hand side at every stage, the
Jacobian, the block factorization, the solves, the stage combinations and the error norm) runs for LANES subjects
at once, as straight-line loops over the lane index that LLVM turns into vector instructions. Everything that
branches (step acceptance, step-size control, dose events, dense output and the summaries) stays scalar, per lane.

Why the lanes do not share a step (SIMT, as on a GPU): each lane keeps its own t, h, error control and event
segments, so a subject's result is a function of its own parameters only, never of the subjects that share its
lanes or of the batch it is in. That keeps population runs bit-identical whatever the chunk size, thread count or
Dask worker count, and a subject gives the same bits alone as in a batch of 100,000 (tests/test_lanes.py,
tests/test_batched_solver.py).
A lane whose subject has finished takes the next subject of its group; lanes without one compute on stale,
harmless data that nobody reads.

How the vector code is made: the model's scalar functions (`jit.py`) are rewritten so that every array access
`y[k]` becomes `W[offset + k * LANES + l]` inside `for l in range(LANES)`, on one flat work array `W` whose regions
(states, stages, parameters, Jacobian, LU, per-lane scalars) sit at compile-time constant offsets. Constant
offsets from one base pointer are what let LLVM prove that the regions do not overlap and vectorize without
run-time alias checks; `error_model="numpy"` removes the division-by-zero branches that would block it.

Output times: a lane interpolates the states the outputs read into its buffer `B` (Layout.output) and, every
SLOTS output times or when its subject ends, evaluates their observed assignments at once as vector code
(`_v_observe`, here vectorized over the times of one subject) and updates the subject's running reductions.

Entry points: `run_group(g, ...)` integrates the g-th group of GROUP_SUBJECTS subjects; it releases the GIL, and
`run_batch` (`__init__.py`) runs the groups over a thread pool. `run_group_i` is the same kernel on step functions
whose fixed exponents are integers (jit.integer_powers; same bits, no exp/log), which run_batch tries first.
"""

from __future__ import annotations

import re

from ..symbolic import POW_FUNCTION
from .rodas4 import Method

#: subjects per vector: 4 doubles fill an AVX2 register. Eight (one AVX-512 register) did the same arithmetic in
#: half the instructions, but Zen 4 splits 512-bit operations in two, and eight lanes' work array (~66 KB for the
#: full model) is twice the 32 KB L1 cache; four lanes' fits: ~8% less integration time (docs/performance.md)
LANES = 4
#: output times a lane buffers before observing them together (`_v_observe` is vectorized over them)
SLOTS = 16
#: subjects handed to one group of lanes (one thread at a time): large enough that lanes seldom idle at the end
#: of a group, small enough that a chunk still splits over the threads. (16 slots and groups of 256 instead of
#: 8 and 128: 50,000 subjects 15.7-16.0 -> 15.2 s in alternating runs, docs/performance.md)
GROUP_SUBJECTS = 256

#: the scalar code's name for a power whose exponent the lane code may take to be an integer in 1..8 (vmath.vipow;
#: jit.integer_powers)
INT_POW_FUNCTION = "_ipow"
#: the scalar code's transcendental calls and their vectorizable versions (vmath.py)
VECTOR_FUNCTIONS = {"math.exp(": "vexp(", "math.log(": "vlog(", f"{POW_FUNCTION}(": "vpow(",
                    f"{INT_POW_FUNCTION}(": "vipow("}
#: suffix of the integer-power versions of the step functions and of the kernel (`run_group_i`)
INT_SUFFIX = "_i"

VECTOR_JIT = '@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})'


class Layout:
    """Compile-time offsets of the regions of a flat lane array: `W` (a step's work) or `B` (a lane's outputs).

    Every region has `width` columns (LANES lanes in W, SLOTS output times in B); row k of region R of column l
    sits at `PREFIX_R + k * width + l`.
    """

    def __init__(self, regions: list[tuple[str, int]], array: str, prefix: str, size_name: str,
                 width: int | None = None, width_name: str = "LANES") -> None:
        self.array = array  # the name of the array in the generated code
        self.prefix = prefix
        self.size_name = size_name
        self.width = LANES if width is None else width
        self.width_name = width_name  # the generated code's name for width
        self.offsets: dict[str, int] = {}
        self.size = 0
        for name, rows in regions:
            self.offsets[name] = self.size
            self.size += max(rows, 1) * self.width

    @classmethod
    def step(cls, n: int, n_params: int, n_derived: int, nnz: int, lu_size: int, method: Method) -> Layout:
        """The work array `W` of one attempted step of LANES subjects."""
        vectors = ["Y", "YT", "YN", "F0", "FS", "FT", "ATOL", "YPEAK", "R2", "HHV", "X"]
        vectors += [f"K{i}" for i in range(1, method.stages + (1 if last_stage_kept(method) else 0))]
        vectors += [f"KD{r}" for r in range(len(method.dense))]
        regions = [(name, n) for name in vectors] + [("P", n_params), ("D", n_derived), ("JV", nnz), ("LU", lu_size)]
        regions += [(name, 1) for name in ("TT", "TS", "HH", "IH", "CF", "ERR", "FAC", "OK", "ACC")]
        return cls(regions, "W", "O_", "W_SIZE")

    @classmethod
    def output(cls, n: int, n_assign: int) -> Layout:
        """The output buffer `B` of one lane: states, assignments and time of up to SLOTS output times."""
        return cls([("Y", n), ("A", n_assign), ("T", 1)], "B", "B_", "B_SIZE", SLOTS, "SLOTS")

    def constants(self) -> list[str]:
        return [f"{self.prefix}{k} = {v}" for k, v in self.offsets.items()] + [f"{self.size_name} = {self.size}"]


def last_stage_kept(method: Method) -> bool:
    """Whether the continuous extension reads the last stage's increment (else it stays in X)."""
    return any(len(row) >= method.stages and row[method.stages - 1] != 0.0 for row in method.dense)


def _rewrite(line: str, arrays: dict[str, int], scalars: dict[str, int], target: str = "W",
             width: int | None = None) -> str:
    """One scalar line as lane code: array[k] -> W[offset + k * width + l], scalar -> W[offset + l]."""
    width = LANES if width is None else width
    if arrays:
        pattern = r"(?<![\w.])(" + "|".join(map(re.escape, arrays)) + r")\[(\d+)\]"
        line = re.sub(pattern, lambda m: f"{target}[{arrays[m.group(1)] + int(m.group(2)) * width} + l]", line)
    for name, off in scalars.items():
        line = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w\[])", f"{target}[{off} + l]", line)
    return vector_calls(line)


def vector_calls(code: str) -> str:
    """libm calls replaced by vmath's (vectorizable, and faster than libm even one at a time)."""
    for scalar, vector in VECTOR_FUNCTIONS.items():
        code = code.replace(scalar, vector)
    return code


def lane_loop(body: list[str], arrays: dict[str, str], scalars: dict[str, str], layout: Layout,
              indent: str = "    ") -> list[str]:
    """A scalar body (lines indented by 4 spaces) as a loop over the lanes whose header sits at `indent`."""
    arr = {k: layout.offsets[v] for k, v in arrays.items()}
    sca = {k: layout.offsets[v] for k, v in scalars.items()}
    lines = [indent + _rewrite(ln, arr, sca, layout.array, layout.width) for ln in body] or [indent + "    pass"]
    return [f"{indent}for l in range({layout.width_name}):", *lines]


def versioned_loop(body: list[str], int_body: list[str], arrays: dict[str, str], scalars: dict[str, str],
                   layout: Layout, flag: str, indent: str = "    ") -> list[str]:
    """The lane loop of `body`; where its integer-power version differs, that one runs when `flag` holds (the
    test is outside the loop: inside, it would keep the loop from vectorizing)."""
    if int_body == body:
        return lane_loop(body, arrays, scalars, layout, indent)
    return [f"{indent}if {flag}:", *lane_loop(int_body, arrays, scalars, layout, indent + "    "),
            f"{indent}else:", *lane_loop(body, arrays, scalars, layout, indent + "    ")]


def vector_factor_body(body: list[str], layout: Layout) -> list[str]:
    """The block factorization for every lane: a failed pivot clears the lane's OK flag instead of returning."""
    lines: list[str] = ["    ok = 1.0"]
    k = 0
    while k < len(body):
        ln = body[k]
        m = re.match(r"^(\s*)if not \((.*)\):$", ln)
        if m and k + 1 < len(body) and body[k + 1].strip() == "return False":
            lines.append(f"{m.group(1)}ok = ok if ({m.group(2)}) else 0.0")
            k += 2
            continue
        lines.append("    OK_SLOT = ok" if ln.strip() == "return True" else ln)
        k += 1
    return lane_loop(lines, {"jv": "JV", "lu": "LU"}, {"c": "CF", "OK_SLOT": "OK"}, layout)


def _inverse_root(x: str, k: int) -> str:
    """Code for x ** (-1 / k): two square roots for k = 4 (RODAS4's controller), else vpow."""
    return f"(1.0 / math.sqrt(math.sqrt({x})))" if k == 4 else f"vpow({x}, {-1.0 / k!r})"


def _terms(coeffs: list[tuple[float, str]]) -> str:
    return " + ".join(f"{v!r} * {name}" for v, name in coeffs if v != 0.0)


def vector_step(method: Method, time_dependent: bool, bodies: dict[str, list[str]], layout: Layout,
                suffix: str = "") -> list[str]:
    """`_v_step(W, rtol)`: factorization, the stages of one attempted step for every lane, each lane's error norm
    and the rows of its continuous extension.

    The stages run in one loop so that the right-hand side and the block solve appear once in the code: LLVM's
    compile time grows faster than the code, and six written-out copies cost minutes per model. What differs
    between stages sits in one small per-stage loop with constant offsets, which reads the earlier increments
    once: it stores the previous stage's increment (still in X) as its K, forms the stage's point YT and the
    earlier increments' part of its linear system in FS; the right-hand side then writes f(YT) + FS straight
    into X, where the stage's system is solved. (Separate loops for the point, the system and the copy to K
    passed over the arrays twice as often: ~6% of the integration.)
    """
    m = method
    ind = "    "
    nl = "N_STATES * LANES"
    # the right-hand side of a stage's system: f(YT) + FS / h, with the lane's 1/h read once per lane (a copy of
    # it per state, for the flat loops, cost 35 stores per lane and attempt). f's value is rounded on its own
    # (`+ 0.0`, which LLVM may not drop): otherwise the FMA contraction may fuse FS / h with a product inside f
    # in one kernel and not in the other, and the integer-power kernel would no longer give the general one's bits
    rhs_body = ["    ihl = IH"]
    for ln in bodies["rhs" + suffix]:
        assign = re.match(r"^(\s*)out\[(\d+)\] = (.*)$", ln)
        rhs_body.append(f"{assign.group(1)}x[{assign.group(2)}] = (({assign.group(3)}) + 0.0) + "
                        f"xp[{assign.group(2)}] * ihl" if assign else ln)
    rhs_stage = lane_loop(rhs_body, {"y": "YT", "x": "X", "xp": "FS", "p": "P", "d": "D"}, {"t": "TS", "IH": "IH"},
                          layout, indent=ind * 2)
    solve = lane_loop(bodies["solve"], {"jv": "JV", "lu": "LU", "x": "X"}, {}, layout, indent=ind * 2)
    out = [VECTOR_JIT, f"def _v_step{suffix}(W, rtol):"]
    out += vector_factor_body(bodies["factor"], layout)
    out.append(f"{ind}for stage in range({m.stages}):")
    # stage 1: the derivative at the step's start (F0, from _v_point), and the time derivative's term
    first = "W[O_F0 + q]"
    if time_dependent and m.d.get(1, 0.0) != 0.0:
        first += f" + W[O_HHV + q] * {m.d[1]!r} * W[O_FT + q]"
    out += [f"{ind * 2}if stage == 0:", f"{ind * 3}for q in range({nl}):", f"{ind * 3}    W[O_X + q] = {first}"]
    for i in range(2, m.stages + 1):

        def k(j: int, i: int = i) -> str:
            return "kp" if j == i - 1 else f"W[O_K{j} + q]"

        out += [f"{ind * 2}elif stage == {i - 1}:", f"{ind * 3}for q in range({nl}):",
                f"{ind * 3}    kp = W[O_X + q]", f"{ind * 3}    W[O_K{i - 1} + q] = kp"]
        if i <= m.explicit:
            terms = _terms([(m.a[(i, j)], k(j)) for j in range(1, i) if (i, j) in m.a])
            out.append(f"{ind * 3}    W[O_YT + q] = W[O_Y + q] + {terms}")
        else:
            out.append(f"{ind * 3}    W[O_YT + q] = W[O_YT + q] + kp")
        # h times the earlier increments' part of the system (the right-hand side divides by h): sum c_ij K_j, and
        # h^2 d_i df/dt for a time-dependent model
        parts = [_terms([(m.c[(i, j)], k(j)) for j in range(1, i) if (i, j) in m.c])]
        if time_dependent and m.d.get(i, 0.0) != 0.0:
            parts.append(f"W[O_HHV + q] * W[O_HHV + q] * {m.d[i]!r} * W[O_FT + q]")
        out.append(f"{ind * 3}    W[O_FS + q] = {' + '.join(p for p in parts if p) or '0.0'}")
        out += [f"{ind * 3}for l in range(LANES):",
                f"{ind * 3}    W[O_TS + l] = W[O_TT + l] + {m.cc.get(i, 1.0)!r} * W[O_HH + l]"]
    out += [f"{ind * 2}if stage > 0:", *["    " + ln for ln in rhs_stage]]
    out += solve
    # the last stage's increment stays in X, where the error norm reads it, unless the dense output reads it too
    # (RODAS4's does not)
    if last_stage_kept(m):
        out += [f"{ind}for q in range({nl}):", f"{ind}    W[O_K{m.stages} + q] = W[O_X + q]"]
    last = "O_X"
    # error norm: squared scaled errors in one flat pass, then summed per lane (one accumulator per lane: the
    # loops stay flat, which is what LLVM vectorizes well)
    acc = [f"e{lane}" for lane in range(LANES)]
    out += [
        f"{ind}for q in range({nl}):",
        f"{ind}    yn = W[O_YT + q] + W[{last} + q]",
        f"{ind}    W[O_YN + q] = yn",
        f"{ind}    a = max(max(abs(W[O_Y + q]), abs(yn)), W[O_YPEAK + q])",
        f"{ind}    r = W[{last} + q] / (W[O_ATOL + q] + rtol * a)",
        f"{ind}    W[O_R2 + q] = r * r",
        f"{ind}{' = '.join(acc)} = 0.0",
        f"{ind}for i in range(N_STATES):",
        f"{ind}    b = O_R2 + i * LANES",
        *[f"{ind}    {a} += W[b + {lane}]" for lane, a in enumerate(acc)],
        *[f"{ind}W[O_ERR + {lane}] = {a}" for lane, a in enumerate(acc)],
        f"{ind}for l in range(LANES):",
        f"{ind}    err = math.sqrt(W[O_ERR + l] / N_STATES)",
        f"{ind}    W[O_ERR + l] = err",
        f"{ind}    W[O_FAC + l] = SAFETY * {_inverse_root('err', m.error_order + 1)}",
    ]
    # rows of the continuous extension, for the lanes whose step holds output times (one loop: the rows read the
    # same increments)
    out.append(f"{ind}for q in range({nl}):")
    for r, row in enumerate(m.dense):
        out.append(f"{ind}    W[O_KD{r} + q] = " + _terms([(v, f"W[O_K{j + 1} + q]") for j, v in enumerate(row)]))
    out.append(f"{ind}return")
    return out


def vector_accept() -> list[str]:
    """`_v_accept(W, peak_weight)`: every lane moves to YN, and the largest |y| so far follows.

    A lane whose step was rejected has had YN set back to Y (`_keep_point`), so one flat loop serves all lanes
    (a per-lane select here does not vectorize and cost ~3x more); YPEAK >= |Y| * peak_weight always holds (set at
    a subject's start and at every dose), so such a lane's YPEAK does not change either.
    """
    return [
        VECTOR_JIT, "def _v_accept(W, peak_weight):",
        "    for q in range(N_STATES * LANES):",
        "        yn = W[O_YN + q]",
        "        W[O_Y + q] = yn",
        "        v = abs(yn) * peak_weight",
        "        W[O_YPEAK + q] = v if v > W[O_YPEAK + q] else W[O_YPEAK + q]",
        "    return",
    ]


def dense_inner(method: Method) -> str:
    """The continuous extension's correction term at theta = th, from the rows KD0, KD1, ... of state q."""
    inner = f"W[O_KD{len(method.dense) - 1} + q]"
    for r in range(len(method.dense) - 2, -1, -1):
        inner = f"W[O_KD{r} + q] + th * ({inner})"
    return inner


KERNEL = r'''
@njit(cache=True, nogil=True)
def _flush(B, fill, slot_k, p, d, need, j, obs_src, need_assign, store, t_ref, red, samp_ptr, samp_var, samp_out):
    # a lane's buffered output times: the assignments they need, for every slot at once (vector code), then each
    # time recorded in order. red: this subject's running reductions (rows max, t of max, min, t of min,
    # baseline), local to the subject so that the hot loop never strides across the batch
    if need_assign:
        _v_observe(B, p, d, need)
    nv = obs_src.shape[0]
    # the common case: every slot after the reference time and none a baseline: per variable, the largest and
    # smallest value over the slots first (vector code), the slot holding it only when it beats the running one
    # (the first such slot: ties keep the earlier time, as slot-by-slot recording would)
    fast = red.shape[1] > 0 and B[B_T] >= t_ref - REF_EPS and B[B_T] > t_ref + REF_EPS and slot_k[0] > 0
    if fast:
        for q in range(nv):
            row = B_Y + obs_src[q] * SLOTS
            hi = red[0, q]
            lo = red[2, q]
            for s in range(fill):
                v = B[row + s]
                hi = v if v > hi else hi
                lo = v if v < lo else lo
            if hi > red[0, q]:
                for s in range(fill):
                    if B[row + s] == hi:
                        red[0, q] = hi
                        red[1, q] = B[B_T + s] - t_ref
                        break
            if lo < red[2, q]:
                for s in range(fill):
                    if B[row + s] == lo:
                        red[2, q] = lo
                        red[3, q] = B[B_T + s] - t_ref
                        break
    for s in range(fill):
        k = slot_k[s]
        t = B[B_T + s]
        if store.shape[0] > 0:
            for q in range(nv):
                store[k, q, j] = B[B_Y + obs_src[q] * SLOTS + s]
        if red.shape[1] > 0 and not fast:
            after = t >= t_ref - REF_EPS
            base = t <= t_ref + REF_EPS or k == 0
            dt = t - t_ref
            for q in range(nv):
                val = B[B_Y + obs_src[q] * SLOTS + s]
                if after:
                    if val > red[0, q]:
                        red[0, q] = val
                        red[1, q] = dt
                    if val < red[2, q]:
                        red[2, q] = val
                        red[3, q] = dt
                if base:
                    red[4, q] = val
        for m in range(samp_ptr[k], samp_ptr[k + 1]):
            samp_out[m, j] = B[B_Y + obs_src[samp_var[m]] * SLOTS + s]


@njit(cache=True, nogil=True)
def _push_exact(W, l, B, fill, slot_k, k, t, dense_idx, p, d, need, j, obs_src, need_assign, store, t_ref, red,
                samp_ptr, samp_var, samp_out):
    # an output time at a segment boundary: the lane's current states take the next slot of its buffer (the
    # same path as the interpolated times, so that every time is recorded in order); returns the new fill
    for ii in range(dense_idx.shape[0]):
        i = dense_idx[ii]
        B[B_Y + i * SLOTS + fill] = W[O_Y + i * LANES + l]
    B[B_T + fill] = t
    slot_k[fill] = k
    fill += 1
    if fill == SLOTS:
        _flush(B, fill, slot_k, p, d, need, j, obs_src, need_assign, store, t_ref, red, samp_ptr, samp_var,
               samp_out)
        fill = 0
    return fill


@njit(cache=True, nogil=True)
def _keep_point(W, l):
    # a rejected lane stays where it is: _v_accept moves every lane to YN
    for i in range(N_STATES):
        W[O_YN + i * LANES + l] = W[O_Y + i * LANES + l]


@njit(cache=True, nogil=True)
def _lane_column(W, off, l, out):
    for i in range(out.shape[0]):
        out[i] = W[off + i * LANES + l]


@njit(cache=True, nogil=True)
def run_group#SUFFIX#(g, P, Y0, bounds, ev_ptr, ev_kind, ev_target, ev_value, t_out, out_lo, out_hi, rtol, atol,
           max_steps, peak_weight, nnz, obs_src, need_assign, obs_need, dense_idx, dense_fixed, store, t_ref,
           red_max, red_tmax, red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out, stats):
    n_sub = P.shape[0]
    s0 = g * GROUP_SUBJECTS
    s1 = min(s0 + GROUP_SUBJECTS, n_sub)
    n = N_STATES
    n_par = P.shape[1]
    n_seg = bounds.shape[0]
    nv = red_max.shape[0]
    W = np.zeros(W_SIZE)
    for i in range(n):
        for l in range(LANES):
            W[O_ATOL + i * LANES + l] = atol[i]
    pl = np.zeros((LANES, n_par))
    dl = np.zeros((LANES, N_DERIVED))
    red = np.empty((LANES, 5, nv))
    jtmp = np.zeros(max(nnz, 1))
    # per lane, up to SLOTS output times waiting to be observed together (Layout.output), and their indices
    bufs = np.zeros((LANES, B_SIZE))
    lslot = np.zeros((LANES, SLOTS), dtype=np.int64)
    lfill = np.zeros(LANES, dtype=np.int64)
    nd = dense_idx.shape[0]
    yv = np.empty(n)
    f0 = np.empty(n)
    yt = np.empty(n)
    fs = np.empty(n)
    lj = np.full(LANES, -1, dtype=np.int64)
    lb = np.zeros(LANES, dtype=np.int64)
    lkp = np.zeros(LANES, dtype=np.int64)
    lkhi = np.zeros(LANES, dtype=np.int64)
    lsteps = np.zeros(LANES, dtype=np.int64)
    lacc = np.zeros(LANES, dtype=np.int64)
    lrej = np.zeros(LANES, dtype=np.int64)
    lphase = np.zeros(LANES, dtype=np.int64)  # 0: at a segment start, 1: stepping
    lrestart = np.zeros(LANES, dtype=np.bool_)
    lfresh = np.zeros(LANES, dtype=np.bool_)
    llast = np.zeros(LANES, dtype=np.bool_)
    llastrej = np.zeros(LANES, dtype=np.bool_)
    lt = np.zeros(LANES)
    le = np.zeros(LANES)
    lh = np.zeros(LANES)
    lhh = np.zeros(LANES)
    nxt = s0
    while True:
        # 1. bring every lane to its next step attempt: load subjects, cross segment starts, finish subjects
        active = 0
        for l in range(LANES):
            while True:
                if lj[l] < 0:
                    if nxt >= s1:
                        break
                    j = nxt
                    nxt += 1
                    lj[l] = j
                    for i in range(n):
                        W[O_Y + i * LANES + l] = Y0[j, i]
                        W[O_YPEAK + i * LANES + l] = abs(Y0[j, i]) * peak_weight
                    for k in range(n_par):
                        pl[l, k] = P[j, k]
                    for q in range(nv):
                        red[l, 0, q] = -np.inf
                        red[l, 1, q] = np.nan
                        red[l, 2, q] = np.inf
                        red[l, 3, q] = np.nan
                        red[l, 4, q] = np.nan
                    lb[l] = 0
                    lfresh[l] = True
                    lrestart[l] = True
                    lh[l] = 0.0
                    lacc[l] = 0
                    lrej[l] = 0
                    lphase[l] = 0
                    lfill[l] = 0
                j = lj[l]
                if lphase[l] == 1:
                    if lsteps[l] >= max_steps:
                        _finish(red[l], j, lacc[l], lrej[l], STATUS_MAX_STEPS, stats, red_max, red_tmax, red_min,
                                red_tmin, red_base)
                        lj[l] = -1
                        continue
                    break
                b = lb[l]
                if b >= n_seg:
                    if lfill[l] > 0:
                        _flush(bufs[l], lfill[l], lslot[l], pl[l], dl[l], obs_need, j, obs_src, need_assign, store,
                               t_ref, red[l], samp_ptr, samp_var, samp_out)
                        lfill[l] = 0
                    _finish(red[l], j, lacc[l], lrej[l], STATUS_OK, stats, red_max, red_tmax, red_min, red_tmin,
                            red_base)
                    lj[l] = -1
                    continue
                for m in range(ev_ptr[b], ev_ptr[b + 1]):
                    v = ev_value[m, j]
                    if v == 0.0:
                        continue
                    tgt = ev_target[m]
                    if ev_kind[m] == 0:
                        W[O_Y + tgt * LANES + l] += v
                        pk = abs(W[O_Y + tgt * LANES + l]) * peak_weight
                        if pk > W[O_YPEAK + tgt * LANES + l]:
                            W[O_YPEAK + tgt * LANES + l] = pk
                        lrestart[l] = True
                    else:
                        # an infusion switch keeps the state continuous: the current step size stays a good guess
                        pl[l, tgt] += v
                        if abs(pl[l, tgt]) < RATE_CLEAN * (1.0 + abs(v)):
                            pl[l, tgt] = 0.0
                        W[O_P + tgt * LANES + l] = pl[l, tgt]
                        if PARAM_FEEDS[tgt]:
                            lfresh[l] = True
                pv = pl[l]
                dv = dl[l]
                if lfresh[l]:
                    # a new subject, or a parameter the segment's constants read changed (not a mere rate)
                    lfresh[l] = False
                    _derived(pv, dv)
                    _jac_const(pv, dv, jtmp)
#IPOW_CHECK#
                    for k in range(n_par):
                        W[O_P + k * LANES + l] = pv[k]
                    for k in range(N_DERIVED):
                        W[O_D + k * LANES + l] = dv[k]
                    for k in range(nnz):
                        W[O_JV + k * LANES + l] = jtmp[k]
                # integrate through boundaries that hold no event of this subject (another subject's lag time)
                nb = b + 1
                while nb < n_seg:
                    own = False
                    for m in range(ev_ptr[nb], ev_ptr[nb + 1]):
                        if ev_value[m, j] != 0.0:
                            own = True
                            break
                    if own:
                        break
                    nb += 1
                a = bounds[b]
                if b == n_seg - 1:
                    e = a
                elif nb < n_seg:
                    e = bounds[nb]
                else:
                    e = bounds[n_seg - 1]
                kp = out_lo[b]
                khi = out_lo[nb] if nb < n_seg else out_hi[n_seg - 1]
                lb[l] = nb
                while kp < khi and t_out[kp] <= a + TIME_EPS:
                    lfill[l] = _push_exact(W, l, bufs[l], lfill[l], lslot[l], kp, t_out[kp], dense_idx, pv, dv,
                                           obs_need, j, obs_src, need_assign, store, t_ref, red[l], samp_ptr,
                                           samp_var, samp_out)
                    kp += 1
                if e - a <= TIME_EPS:
                    while kp < khi:
                        lfill[l] = _push_exact(W, l, bufs[l], lfill[l], lslot[l], kp, t_out[kp], dense_idx, pv, dv,
                                               obs_need, j, obs_src, need_assign, store, t_ref, red[l], samp_ptr,
                                               samp_var, samp_out)
                        kp += 1
                    continue
                lkp[l] = kp
                lkhi[l] = khi
                lt[l] = a
                le[l] = e
                W[O_TT + l] = a
                llastrej[l] = False
                lsteps[l] = 0
                lphase[l] = 1
                break
            if lj[l] >= 0:
                active += 1
        if active == 0:
            break
        # 2. derivative and Jacobian at every lane's current point (a lane that was just rejected gets the same
        # values again: same inputs, same bits)
        _v_point#SUFFIX#(W)
        # 3. per lane: the step size of this attempt
        for l in range(LANES):
            W[O_ACC + l] = 0.0
            if lj[l] < 0:
                continue
            lsteps[l] += 1
            t = lt[l]
            e = le[l]
            if lrestart[l]:
                _lane_column(W, O_Y, l, yv)
                _lane_column(W, O_F0, l, f0)
                hh0 = _hinit(t, yv, f0, pl[l], dl[l], e - t, atol, rtol, yt, fs)
                lh[l] = hh0 if (lh[l] == 0.0 or hh0 < lh[l]) else lh[l]
                lrestart[l] = False
            hh = lh[l]
            last = False
            if t + LAST_STEP_STRETCH * hh >= e:
                hh = e - t
                last = True
            if hh < MIN_STEP_RELATIVE * max(1.0, abs(t)):
                _finish(red[l], lj[l], lacc[l], lrej[l], STATUS_STEP_UNDERFLOW, stats, red_max, red_tmax, red_min,
                        red_tmin, red_base)
                lj[l] = -1
                continue
            lhh[l] = hh
            llast[l] = last
            ih = 1.0 / hh
            W[O_HH + l] = hh
            W[O_IH + l] = ih
            W[O_CF + l] = 1.0 / (hh * GAMMA)
            if TIME_DEPENDENT:
                # h per state, so that the stage loops over states and lanes stay flat
                for i in range(n):
                    W[O_HHV + i * LANES + l] = hh
        # 4. the attempted step of every lane
        _v_step#SUFFIX#(W, rtol)
        # 5. per lane: accept or reject, dense output, next step size
        for l in range(LANES):
            if lj[l] < 0:
                continue
            hh = lhh[l]
            if W[O_OK + l] == 0.0:
                lrej[l] += 1
                lh[l] = hh * FAC_MIN
                llastrej[l] = True
                _keep_point(W, l)
                continue
            err = W[O_ERR + l]
            if not (err <= 1.0):
                lrej[l] += 1
                if err != err or err > 1e300:
                    fac = FAC_MIN
                else:
                    fac = W[O_FAC + l]
                    if fac < FAC_MIN:
                        fac = FAC_MIN
                lh[l] = hh * fac
                llastrej[l] = True
                _keep_point(W, l)
                continue
            lacc[l] += 1
            t = lt[l]
            e = le[l]
            last = llast[l]
            t_new = e if last else t + hh
            kp = lkp[l]
            khi = lkhi[l]
            if kp < khi and t_out[kp] <= t_new + TIME_EPS:
                # the hot output path: the continuous extension's states at each output time go to the lane's
                # buffer; a full buffer is observed and recorded at once (_flush). Written here rather than
                # through _push_exact's slot logic: as a shared helper it made the output path ~1.5x slower
                B = bufs[l]
                fill = lfill[l]
                while kp < khi and t_out[kp] <= t_new + TIME_EPS:
                    th = (t_out[kp] - t) / hh
                    if th > 1.0:
                        th = 1.0
                    elif th < 0.0:
                        th = 0.0
                    th1 = 1.0 - th
                    if dense_fixed:
#FIXED_DENSE#
                    else:
                        for ii in range(nd):
                            i = dense_idx[ii]
                            q = i * LANES + l
                            B[B_Y + i * SLOTS + fill] = th1 * W[O_Y + q] + th * (W[O_YN + q] + th1 * (#KD_INNER#))
                    B[B_T + fill] = t_out[kp]
                    lslot[l, fill] = kp
                    fill += 1
                    if fill == SLOTS:
                        _flush(B, fill, lslot[l], pl[l], dl[l], obs_need, lj[l], obs_src, need_assign, store, t_ref,
                               red[l], samp_ptr, samp_var, samp_out)
                        fill = 0
                    kp += 1
                lfill[l] = fill
                lkp[l] = kp
            W[O_ACC + l] = 1.0
            lt[l] = t_new
            W[O_TT + l] = t_new
            fac = W[O_FAC + l] if err > 0.0 else FAC_MAX
            if fac > FAC_MAX:
                fac = FAC_MAX
            if llastrej[l] and fac > 1.0:
                fac = 1.0
            if fac < FAC_MIN:
                fac = FAC_MIN
            llastrej[l] = False
            if not last:
                lh[l] = hh * fac
            elif hh * fac > lh[l]:
                lh[l] = hh * fac
        # 6. accepted lanes move to their new point (rejected ones to where they are); the largest |y| so far
        # scales the next errors
        _v_accept(W, peak_weight)
        # 7. lanes that reached their segment end record its remaining outputs and go to the next segment
        for l in range(LANES):
            if lj[l] < 0 or W[O_ACC + l] == 0.0 or le[l] - lt[l] > TIME_EPS:
                continue
            kp = lkp[l]
            khi = lkhi[l]
            while kp < khi:
                lfill[l] = _push_exact(W, l, bufs[l], lfill[l], lslot[l], kp, t_out[kp], dense_idx, pl[l], dl[l],
                                       obs_need, lj[l], obs_src, need_assign, store, t_ref, red[l], samp_ptr,
                                       samp_var, samp_out)
                kp += 1
            lphase[l] = 0


'''


#: in the integer-power kernel, a subject whose fixed exponents are not all integers in 1..8 at a segment start
#: stops with STATUS_GENERAL_POWERS (run_batch then runs the batch with the general kernel)
IPOW_CHECK = """                    if _ipow_step(pv, dv) == 0.0:
                        _finish(red[l], j, lacc[l], lrej[l], STATUS_GENERAL_POWERS, stats, red_max, red_tmax,
                                red_min, red_tmin, red_base)
                        lj[l] = -1
                        continue"""


def kernel_source(method: Method, integer_powers: bool, fixed_dense: list[int]) -> str:
    """The lane kernels for `method`, dense output unrolled (vector functions come from `model_source`):
    `run_group`, and `run_group_i` on the integer-power step functions when the model has any.

    `fixed_dense`: the states whose interpolation at an output time is written out, one line per state with
    constant offsets, for callers that observe exactly those (`dense_fixed`; population runs: the states a summary
    reads); others loop over `dense_idx`. Written out, the interpolation takes ~40% less time (~5% of a
    population run)."""
    fixed = [f"""                        q = {i} * LANES + l
                        B[B_Y + {i} * SLOTS + fill] = th1 * W[O_Y + q] + th * (W[O_YN + q] + th1 * (#KD_INNER#))"""
             for i in fixed_dense] or ["                        pass"]
    text = KERNEL.replace("#FIXED_DENSE#", "\n".join(fixed)).replace("#KD_INNER#", dense_inner(method))
    kernels = [text.replace("#SUFFIX#", "").replace("#IPOW_CHECK#\n", "")]
    if integer_powers:
        kernels.append(text.replace("#SUFFIX#", INT_SUFFIX).replace("#IPOW_CHECK#", IPOW_CHECK))
    return "\n".join(kernels)


def constants(step: Layout, output: Layout) -> list[str]:
    """Module constants of the lane code: both layouts' offsets and sizes, the lane and group sizes."""
    return [*step.constants(), *output.constants(), f"LANES = {LANES}", f"SLOTS = {SLOTS}",
            f"GROUP_SUBJECTS = {GROUP_SUBJECTS}"]


def vector_observe(blocks: list[tuple[int, list[str], list[str]]], output: Layout) -> list[str]:
    """`_v_observe(B, p, d, need)`: the needed assignments at every slot of a lane's output buffer.

    `blocks` holds (assignment index, body, integer-power body). One straight-line loop over the slots per
    assignment, behind its `need` test: a test inside the loop would keep LLVM from vectorizing it."""
    out = [VECTOR_JIT, "def _v_observe(B, p, d, need):", "    ipow = _ipow_observe(p, d)"]
    for k, body, int_body in blocks:
        # the subject's parameters and constants are read before the loop: loads from arrays other than B
        # inside it would have to be repeated (they might alias B's stores) and the loop would stay scalar
        scalar = [ln for ln in body if re.match(r"\s*\w+ = [pd]\[\d+\]$", ln)]
        out.append(f"    if need[{k}]:")
        out += ["    " + ln for ln in scalar]
        out += versioned_loop([ln for ln in body if ln not in scalar], [ln for ln in int_body if ln not in scalar],
                              {"y": "Y", "out": "A"}, {"t": "T"}, output, "ipow != 0.0", indent="        ")
    out.append("    return")
    return out


def has_integer_powers(bodies: dict[str, list[str]]) -> bool:
    """Whether the step's bodies have integer-power versions that differ (`bodies[name + INT_SUFFIX]`)."""
    return any(bodies[name] != bodies[name + INT_SUFFIX] for name in ("rhs", "jac_var", "dfdt"))


def model_source(bodies: dict[str, list[str]], observe: list[tuple[int, list[str], list[str]]], layout: Layout,
                 output: Layout, method: Method, time_dependent: bool) -> list[str]:
    """Lane versions of the model functions: derivative and Jacobian at the lanes' points, one attempted step,
    the move of accepted lanes to their new points, and the observed assignments of a lane's buffered output
    times (`_v_observe`: there the vector runs over output times of one subject, whose parameters are scalars)."""
    blocks = []
    for suffix in ("", INT_SUFFIX) if has_integer_powers(bodies) else ("",):
        point = lane_loop(bodies["rhs" + suffix], {"y": "Y", "out": "F0", "p": "P", "d": "D"}, {"t": "TT"}, layout)
        point += lane_loop(bodies["jac_var" + suffix], {"y": "Y", "jv": "JV", "p": "P", "d": "D"}, {"t": "TT"},
                           layout)
        if time_dependent:
            point += lane_loop(bodies["dfdt" + suffix], {"y": "Y", "out": "FT", "p": "P", "d": "D"}, {"t": "TT"},
                               layout)
        blocks += [[VECTOR_JIT, f"def _v_point{suffix}(W):", *point, "    return"],
                   vector_step(method, time_dependent, bodies, layout, suffix)]
    # the factorization and one solve on their own: tests compare them with a dense solve (never compiled
    # by the integrator)
    factor_solve = vector_factor_body(bodies["factor"], layout)
    factor_solve += lane_loop(bodies["solve"], {"jv": "JV", "lu": "LU", "x": "K1"}, {}, layout)
    blocks += [
        vector_accept(),
        [VECTOR_JIT, "def _v_factor_solve(W):", *factor_solve, "    return"],
        vector_observe(observe, output),
    ]
    return [line for block in blocks for line in [*block, ""]]
