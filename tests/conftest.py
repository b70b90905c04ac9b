"""Shared fixtures: pools and executors that are always closed, and a check that nothing leaks."""
import os

import pytest

from fuzzmm.pool import Pool
from fuzzmm.sched.executor import Executor


def shm_segments_of(pid):
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"fuzzmm-{pid}-")]


@pytest.fixture
def pool():
    """A fresh pool of 16 pages on 2 nodes, closed (and so unlinked) at the end of the test."""
    p = Pool.create(pages=16, nodes=2)
    yield p
    p.close()
    assert not os.path.exists(f"/dev/shm/{p.name}")


@pytest.fixture
def make_executor():
    """Build executors that are closed at the end of the test, whatever happens."""
    made = []

    def make(program, **kwargs):
        ex = Executor(program, **kwargs)
        made.append(ex)
        return ex
    yield make
    for ex in made:
        ex.close()
    assert shm_segments_of(os.getpid()) == [], "a test left a shared-memory segment behind"
