"""Which CPU each controlled-mode job of a campaign is pinned to.

A controlled job runs one task at a time, so pinning the job and its workers to
one CPU costs nothing and keeps every hand-off on that core.  Which core is the
question.  Counting up from CPU 0 put every one-job campaign on CPU 0: two
campaigns on one machine (two users, or tests run by pytest-xdist) then shared
one core while the others idled.  The kernel knows better: it places a newly
forked process on an idle CPU, counting everyone's load.  So a job keeps the CPU
the kernel started it on, unless another job of its own campaign already holds
that one; the claims live in shared memory, taken under a lock, so jobs started
together never pick the same CPU.
"""
import os


def current_cpu():
    """The CPU this process runs on now, from /proc (None where that cannot be read)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[36])          # field 39, "processor"; fields after the name start at 3
    except (OSError, IndexError, ValueError):
        return None


class CpuClaims:
    """The CPUs a campaign's jobs hold, one job per CPU, shared between the campaign and its jobs."""

    LOCK_WAIT_S = 2.0   # a job killed while holding the claims' lock must not stop the campaign

    def __init__(self, ctx):
        self.cpus = sorted(os.sched_getaffinity(0))
        self._holders = ctx.Array("q", max(self.cpus) + 1)     # per CPU: the pid of the job on it, 0 if none
        self._lock = self._holders.get_lock()
        self._pids = self._holders.get_obj()    # read and written under _lock (indexing the wrapper takes it)

    def claim(self):
        """In a job: pin this process to the CPU the kernel put it on, or else to a free
        one (the highest: CPU 0 tends to serve the machine's interrupts); None, and no
        pinning, when the campaign's jobs already hold every CPU."""
        here = current_cpu()
        if not self._lock.acquire(timeout=self.LOCK_WAIT_S):
            return None
        try:
            free = [c for c in self.cpus if self._pids[c] == 0]
            if not free:
                return None
            cpu = here if here in free else free[-1]
            self._pids[cpu] = os.getpid()
        finally:
            self._lock.release()
        os.sched_setaffinity(0, {cpu})
        return cpu

    def release(self, pid):
        """In the campaign: free whatever the job with this pid held (it ended or died).
        Done without the lock if a job killed while holding it left it taken."""
        locked = self._lock.acquire(timeout=self.LOCK_WAIT_S)
        try:
            for cpu in self.cpus:
                if self._pids[cpu] == pid:
                    self._pids[cpu] = 0
        finally:
            if locked:
                self._lock.release()

    def held(self):
        """{cpu: pid} of the CPUs held now."""
        return {cpu: self._pids[cpu] for cpu in self.cpus if self._pids[cpu]}
