"""fuzzmm.proctree: the processes below a process, found to be killed with it."""
import subprocess
import time

from fuzzmm import proctree


def test_descendants_are_found_both_ways_and_kill_ends_them(monkeypatch):
    """A shell's two `sleep`s are found below it, from the children files and from a scan of every
    process alike, and kill() ends them."""
    shell = subprocess.Popen(["bash", "-c", "sleep 30 & sleep 30 & wait"])
    deadline = time.monotonic() + 10
    while len(proctree.descendants(shell.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    found = proctree.descendants(shell.pid)
    with monkeypatch.context() as patch:      # a kernel that keeps no children files: a scan of every parent
        patch.setattr(proctree, "_children", lambda pid: None)
        assert len(found) == 2 and sorted(found) == sorted(proctree.descendants(shell.pid))
    proctree.kill(found + [shell.pid])
    shell.wait(10)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in found) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(_gone(pid) for pid in found)


def _gone(pid):
    """Ended: no such process, or a zombie its new parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
