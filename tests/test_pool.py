"""The shared-memory pool: naming, permissions, attach by fork and by spawn, cleanup, errors.

Every test here uses real processes.  Children report through pipes and wait on
events, never on sleeps; every wait is bounded so a broken core fails a test
instead of hanging the run.  Work that may crash or hang the interpreter (a
segfault, a wait that cannot be interrupted) runs in a child process.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import multiprocess
import pytest

from fuzzmm import kernel as K
from fuzzmm.errors import PoolError
from fuzzmm.pool import Pool, cleanup_stale, unique_name

from waiting import HANG_S

FORK = multiprocess.get_context("fork")
SPAWN = multiprocess.get_context("spawn")
SHM = "/dev/shm"
WAIT_S = HANG_S      # upper bound on any wait for a child; tests finish far sooner


def segments_of(pid):
    return sorted(n for n in os.listdir(SHM) if n.startswith(f"fuzzmm-{pid}-"))


def exists(name):
    return os.path.exists(os.path.join(SHM, name))


@pytest.fixture
def make_pool():
    """Create pools that are closed at the end of the test; then check none of ours is left."""
    made = []

    def make(**kwargs):
        pool = Pool.create(**kwargs)
        made.append(pool)
        return pool
    yield make
    for pool in made:
        if not pool.closed:
            pool.close()
    left = segments_of(os.getpid())
    for name in left:               # do not let one leak fail every later test
        os.unlink(os.path.join(SHM, name))
    assert left == [], f"segments left behind: {left}"


def start(ctx, target, *args):
    proc = ctx.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def finish(proc, timeout=WAIT_S):
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join(5)
        pytest.fail(f"child {proc.pid} did not finish within {timeout} s")
    return proc.exitcode


def recv(conn, timeout=WAIT_S):
    if not conn.poll(timeout):
        pytest.fail(f"no message from a child within {timeout} s")
    return conn.recv()


def run_python(code, timeout=WAIT_S, **kwargs):
    """Run `code` in a fresh interpreter; a hang is killed and reported, never waited out."""
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        pass
    cleanup_stale()
    pytest.fail(f"child interpreter still running after {timeout} s")


# ---- children (module level, so that spawn can import them by name) ----

def _write_through_attach(name, page_index, conn):
    pool = Pool.attach(name)
    counter = pool.atomic()                 # same allocation order as the creator: same slot
    counter.add(41)
    page = pool.page(page_index)
    K.write_page(page, 0xC0FFEE)
    K.get_page(page)
    conn.send((os.getpid(), counter.peek(), page.state()["refcount"]))
    pool.close()


def _create_in_child(conn, go):
    pool = Pool.create(pages=8)
    pool.atomic(7)
    conn.send(pool.name)
    if go.wait(WAIT_S):
        pool.close()
        conn.send(exists(pool.name))
    else:
        pool.close()


def _attach_and_exit(name, conn):
    pool = Pool.attach(name)
    conn.send(pool.atomic().add(1))
    # no close(): the interpreter (spawn) or the process (fork) just ends


def _default_name(conn):
    conn.send((os.getpid(), unique_name()))


def _create_and_vanish(conn):
    pool = Pool.create(pages=4)
    conn.send(pool.name)
    os._exit(0)                             # no atexit, no finalizer: a crashed owner


# ---- create and attach ----

@pytest.mark.parametrize("ctx, node", [(FORK, 0), (SPAWN, 1)], ids=["fork", "spawn"])
def test_a_child_attaches_and_shares_memory(make_pool, ctx, node):
    """A fork or spawn child (fresh interpreter) that attaches by name sees and changes
    the creator's memory."""
    pool = make_pool(pages=8)
    counter = pool.atomic(1)
    page = K.alloc_pages_node(pool, node)
    reader, writer = ctx.Pipe(False)
    proc = start(ctx, _write_through_attach, pool.name, page.index, writer)
    pid, seen, refcount = recv(reader)
    assert finish(proc) == 0
    assert pid != os.getpid()
    assert seen == 42 and counter.peek() == 42
    assert K.read_page(page) == 0xC0FFEE
    assert refcount == 2 and K.page_count(page) == 2


def test_pool_created_in_a_fork_child_is_seen_by_the_parent(make_pool):
    """A pool a fork child creates is attachable by the parent and removed by the child's close."""
    reader, writer = FORK.Pipe(False)
    go = FORK.Event()
    proc = start(FORK, _create_in_child, writer, go)
    name = recv(reader)
    assert name.startswith(f"fuzzmm-{proc.pid}-")
    view = Pool.attach(name)
    try:
        assert view.atomic().peek() == 7
        assert not view.owner
    finally:
        view.close()
    go.set()
    assert recv(reader) is False, "the creating child's close() left its segment"
    assert finish(proc) == 0
    assert not exists(name)


def test_snapshot_restore_round_trip(make_pool):
    """restore() puts back the page and counter state a snapshot() took."""
    pool = make_pool(pages=4)
    counter = pool.atomic(5)
    snap = pool.snapshot()
    page = K.alloc_pages_node(pool, 0)
    K.get_page(page)
    counter.add(10)
    K.mod_node_page_state(pool, 0, K.NR_ISOLATED_ANON, 3)
    pool.restore(snap)
    assert counter.peek() == 5
    assert pool.page(page.index).state()["refcount"] == 0
    assert K.vmstat(pool, 0, K.NR_ISOLATED_ANON) == 0


# ---- names and permissions ----

def test_default_names_are_unique_per_call_process_and_xdist_worker(make_pool, monkeypatch):
    """Default names carry the pid and the xdist worker id, and differ between calls and processes."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    a, b = make_pool(pages=1), make_pool(pages=1)
    assert a.name != b.name
    for pool in (a, b):
        assert pool.name.startswith(f"fuzzmm-{os.getpid()}-{worker}-")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    assert unique_name().startswith(f"fuzzmm-{os.getpid()}-gw7-")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw8")
    assert unique_name().startswith(f"fuzzmm-{os.getpid()}-gw8-")
    reader, writer = FORK.Pipe(False)
    proc = start(FORK, _default_name, writer)
    child_pid, child_name = recv(reader)
    assert finish(proc) == 0
    assert child_name.startswith(f"fuzzmm-{child_pid}-gw8-") and child_pid != os.getpid()


def test_segment_mode_is_0600(make_pool):
    """The segment file in /dev/shm is readable and writable by its owner only."""
    pool = make_pool(pages=1)
    st = os.stat(os.path.join(SHM, pool.name))
    assert st.st_mode & 0o777 == 0o600
    assert st.st_uid == os.getuid()


def test_create_refuses_an_existing_name(make_pool):
    """Creating a pool under a name already in use is a PoolError, not a silent share."""
    pool = make_pool(pages=1)
    with pytest.raises(PoolError):
        Pool.create(name=pool.name)
    assert exists(pool.name)


# ---- cleanup ----

def _dead_pid():
    proc = FORK.Process(target=os._exit, args=(0,))
    proc.start()
    proc.join(WAIT_S)
    return proc.pid


def test_cleanup_stale_removes_segments_of_dead_owners_only(tmp_path):
    """cleanup_stale() unlinks segments whose owner pid is dead and keeps live and foreign ones."""
    dead = _dead_pid()
    stale = tmp_path / f"fuzzmm-{dead}-gw0-deadbeef"
    live = tmp_path / f"fuzzmm-{os.getpid()}-gw0-cafebabe"
    foreign = tmp_path / "someone-elses-segment"
    for path in (stale, live, foreign):
        path.write_bytes(b"x")
    assert cleanup_stale(str(tmp_path)) == [stale.name]
    assert not stale.exists() and live.exists() and foreign.exists()


def test_stale_segment_of_a_crashed_owner_is_removed_by_the_next_create(make_pool):
    """A segment left by an owner that died without cleanup is gone after the next Pool.create()."""
    for _ in range(3):      # another xdist worker's create may clean it up before we look
        reader, writer = FORK.Pipe(False)
        proc = start(FORK, _create_and_vanish, writer)
        name = recv(reader)
        assert finish(proc) == 0
        if exists(name):
            break
    else:
        pytest.skip("another process removed the stale segment before this test could")
    make_pool(pages=1)
    assert not exists(name)


def test_cleanup_stale_call_removes_a_crashed_owners_segment():
    """cleanup_stale() on /dev/shm removes the segment of an owner that died without cleanup."""
    reader, writer = FORK.Pipe(False)
    proc = start(FORK, _create_and_vanish, writer)
    name = recv(reader)
    assert finish(proc) == 0
    removed = cleanup_stale()
    # another xdist worker's create may have removed it first; either way it must be gone
    assert name in removed or not exists(name)
    assert not exists(name)


def test_close_leaves_nothing_in_dev_shm(make_pool):
    """After close() (or leaving a with block) the segment is gone and the pool says it is closed."""
    pool = make_pool(pages=2)
    name = pool.name
    assert exists(name)
    pool.close()
    assert not exists(name) and pool.closed
    pool.close()                            # closing twice is harmless
    with Pool.create(pages=2) as other:
        other_name = other.name
        assert exists(other_name)
    assert not exists(other_name)


def test_owner_exit_without_close_leaves_nothing():
    """An owner interpreter that exits normally without close() still removes its segment."""
    out = run_python("""
        import os
        from fuzzmm.pool import Pool
        pool = Pool.create(pages=2)
        print(os.getpid(), pool.name, flush=True)
    """)
    assert out.returncode == 0, out.stderr
    pid, name = out.stdout.split()
    assert not exists(name) and segments_of(pid) == []


@pytest.mark.parametrize("ctx", [FORK, SPAWN], ids=["fork", "spawn"])
def test_attaching_process_exit_does_not_unlink(make_pool, ctx):
    """A child that attaches and exits without close() leaves the owner's segment in place."""
    pool = make_pool(pages=2)
    pool.atomic()
    reader, writer = ctx.Pipe(False)
    proc = start(ctx, _attach_and_exit, pool.name, writer)
    assert recv(reader) == 1
    assert finish(proc) == 0
    assert exists(pool.name)
    again = Pool.attach(pool.name)
    try:
        assert again.atomic().peek() == 1
    finally:
        again.close()
    assert exists(pool.name)


def test_attaching_interpreter_exit_does_not_unlink(make_pool):
    """A separate interpreter that attaches, closes its view and exits leaves the segment in place."""
    pool = make_pool(pages=2)
    counter = pool.atomic()
    out = run_python(f"""
        from fuzzmm.pool import Pool
        pool = Pool.attach({pool.name!r})
        pool.atomic().add(5)
        try:
            pool.unlink()
        except Exception as exc:
            print(type(exc).__name__)
        pool.close()
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["PoolError"]
    assert exists(pool.name) and counter.peek() == 5


def _close_inherited(pool, conn):
    pool.close()
    conn.send(exists(pool.name))


def test_fork_child_closing_the_inherited_pool_does_not_unlink(make_pool):
    """A fork child closing the Pool object it inherited from the owner does not remove the segment."""
    pool = make_pool(pages=2)
    reader, writer = FORK.Pipe(False)
    proc = start(FORK, _close_inherited, pool, writer)
    assert recv(reader) is True
    assert finish(proc) == 0
    assert exists(pool.name) and pool.atomic(3).peek() == 3


def test_keyboard_interrupt_in_the_owner_leaves_nothing():
    """An owner that ends with KeyboardInterrupt (Ctrl-C) leaves no segment with its pid."""
    out = run_python("""
        import os
        from fuzzmm import kernel as K
        from fuzzmm.pool import Pool
        pool = Pool.create(pages=4)
        K.lock_page(K.alloc_pages_node(pool, 0))
        print(os.getpid(), pool.name, flush=True)
        raise KeyboardInterrupt
    """)
    assert "KeyboardInterrupt" in out.stderr
    pid, name = out.stdout.split()
    assert out.returncode != 0
    assert not exists(name) and segments_of(pid) == []


def test_sigint_in_the_owner_leaves_nothing():
    """A real SIGINT to an owner waiting on input leaves no segment with its pid."""
    code = textwrap.dedent("""
        import os, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from fuzzmm.pool import Pool
        pool = Pool.create(pages=4)
        print(os.getpid(), pool.name, flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid, name = proc.stdout.readline().split()
        assert exists(name)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in err
    assert not exists(name) and segments_of(pid) == []


def _futex_waiting(pid):
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "futex" in f.read()
    except OSError:
        return False


def test_sigint_interrupts_a_lock_page_wait_and_leaves_nothing():
    """Ctrl-C reaches an owner sleeping in lock_page, which then exits and removes its segment."""
    code = textwrap.dedent("""
        import os, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from fuzzmm import kernel as K
        from fuzzmm.pool import Pool
        pool = Pool.create(pages=4)
        page = K.alloc_pages_node(pool, 0)
        K.lock_page(page)
        print(os.getpid(), pool.name, flush=True)
        K.lock_page(page)          # waits for itself: only Ctrl-C ends this
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        pid, name = proc.stdout.readline().split()
        deadline = time.monotonic() + WAIT_S
        while not _futex_waiting(pid):
            if time.monotonic() > deadline:
                pytest.skip("cannot see from /proc whether the child sleeps on a futex")
            time.sleep(0.001)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            err = None
        if err is None:
            pytest.fail(f"SIGINT did not interrupt a lock_page wait within {WAIT_S} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            cleanup_stale()
    assert "KeyboardInterrupt" in err
    assert not exists(name) and segments_of(pid) == []


# ---- a worker killed while holding a lock ----

OWNER_DIED_SCRIPT = """
import json, os, signal, sys, time
import multiprocess
from fuzzmm import kernel as K
from fuzzmm.errors import OwnerDied
from fuzzmm.pool import Pool

what = sys.argv[1]
ctx = multiprocess.get_context("fork")
pool = Pool.create(pages=4)
page = K.alloc_pages_node(pool, 0)
lock = pool.mutex() if what == "mutex" else pool.spinlock()

def worker(name, index, conn):
    view = Pool.attach(name)
    mine = view.page(index)
    held = view.mutex() if what == "mutex" else view.spinlock()
    if what == "page":
        K.lock_page(mine)
    else:
        held.lock()
    conn.send("locked")
    conn.recv()                       # never answered: killed while holding the lock

parent_end, child_end = ctx.Pipe()
proc = ctx.Process(target=worker, args=(pool.name, page.index, child_end))
proc.start()
assert parent_end.poll(300) and parent_end.recv() == "locked"
os.kill(proc.pid, signal.SIGKILL)
proc.join()
start = time.monotonic()
try:
    if what == "page":
        K.lock_page(page)
    else:
        lock.lock()
    outcome = "acquired"
except OwnerDied as exc:
    outcome = "OwnerDied"
print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - start,
                  "name": pool.name, "pid": os.getpid(), "exitcode": proc.exitcode}), flush=True)
pool.close()
print(json.dumps({"left": os.path.exists("/dev/shm/" + pool.name)}), flush=True)
"""


@pytest.mark.parametrize("what", ["page", "mutex", "spinlock"])
def test_lock_held_by_a_killed_worker_raises_owner_died(what):
    """A lock held by a SIGKILLed worker raises OwnerDied in the parent within 2 s; its close leaves no segment."""
    try:
        out = subprocess.run([sys.executable, "-c", OWNER_DIED_SCRIPT, what], capture_output=True,
                             text=True, timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        out = None
    if out is None:
        cleanup_stale()
        pytest.fail(f"the parent's wait on a {what} held by a killed worker hung (no OwnerDied)")
    assert out.returncode == 0, out.stderr
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first["exitcode"] == -signal.SIGKILL
    assert first["outcome"] == "OwnerDied"
    assert first["seconds"] < 2.0
    assert second["left"] is False
    assert not exists(first["name"]) and segments_of(first["pid"]) == []


# ---- clear errors, never a segfault ----

def test_out_of_range_indices_raise_index_error(make_pool):
    """Page, node and counter indices out of range raise IndexError."""
    pool = make_pool(pages=8, nodes=2)
    for index in (-1, 8, 1000):
        with pytest.raises(IndexError):
            pool.page(index)
    with pytest.raises(IndexError):
        K.alloc_pages_node(pool, 2)
    with pytest.raises(IndexError):
        K.alloc_pages_node(pool, -1)
    with pytest.raises(IndexError):
        K.mod_node_page_state(pool, 0, 99, 1)
    with pytest.raises(IndexError):
        K.vmstat(pool, 5, 0)


def test_wrong_types_raise_type_error(make_pool):
    """Wrong argument types raise TypeError."""
    pool = make_pool(pages=8)
    page = K.alloc_pages_node(pool, 0)
    with pytest.raises(TypeError):
        pool.page("1")
    with pytest.raises(TypeError):
        K.get_page(3)
    with pytest.raises(TypeError):
        K.lock_page(pool)
    with pytest.raises(TypeError):
        K.alloc_pages_node(page, 0)
    with pytest.raises(TypeError):
        Pool.attach(5)
    with pytest.raises(TypeError):
        pool.atomic().add("x")
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(pool)
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(page)


def test_attach_to_a_missing_or_foreign_segment_raises_pool_error(tmp_path):
    """Attaching to a name that does not exist, or to a segment that is not a pool, is a PoolError."""
    with pytest.raises(PoolError):
        Pool.attach(f"fuzzmm-{os.getpid()}-nothere-{os.urandom(4).hex()}")
    name = f"fuzzmm-{os.getpid()}-foreign-{os.urandom(4).hex()}"
    path = os.path.join(SHM, name)
    with open(path, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(b"\0" * 8192)
    try:
        with pytest.raises(PoolError):
            Pool.attach(name)
    finally:
        os.unlink(path)


# Each probe runs in a fork child so that a segfault fails one case instead of the whole run.
# `pool` and `page` are a fresh pool and a page allocated in it; `closed` means the pool is
# closed before the probe runs.
PROBES = [
    ("page(0) of a closed pool", True, lambda pool, page: pool.page(0), PoolError),
    ("atomic() of a closed pool", True, lambda pool, page: pool.atomic(), PoolError),
    ("alloc_pages_node on a closed pool", True, lambda pool, page: K.alloc_pages_node(pool, 0), PoolError),
    ("vmstat on a closed pool", True, lambda pool, page: K.vmstat(pool, 0, 0), PoolError),
    ("snapshot of a closed pool", True, lambda pool, page: pool.snapshot(), PoolError),
    ("get_page through a handle of a closed pool", True, lambda pool, page: K.get_page(page), PoolError),
    ("put_page through a handle of a closed pool", True, lambda pool, page: K.put_page(page), PoolError),
    ("lock_page through a handle of a closed pool", True, lambda pool, page: K.lock_page(page), PoolError),
    ("unlock_page through a handle of a closed pool", True, lambda pool, page: K.unlock_page(page), PoolError),
    ("page_count through a handle of a closed pool", True, lambda pool, page: K.page_count(page), PoolError),
    ("state() through a handle of a closed pool", True, lambda pool, page: page.state(), PoolError),
    ("get_page(None)", False, lambda pool, page: K.get_page(None), TypeError),
    ("put_page(None)", False, lambda pool, page: K.put_page(None), TypeError),
    ("lock_page(None)", False, lambda pool, page: K.lock_page(None), TypeError),
    ("alloc_pages_node(None, 0)", False, lambda pool, page: K.alloc_pages_node(None, 0), TypeError),
    ("vmstat(None, 0, 0)", False, lambda pool, page: K.vmstat(None, 0, 0), TypeError),
    ("page(1.5)", False, lambda pool, page: pool.page(1.5), TypeError),
]


def _probe(index, conn):
    label, closed, call, expected = PROBES[index]
    pool = Pool.create(pages=4)
    page = K.alloc_pages_node(pool, 0)
    if closed:
        pool.close()
    try:
        result = call(pool, page)
        outcome = ("returned", repr(result))
    except BaseException as exc:   # noqa: B902 - report whatever it is
        outcome = (type(exc).__name__, str(exc))
    conn.send(outcome)
    if not pool.closed:
        pool.close()


@pytest.mark.parametrize("index", range(len(PROBES)), ids=[p[0] for p in PROBES])
def test_misuse_raises_a_python_exception_never_segfaults(index):
    """Closed pools and wrong argument types raise PoolError / TypeError in a live process."""
    label, closed, call, expected = PROBES[index]
    reader, writer = FORK.Pipe(False)
    proc = start(FORK, _probe, index, writer)
    code = finish(proc)
    outcome = reader.recv() if reader.poll(0) else None
    segments = segments_of(proc.pid)
    for name in segments:           # a crashed child cannot clean up after itself
        os.unlink(os.path.join(SHM, name))
    assert code == 0, f"{label}: child died with exit code {code} (signal {-code if code < 0 else None})"
    assert outcome is not None
    assert outcome[0] == expected.__name__, f"{label}: got {outcome}, expected {expected.__name__}"
    assert segments == []
