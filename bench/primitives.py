"""Primitive operations per second from Python, against multiprocess.Value measured in the same run.

Measured, each for --seconds, in 1 process and in 2 processes hammering the same object:

- fuzzmm get_page + put_page pairs on one page, and lock_page + unlock_page pairs;
- the same work with a multiprocess.Value and its lock: `with lock: value.value += 1` then
  `with lock: value.value -= 1` stands for a get/put pair, `lock.acquire(); lock.release()` for a
  lock/unlock pair.

fuzzmm is measured twice: with the event ring recording every operation (as in a fuzzing run,
where the ring is emptied between runs; here it is emptied between batches of 8192 pairs per
process, outside the timed windows), and with the ring turned off.  Each figure comes from fresh
fork children that start together on a barrier; a 2-process figure is both processes' pairs
over the wall time in which they ran together.  The headline, `ratio_vs_mp_value`, is fuzzmm
get+put pairs/s (ring recording) over multiprocess.Value pairs/s, both in 1 process;
`ratio_vs_mp_value_ring_off` is the same with the ring off.

    python bench/primitives.py [--seconds 1.0] [--json]
"""
import argparse
import json
import os
import platform
import sys
import time

import multiprocess

from fuzzmm import kernel as K
from fuzzmm._core import set_ring
from fuzzmm.pool import Pool

CTX = multiprocess.get_context("fork")
BATCH = 8192            # pairs per process between ring resets: 2 x 2 x 8192 records < ring size
RING = 1 << 16


class _NoBarrier:
    def wait(self, timeout=None):
        return 0


def _pairs(first, second, page, r):
    for _ in r:
        first(page)
        second(page)


def _fuzzmm_worker(idx, name, page_index, stop_offset, what, seconds, snap, barrier, conn):
    """Run batches of pairs until process 0 says stop.  Process 0 also reports the wall time of
    the batches, from the start of a batch until every process has finished it (resets excluded)."""
    pool = Pool.attach(name)
    page = pool.page(page_index)
    stop = K.Atomic(pool, stop_offset)
    if what == "get_put":
        first, second = K.get_page, K.put_page
    else:
        first, second = K.lock_page, K.unlock_page
    r = range(BATCH)
    pairs, window = 0, 0.0
    barrier.wait()
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        _pairs(first, second, page, r)
        pairs += BATCH
        barrier.wait()              # everybody done with the batch and quiescent
        window += time.perf_counter() - t0
        if idx == 0:
            pool.restore(snap)      # the reset between two runs: ring emptied, state as it was
            if time.perf_counter() - start >= seconds:
                stop.poke(1)
        barrier.wait()
        if stop.peek():
            break
    conn.send((pairs, window))
    pool.close()


def _mp_worker(idx, value, what, seconds, barrier, conn):
    lock = value.get_lock()
    r = range(BATCH)
    pairs = 0
    barrier.wait()
    start = time.perf_counter()
    while True:
        if what == "get_put":
            for _ in r:
                with lock:
                    value.value += 1
                with lock:
                    value.value -= 1
        else:
            for _ in r:
                lock.acquire()
                lock.release()
        pairs += BATCH
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    conn.send((pairs, elapsed))


def _run(nproc, target, make_args):
    """Start `nproc` fork children of target(idx, *make_args(barrier), conn), started together;
    return all their pairs over the longest time any of them reports."""
    barrier = CTX.Barrier(nproc) if nproc > 1 else _NoBarrier()
    procs, pipes = [], []
    for idx in range(nproc):
        reader, writer = CTX.Pipe(False)
        proc = CTX.Process(target=target, args=(idx, *make_args(barrier), writer), daemon=True)
        proc.start()
        procs.append(proc)
        pipes.append(reader)
    results = [reader.recv() for reader in pipes]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"benchmark worker {proc.pid} failed with exit code {proc.exitcode}")
    return sum(pairs for pairs, _ in results) / max(secs for _, secs in results)


def fuzzmm_rate(what, nproc, seconds, ring):
    """Pairs per second of fuzzmm primitives on one page, summed over `nproc` processes."""
    pool = Pool.create(pages=4, nodes=1, ring=RING)
    try:
        page = K.alloc_pages_node(pool, 0)
        stop = pool.atomic(0)
        set_ring(pool, ring)
        snap = pool.snapshot()
        return _run(nproc, _fuzzmm_worker,
                    lambda b: (pool.name, page.index, stop.offset, what, seconds, snap, b))
    finally:
        pool.close()


def mp_rate(what, nproc, seconds):
    """Pairs per second of the same work on a multiprocess.Value with its lock."""
    value = CTX.Value("q", 0)
    rate = _run(nproc, _mp_worker, lambda b: (value, what, seconds, b))
    if value.value != 0:
        raise SystemExit(f"multiprocess.Value ended at {value.value}, not 0")
    return rate


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Operations per second of fuzzmm's page primitives called from Python, in 1 and "
                    "2 processes, next to multiprocess.Value with its lock measured in the same run.")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="duration of each measurement in seconds (default 1.0)")
    parser.add_argument("--json", action="store_true",
                        help="end with one line holding a JSON object of every figure")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")

    figures = {}
    rows = []
    for nproc in (1, 2):
        for what, label in (("get_put", "get+put"), ("lock_unlock", "lock+unlock")):
            ring = fuzzmm_rate(what, nproc, args.seconds, True)
            off = fuzzmm_rate(what, nproc, args.seconds, False)
            mp = mp_rate(what, nproc, args.seconds)
            figures[f"fuzzmm_{what}_pairs_per_s_{nproc}p"] = round(ring)
            figures[f"fuzzmm_{what}_pairs_per_s_{nproc}p_ring_off"] = round(off)
            figures[f"mp_value_{what}_pairs_per_s_{nproc}p"] = round(mp)
            figures[f"ratio_{what}_{nproc}p"] = round(ring / mp, 2)
            figures[f"ratio_{what}_{nproc}p_ring_off"] = round(off / mp, 2)
            rows.append((f"{label} pairs, {nproc} process{'es' if nproc > 1 else ''}", ring, off, mp))

    figures["ratio_vs_mp_value"] = figures["ratio_get_put_1p"]
    figures["ratio_vs_mp_value_ring_off"] = figures["ratio_get_put_1p_ring_off"]
    figures["seconds"] = args.seconds
    figures["cpus"] = os.cpu_count()
    figures["python"] = platform.python_version()

    print(f"{'':34} {'fuzzmm (ring)':>14} {'fuzzmm (no ring)':>17} {'mp.Value':>12} {'ratio':>7} {'no ring':>8}")
    for label, ring, off, mp in rows:
        print(f"{label:34} {ring:14,.0f} {off:17,.0f} {mp:12,.0f} {ring / mp:7.2f} {off / mp:8.2f}")
    print("pairs per second, summed over the processes; ratio = fuzzmm / multiprocess.Value")
    print(f"ratio_vs_mp_value (get+put, 1 process, ring recording): {figures['ratio_vs_mp_value']:.2f}"
          f"   (ring off: {figures['ratio_vs_mp_value_ring_off']:.2f}; target >= 10)")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
