"""Dose events and output times packed into arrays for the batched kernel, with the reference path's semantics.

Same rules as `piecewise.integrate`: event times closer than TIME_EPS are one instant; events at a boundary are
applied before integrating the segment that starts there (`time >= t`: an output at a dose time sees the dose);
an event-free segment [a, b) owns the outputs at a <= t < b, the last one also t = t_end; events after the last
output time are not applied. Boundaries are shared by all subjects; amounts and rates are per subject, so a
subject with a different lag simply has zeros in the events that belong to others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import KetasimError
from ..codegen import CompiledSystem
from ..events import TIME_EPS, DoseEvent, check_times, segment_boundaries

Array = np.ndarray

#: event kinds in the packed arrays
KIND_BOLUS = 0
KIND_RATE = 1


@dataclass(frozen=True)
class Schedule:
    """Segment boundaries, the events applied at each, and the outputs each segment owns."""

    bounds: Array  # (B,) float: segment b runs from bounds[b] to bounds[b + 1] (the last one has length 0)
    ev_ptr: Array  # (B + 1,) int64: events of boundary b are ev_ptr[b]:ev_ptr[b + 1]
    ev_kind: Array  # (E,) int64: KIND_BOLUS (target = permuted state position) or KIND_RATE (parameter index)
    ev_target: Array  # (E,) int64
    ev_value: Array  # (E, N) float: amount (bolus) or rate change per subject
    out_lo: Array  # (B,) int64
    out_hi: Array  # (B,) int64


def pack(
    compiled: CompiledSystem, position: Array, events: Sequence[DoseEvent], t_out: Array, t_start: float, n: int
) -> Schedule:
    """Pack events and output ownership; `position` maps original state index to permuted position."""
    t_out = check_times(t_out, t_start)
    t_end = float(t_out[-1])
    merged, pending = segment_boundaries(events, t_start, t_end)
    kinds: list[int] = []
    targets: list[int] = []
    values: list[Array] = []
    ev_ptr = [0]
    out_lo: list[int] = []
    out_hi: list[int] = []
    k_event = 0
    for i_seg, a in enumerate(merged):
        while k_event < len(pending) and pending[k_event].time <= a + TIME_EPS:
            ev = pending[k_event]
            if ev.state not in compiled.system.states:
                raise KetasimError(f"a dose event targets {ev.state!r}, which is not a state of the model")
            si = compiled.state_index(ev.state)
            if np.any(np.asarray(ev.amount) != 0):
                kinds.append(KIND_BOLUS)
                targets.append(int(position[si]))
                values.append(np.broadcast_to(np.asarray(ev.amount, dtype=float), (n,)))
            if np.any(np.asarray(ev.rate) != 0):
                pid = compiled.system.inputs.get(ev.state)
                if pid is None:
                    raise KetasimError(f"state {ev.state!r} does not accept infusions")
                kinds.append(KIND_RATE)
                targets.append(compiled.param_index(pid))
                values.append(np.broadcast_to(np.asarray(ev.rate, dtype=float), (n,)))
            k_event += 1
        ev_ptr.append(len(kinds))
        last = i_seg == len(merged) - 1
        b = t_end if last else merged[i_seg + 1]
        mask = (t_out >= a - TIME_EPS) & ((t_out < b - TIME_EPS) | (last & (t_out <= b + TIME_EPS)))
        idx = np.nonzero(mask)[0]
        if len(idx) and (idx[-1] - idx[0] + 1 != len(idx)):
            raise AssertionError("output times of a segment are not contiguous")
        lo = int(idx[0]) if len(idx) else (out_hi[-1] if out_hi else 0)
        out_lo.append(lo)
        out_hi.append(lo + len(idx))
    ev_value = np.stack(values) if values else np.zeros((0, n))
    return Schedule(
        bounds=np.asarray(merged, dtype=float), ev_ptr=np.asarray(ev_ptr, dtype=np.int64),
        ev_kind=np.asarray(kinds, dtype=np.int64), ev_target=np.asarray(targets, dtype=np.int64),
        ev_value=np.ascontiguousarray(ev_value, dtype=float), out_lo=np.asarray(out_lo, dtype=np.int64),
        out_hi=np.asarray(out_hi, dtype=np.int64),
    )
