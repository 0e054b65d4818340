"""RODAS4: a 6-stage, order-4(3), L-stable, stiffly accurate Rosenbrock method with dense output.

Why this method: the model is stiff (brain equilibration ke0 ~ 40/h and interneuron dynamics ~ 20/h next to spine
turnover ~ 0.002/h over 12 weeks), so explicit methods would need ~10^5 steps. A Rosenbrock method is linearly
implicit: one Jacobian and one block-triangular factorization per step, no Newton iterations, no convergence
failures. Being stiffly accurate, it damps the fast transients after each dose exactly like an implicit Euler step
would, while keeping fourth order on the smooth parts. Its continuous extension gives third-order values at any
output time inside a step, so output grids never force small steps.

Coefficients: Hairer & Wanner, Solving ODEs II (2nd ed., 1996), section IV.7, method RODAS (their rodas.f,
METH=1), in the "W = I/(h gamma) - J" formulation; dense output coefficients from the same source.

`kernel_source(METHOD, time_dependent)` is the numba source of the integrator: the template `KERNEL` with the
method's stages unrolled and its coefficients inlined. It is not imported as Python: `jit.py` pastes it after the
model's generated rate laws (`_rhs`, `_jac_const`, `_jac_var`, `_dfdt`, `_observe`) into one module file, so that
numba compiles the rate laws inline and can cache the result on disk.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """A stiffly accurate Rosenbrock method in the "W = I/(h gamma) - J" form of Hairer & Wanner.

    Stage i (1-based) solves W k_i = f(t + c_i h, y + sum_j A_ij k_j) + h d_i f_t + sum_j (C_ij / h) k_j.
    Stages up to `explicit` use the A_ij; the later ones (c = 1, d = 0) start from the previous stage's point
    plus that stage's increment, and the new solution is the last point plus the last increment, which is also
    the error estimate (the embedded solution is the point of the last stage). `dense` holds the rows of the
    continuous extension y(t + theta h) = (1-theta) y0 + theta (y1 + (1-theta)(D1 + theta (D2 + theta D3 ...))),
    D_r = sum_j dense[r][j] k_j.
    """

    name: str
    order: int  # classical order (the initial-step heuristic uses 1 / (order + 1))
    error_order: int  # order of the embedded solution: the controller uses 1 / (error_order + 1)
    stages: int
    explicit: int
    gamma: float
    a: dict[tuple[int, int], float]
    c: dict[tuple[int, int], float]
    cc: dict[int, float]  # stage times c_i (those not listed are 0 for stage 1, 1 for the others)
    d: dict[int, float]
    dense: tuple[tuple[float, ...], ...]


#: RODAS4: Hairer & Wanner, Solving ODEs II (2nd ed., 1996), section IV.7, method RODAS (their rodas.f, METH=1)
RODAS4 = Method(
    name="RODAS4", order=4, error_order=3, stages=6, explicit=5, gamma=0.25,
    a={(2, 1): 1.544000000000000,
       (3, 1): 0.9466785280815826, (3, 2): 0.2557011698983284,
       (4, 1): 3.314825187068521, (4, 2): 2.896124015972201, (4, 3): 0.9986419139977817,
       (5, 1): 1.221224509226641, (5, 2): 6.019134481288629, (5, 3): 12.53708332932087,
       (5, 4): -0.6878860361058950},
    c={(2, 1): -5.668800000000000,
       (3, 1): -2.430093356833875, (3, 2): -0.2063599157091915,
       (4, 1): -0.1073529058151375, (4, 2): -9.594562251023355, (4, 3): -20.47028614809616,
       (5, 1): 7.496443313967647, (5, 2): -10.24680431464352, (5, 3): -33.99990352819905,
       (5, 4): 11.70890893206160,
       (6, 1): 8.083246795921522, (6, 2): -7.981132988064893, (6, 3): -31.52159432874371,
       (6, 4): 16.31930543123136, (6, 5): -6.058818238834054},
    cc={2: 0.386, 3: 0.21, 4: 0.63},
    d={1: 0.25, 2: -0.1043, 3: 0.1035, 4: -0.0362},
    dense=((10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823, 1.025137723295662),
           (-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386, -6.594389125716872)),
)

#: Rodas5P: Steinebach, "Construction of Rosenbrock-Wanner method Rodas5P and numerical benchmarks within the
#: Julia Differential Equations package", BIT Numer. Math. 63 (2023); 8 stages, order 5(4), stiffly accurate,
#: L-stable, with a fourth-order continuous extension. Coefficients as published with OrdinaryDiffEq.jl
#: (Rodas5PTableau), which uses the same formulation.
RODAS5P = Method(
    name="Rodas5P", order=5, error_order=4, stages=8, explicit=6, gamma=0.21193756319429014,
    a={(2, 1): 3.0,
       (3, 1): 2.849394379747939, (3, 2): 0.45842242204463923,
       (4, 1): -6.954028509809101, (4, 2): 2.489845061869568, (4, 3): -10.358996098473584,
       (5, 1): 2.8029986275628964, (5, 2): 0.5072464736228206, (5, 3): -0.3988312541770524,
       (5, 4): -0.04721187230404641,
       (6, 1): -7.502846399306121, (6, 2): 2.561846144803919, (6, 3): -11.627539656261098,
       (6, 4): -0.18268767659942256, (6, 5): 0.030198172008377946},
    c={(2, 1): -14.155112264123755,
       (3, 1): -17.97296035885952, (3, 2): -2.859693295451294,
       (4, 1): 147.12150275711716, (4, 2): -1.41221402718213, (4, 3): 71.68940251302358,
       (5, 1): 165.43517024871676, (5, 2): -0.4592823456491126, (5, 3): 42.90938336958603,
       (5, 4): -5.961986721573306,
       (6, 1): 24.854864614690072, (6, 2): -3.0009227002832186, (6, 3): 47.4931110020768,
       (6, 4): 5.5814197821558125, (6, 5): -0.6610691825249471,
       (7, 1): 30.91273214028599, (7, 2): -3.1208243349937974, (7, 3): 77.79954646070892,
       (7, 4): 34.28646028294783, (7, 5): -19.097331116725623, (7, 6): -28.087943162872662,
       (8, 1): 37.80277123390563, (8, 2): -3.2571969029072276, (8, 3): 112.26918849496327,
       (8, 4): 66.9347231244047, (8, 5): -40.06618937091002, (8, 6): -54.66780262877968,
       (8, 7): -9.48861652309627},
    cc={2: 0.6358126895828704, 3: 0.4095798393397535, 4: 0.9769306725060716, 5: 0.4288403609558664},
    d={1: 0.21193756319429014, 2: -0.42387512638858027, 3: -0.3384627126235924, 4: 1.8046452872882734,
       5: 2.325825639765069},
    dense=((25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204,
            0.524948541321073, 1.1241088310450404, 0.4272876194431874, -0.17202221070155493),
           (-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796,
            20.176138334709044, 15.98066361424651, -6.789040303419874, -6.710236069923372),
           (11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643,
            -52.072871366152654, -59.78993625266729, -0.15582684282751913, 4.883087185713722)),
)

#: the method the kernel integrates with
#: the method the kernel integrates with. RODAS5P takes ~35% fewer steps at the same tolerances (1,470 against
#: 2,250 per subject for 12 weeks of Spravato) but each costs ~30% more and its output agrees less well with the
#: reference on the 12-week course (3e-4 against 1.7e-4 on mtorc1_drive at rtol 1e-6); at a tolerance that
#: restores the agreement it is no faster (docs/performance.md)
METHOD = RODAS4
ORDER = METHOD.order
ERROR_ORDER = METHOD.error_order

#: step-size control (Hairer & Wanner's defaults for RODAS): safety factor and bounds on the change per step
CONTROL: dict[str, float] = {
    "SAFETY": 0.9,
    "FAC_MIN": 0.2,  # never shrink by more than 5x per rejection
    "FAC_MAX": 6.0,  # never grow by more than 6x per accepted step
    "HINIT_FRACTION": 0.01,  # Hairer's initial step heuristic: 1% of the state / derivative scale
    "HINIT_FALLBACK": 1e-6,  # hours, when the state or its derivative is zero
    "HINIT_GROWTH": 100.0,
    "LAST_STEP_STRETCH": 1.01,  # take the segment end when it is within 1% of a step (no sliver steps)
    "MIN_STEP_RELATIVE": 1e-14,
    "PEAK_WEIGHT": 1.0,  # a step below this fraction of |t| (or of 1 h) is an underflow
}

#: status codes written per subject
STATUS_OK = 0
STATUS_MAX_STEPS = 1
STATUS_STEP_UNDERFLOW = 2
STATUS_SINGULAR = 3

KERNEL = r'''
@njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "arcp"})
def _norm(v, y0, y1, ypeak, atol, rtol):
    acc = 0.0
    n = v.shape[0]
    for i in range(n):
        a = abs(y0[i])
        b = abs(y1[i])
        if b > a:
            a = b
        b = ypeak[i]
        if b > a:
            a = b
        sc = atol[i] + rtol * a
        r = v[i] / sc
        acc += r * r
    return math.sqrt(acc / n)


@njit(cache=True, nogil=True)
def _record(k, t, yv, p, dv, j, abuf, obs_src, need_assign, store, t_ref, red_max, red_tmax, red_min, red_tmin,
            red_base, samp_ptr, samp_var, samp_out):
    if need_assign:
        _observe(t, yv, p, dv, abuf)
    nv = obs_src.shape[0]
    if store.shape[0] > 0:
        for q in range(nv):
            src = obs_src[q]
            store[k, q, j] = yv[src] if src >= 0 else abuf[-src - 1]
    if red_max.shape[0] > 0:
        after = t >= t_ref - REF_EPS
        before = t <= t_ref + REF_EPS
        for q in range(nv):
            src = obs_src[q]
            val = yv[src] if src >= 0 else abuf[-src - 1]
            if after:
                if val > red_max[q, j]:
                    red_max[q, j] = val
                    red_tmax[q, j] = t - t_ref
                if val < red_min[q, j]:
                    red_min[q, j] = val
                    red_tmin[q, j] = t - t_ref
            if before or k == 0:
                red_base[q, j] = val
    for m in range(samp_ptr[k], samp_ptr[k + 1]):
        src = obs_src[samp_var[m]]
        samp_out[m, j] = yv[src] if src >= 0 else abuf[-src - 1]


@njit(cache=True, nogil=True)
def _hinit(t, y, f0, p, dv, seg, atol, rtol, y1, f1):
    n = y.shape[0]
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(y[i])
        d0 += (y[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    d0 = math.sqrt(d0 / n)
    d1 = math.sqrt(d1 / n)
    if d0 < 1e-5 or d1 < 1e-5:
        h0 = HINIT_FALLBACK
    else:
        h0 = HINIT_FRACTION * d0 / d1
    if h0 > seg:
        h0 = seg
    for i in range(n):
        y1[i] = y[i] + h0 * f0[i]
    _rhs(t + h0, y1, p, dv, f1)
    d2 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(y[i])
        d2 += ((f1[i] - f0[i]) / sc) ** 2
    d2 = math.sqrt(d2 / n) / h0
    big = d1 if d1 > d2 else d2
    if big <= 1e-15:
        h1 = max(HINIT_FALLBACK, h0 * 1e-3)
    else:
        h1 = (HINIT_FRACTION / big) ** (1.0 / (ORDER + 1))
    h = HINIT_GROWTH * h0
    if h1 < h:
        h = h1
    if seg < h:
        h = seg
    return h


@njit(cache=True, nogil=True)
def _subject(j, P, Y0, bounds, ev_ptr, ev_kind, ev_target, ev_value, t_out, out_lo, out_hi, rtol, atol,
             max_steps, peak_weight, nnz, n_assign, obs_src, need_assign, store, t_ref,
             red_max, red_tmax, red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out, stats):
    n = Y0.shape[1]
    y = Y0[j].copy()
    p = P[j].copy()
    f0 = np.empty(n)
    ft = np.zeros(n)
    fs = np.empty(n)
    yt = np.empty(n)
    yn = np.empty(n)
#ALLOC#
    yv = np.empty(n)
    jv = np.empty(nnz)
    lu = np.empty(LU_SIZE)
    dv = np.empty(N_DERIVED)
    abuf = np.empty(max(n_assign, 1))
    ypeak = np.zeros(n)
    accepted = 0
    rejected = 0
    h = 0.0
    n_seg = bounds.shape[0]
    b = 0
    while b < n_seg:
        restart = b == 0
        for m in range(ev_ptr[b], ev_ptr[b + 1]):
            v = ev_value[m, j]
            if v == 0.0:
                continue
            tgt = ev_target[m]
            if ev_kind[m] == 0:
                y[tgt] += v
                restart = True
            else:
                # an infusion switch keeps the state continuous: the current step size stays a good guess
                p[tgt] += v
                if abs(p[tgt]) < RATE_CLEAN * (1.0 + abs(v)):
                    p[tgt] = 0.0
        _derived(p, dv)
        _jac_const(p, dv, jv)
        # integrate through boundaries that hold no event of this subject (another subject's lag time), so
        # that a subject's steps never depend on who else is in the batch
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
        b = nb
        while kp < khi and t_out[kp] <= a + TIME_EPS:
            _record(kp, t_out[kp], y, p, dv, j, abuf, obs_src, need_assign, store, t_ref, red_max, red_tmax,
                    red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out)
            kp += 1
        if e - a <= TIME_EPS:
            while kp < khi:
                _record(kp, t_out[kp], y, p, dv, j, abuf, obs_src, need_assign, store, t_ref, red_max, red_tmax,
                        red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out)
                kp += 1
            continue
        t = a
        fresh = True
        last_rejected = False
        seg_steps = 0
        while e - t > TIME_EPS:
            if seg_steps >= max_steps:
                stats[j, 2] = STATUS_MAX_STEPS
                stats[j, 0] = accepted
                stats[j, 1] = rejected
                return
            seg_steps += 1
            if fresh:
                _rhs(t, y, p, dv, f0)
                _jac_var(t, y, p, dv, jv)
                if TIME_DEPENDENT:
                    _dfdt(t, y, p, dv, ft)
                fresh = False
                if restart:
                    hmax = e - t
                    hh0 = _hinit(t, y, f0, p, dv, hmax, atol, rtol, yt, fs)
                    h = hh0 if (h == 0.0 or hh0 < h) else h
                    restart = False
            hh = h
            last = False
            if t + LAST_STEP_STRETCH * hh >= e:
                hh = e - t
                last = True
            if hh < MIN_STEP_RELATIVE * max(1.0, abs(t)):
                stats[j, 2] = STATUS_STEP_UNDERFLOW
                stats[j, 0] = accepted
                stats[j, 1] = rejected
                return
            ok = _factor(jv, 1.0 / (hh * GAMMA), lu)
            if not ok:
                rejected += 1
                h = hh * FAC_MIN
                last_rejected = True
                continue
#STEP#
            if not (err <= 1.0):
                rejected += 1
                if err != err or err > 1e300:
                    fac = FAC_MIN
                else:
                    fac = SAFETY * err ** (-1.0 / (ERROR_ORDER + 1))
                    if fac < FAC_MIN:
                        fac = FAC_MIN
                h = hh * fac
                last_rejected = True
                continue
            accepted += 1
            t_new = e if last else t + hh
            if kp < khi and t_out[kp] <= t_new + TIME_EPS:
                # dense output: y(t + theta h) = (1-theta) y0 + theta (y1 + (1-theta)(kd1 + theta kd2))
#DENSE_PREP#
                while kp < khi and t_out[kp] <= t_new + TIME_EPS:
                    th = (t_out[kp] - t) / hh
                    if th > 1.0:
                        th = 1.0
                    elif th < 0.0:
                        th = 0.0
                    th1 = 1.0 - th
#DENSE_EVAL#
                    _record(kp, t_out[kp], yv, p, dv, j, abuf, obs_src, need_assign, store, t_ref, red_max,
                            red_tmax, red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out)
                    kp += 1
            for i in range(n):
                y[i] = yn[i]
                v = abs(yn[i]) * peak_weight
                if v > ypeak[i]:
                    ypeak[i] = v
            t = t_new
            fresh = True
            fac = SAFETY * err ** (-1.0 / (ERROR_ORDER + 1)) if err > 0.0 else FAC_MAX
            if fac > FAC_MAX:
                fac = FAC_MAX
            if last_rejected and fac > 1.0:
                fac = 1.0
            if fac < FAC_MIN:
                fac = FAC_MIN
            last_rejected = False
            if not last:
                h = hh * fac
            elif hh * fac > h:
                h = hh * fac
        while kp < khi:
            _record(kp, t_out[kp], y, p, dv, j, abuf, obs_src, need_assign, store, t_ref, red_max, red_tmax,
                    red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out)
            kp += 1
    stats[j, 0] = accepted
    stats[j, 1] = rejected
    stats[j, 2] = STATUS_OK


@njit(cache=True, parallel=True)
def kernel(P, Y0, bounds, ev_ptr, ev_kind, ev_target, ev_value, t_out, out_lo, out_hi, rtol, atol, max_steps,
           peak_weight, nnz, n_assign, obs_src, need_assign, store, t_ref, red_max,
           red_tmax, red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out, stats):
    for j in prange(P.shape[0]):
        _subject(j, P, Y0, bounds, ev_ptr, ev_kind, ev_target, ev_value, t_out, out_lo, out_hi, rtol, atol,
                 max_steps, peak_weight, nnz, n_assign, obs_src, need_assign, store, t_ref,
                 red_max, red_tmax, red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out, stats)


@njit(cache=True, nogil=True)
def kernel_serial(P, Y0, bounds, ev_ptr, ev_kind, ev_target, ev_value, t_out, out_lo, out_hi, rtol, atol, max_steps,
           peak_weight, nnz, n_assign, obs_src, need_assign, store, t_ref, red_max,
           red_tmax, red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out, stats):
    for j in range(P.shape[0]):
        _subject(j, P, Y0, bounds, ev_ptr, ev_kind, ev_target, ev_value, t_out, out_lo, out_hi, rtol, atol,
                 max_steps, peak_weight, nnz, n_assign, obs_src, need_assign, store, t_ref,
                 red_max, red_tmax, red_min, red_tmin, red_base, samp_ptr, samp_var, samp_out, stats)
'''


def _terms(coeffs: list[tuple[float, str]]) -> str:
    return " + ".join(f"{v!r} * {name}" for v, name in coeffs if v != 0.0)


def kernel_source(method: Method = METHOD, time_dependent: bool = False) -> str:
    """The numba source of the integrator for `method`: stages unrolled, coefficients inlined.

    The time-derivative terms h d_i f_t are emitted only for models whose laws read `time`.
    """
    m = method
    ind = " " * 12
    step = [f"{ind}ih = 1.0 / hh"]
    for i in range(1, m.stages + 1):
        step.append(f"{ind}# stage {i}")
        ci = m.cc.get(i, 0.0 if i == 1 else 1.0)
        if i == 1:
            src = "f0[i]"
        else:
            if i <= m.explicit:
                point = _terms([(m.a[(i, j)], f"k{j}[i]") for j in range(1, i) if (i, j) in m.a])
                step += [f"{ind}for i in range(n):", f"{ind}    yt[i] = y[i] + {point}"]
            else:
                step += [f"{ind}for i in range(n):", f"{ind}    yt[i] = yt[i] + k{i - 1}[i]"]
            step.append(f"{ind}_rhs(t + {ci!r} * hh, yt, p, dv, fs)")
            src = "fs[i]"
        expr = src
        if time_dependent and m.d.get(i, 0.0) != 0.0:
            expr += f" + hh * {m.d[i]!r} * ft[i]"
        cterms = _terms([(m.c[(i, j)], f"k{j}[i]") for j in range(1, i) if (i, j) in m.c])
        if cterms:
            expr += f" + ({cterms}) * ih"
        step += [f"{ind}for i in range(n):", f"{ind}    k{i}[i] = {expr}", f"{ind}_solve(jv, lu, k{i})"]
    last = m.stages
    step += [f"{ind}for i in range(n):", f"{ind}    yn[i] = yt[i] + k{last}[i]",
             f"{ind}err = _norm(k{last}, y, yn, ypeak, atol, rtol)"]
    ind2 = " " * 16
    prep = [f"{ind2}for i in range(n):"]
    for r, row in enumerate(m.dense):
        prep.append(f"{ind2}    kd{r}[i] = " + _terms([(v, f"k{j + 1}[i]") for j, v in enumerate(row)]))
    inner = f"kd{len(m.dense) - 1}[i]"
    for r in range(len(m.dense) - 2, -1, -1):
        inner = f"kd{r}[i] + th * ({inner})"
    ind3 = " " * 20
    ev = [f"{ind3}for i in range(n):", f"{ind3}    yv[i] = th1 * y[i] + th * (yn[i] + th1 * ({inner}))"]
    alloc = [f"    k{i} = np.empty(n)" for i in range(1, m.stages + 1)]
    alloc += [f"    kd{r} = np.empty(n)" for r in range(len(m.dense))]
    return (KERNEL.replace("#STEP#", "\n".join(step)).replace("#DENSE_PREP#", "\n".join(prep))
            .replace("#DENSE_EVAL#", "\n".join(ev)).replace("#ALLOC#", "\n".join(alloc)))
