# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled core of fuzzmm: the shared-memory pool and every primitive in it.

One extension module built from one include file per job (segment, ring; the
scheduler's decision routine, wait-for graph, run protocol and diagnostics;
atomics, locks and the locks a task holds, pages and their reference ownership,
counters) so that each primitive reaches the scheduling point and the event ring
by a direct C call, with no cross-module indirection on the hot path.
"""
from fz cimport *
from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from cpython.ref cimport PyObject, Py_XDECREF
import json
import os
import zlib

from fuzzmm.errors import Finding, RunAborted, PoolError, OwnerDied, KIND_CODE

include "segment.pxi"
include "ring.pxi"
include "decide.pxi"
include "waitfor.pxi"
include "diagnostics.pxi"
include "protocol.pxi"
include "decisions.pxi"
include "atomics.pxi"
include "locks.pxi"
include "held.pxi"
include "page.pxi"
include "ownership.pxi"
include "counters.pxi"
