"""Shared fixtures: executors that are always closed, and a check that nothing leaks."""
import os

import pytest

from fuzzmm.sched.executor import Executor


def shm_segments_of(pid):
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"fuzzmm-{pid}-")]


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
