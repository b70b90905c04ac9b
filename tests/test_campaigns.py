"""Campaigns over time: a shared Redis corpus, and surviving being killed."""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import multiprocess
import pytest

from fuzzmm import corpus, proctree
from fuzzmm.corpus.entry import CURATED, KEPT, REPLACED
from fuzzmm.errors import FuzzmmError
from fuzzmm.examples.lost_update import LostUpdate
from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule

from waiting import HANG_S, LATE_S, UNTIL_S, EndsAt, end_when, fuzz_until, is_finding, start_fuzz, within


def start_campaign(*args):
    return subprocess.Popen([sys.executable, "-m", "fuzzmm", "fuzz", "--model", "lost-update", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A real redis-server on a loopback port of its own, that a test may kill and start again
    (empty: it saves nothing)."""

    def __init__(self, directory):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed")
        pytest.importorskip("redis")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        import redis
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.directory)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.kill()
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """A real redis-server on loopback, for this test only."""
    return redis_server.url


@pytest.mark.slow
def test_two_campaigns_on_one_redis_share_one_deduplicated_corpus(redis_url, tmp_path):
    """Two campaigns (standing for two machines) end with one entry per signature in Redis."""
    runs = [start_fuzz("--model", "lost-update", "--executors", "1", "--seed", str(seed), "--corpus", redis_url,
                       "--json") for seed in (1, 2)]
    outs = [end_when(p, is_finding) for p in runs]      # both run until each has found the race
    assert [p.returncode for p in outs] == [1, 1], [p.stderr for p in outs]
    for proc in outs:
        summary = json.loads(proc.stdout.splitlines()[-1])
        assert summary["findings"][0]["corpus_file"].startswith(redis_url)
    from fuzzmm.corpus.store import open_store
    entries = [e for _, e in open_store(redis_url).entries()]
    assert [e.signature for e in entries] == ["assertion@LostUpdate.check"]
    exported = subprocess.run([sys.executable, "-m", "fuzzmm", "corpus", "export", redis_url, str(tmp_path / "c")],
                              capture_output=True, text=True)
    assert exported.returncode == 0
    [path] = list((tmp_path / "c").glob("*.json"))
    assert corpus.replay(corpus.load(str(path))).reproduced


def test_a_redis_entry_of_a_newer_format_or_unreadable_is_not_lost(redis_url):
    """As in a directory: a newer format's entry stays as it is; an unreadable one is replaced but
    kept aside, under fuzzmm:corpus:bad, each of them; one nested too deeply is read as unreadable."""
    import redis
    from fuzzmm.corpus.redis import REDIS_BAD_KEY, REDIS_KEY
    from fuzzmm.corpus.store import open_store
    store = open_store(redis_url)
    entry = lost_update_entry([(2, 1)])
    field = store._field(entry)
    client = redis.Redis.from_url(redis_url)
    newer = json.dumps({**entry.to_json(), "format": 2})
    client.hset(REDIS_KEY, field, newer)
    assert store.save(entry)[1] == KEPT and client.hget(REDIS_KEY, field).decode() == newer
    for damaged in ('{"format": 1, "model": ', '{"second damaged'):
        client.hset(REDIS_KEY, field, damaged)
        assert store.save(entry)[1] == REPLACED
    assert sorted(v.decode() for v in client.hgetall(REDIS_BAD_KEY).values()) == [
        '{"format": 1, "model": ', '{"second damaged']
    client.hset(REDIS_KEY, "deep", "[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in str(dict(store.entries())[f"{redis_url}#deep"])


@pytest.mark.slow
def test_an_unreachable_redis_is_bad_input():
    """A corpus URL nobody answers on is exit 2 with one line, before any work starts."""
    pytest.importorskip("redis")        # without the package the one line says to install it
    proc = start_campaign("--duration", "1", "--corpus", f"redis://127.0.0.1:{free_port()}/0")
    _, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 2 and "cannot reach Redis" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_killing_a_campaign_leaves_no_corrupt_file_and_the_next_start_resumes(tmp_path):
    """SIGKILL at random moments, many times: every corpus file stays whole, no segment
    or process of a killed campaign stays behind, and state carries over to the next start."""
    directory = str(tmp_path / "corpus")
    rng = random.Random(7)
    killed = []
    for _ in range(int(os.environ.get("FUZZMM_KILLS", "8"))):
        proc = start_campaign("--duration", "30", "--executors", "2", "--corpus", directory,
                              "--strategy", "portfolio")
        time.sleep(rng.uniform(0.3, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(HANG_S)
        killed.append(proc.pid)
    left = _stale_segments()        # by the killed campaigns (and by whoever else died holding one just now)
    final = fuzz_until(is_finding, "--model", "lost-update", "--executors", "2", "--corpus", directory, "--json",
                       "--seed", "3")
    assert final.returncode == 1, final.stderr
    states = os.listdir(os.path.join(directory, ".state"))
    assert any("racy" in name for name in states), states      # what a later start resumes from
    for path, entry in corpus.DirectoryStore(directory).entries():
        assert not isinstance(entry, Exception), entry
    assert not [n for n in os.listdir(directory) if n.startswith(".tmp-")]
    assert not any(_alive(pid) for pid in killed)
    assert not left & _stale_segments(), "the next start did not clean the segments of killed campaigns"


def _stale_segments():
    """The segments in /dev/shm whose owner is dead."""
    return {n for n in os.listdir("/dev/shm") if n.startswith("fuzzmm-") and not _alive(int(n.split("-")[1]))}


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.slow
def test_ctrl_c_ends_a_campaign_with_its_summary_and_nothing_left(tmp_path):
    """SIGINT mid-campaign: the summary is printed, the corpus holds whole files, no worker stays."""
    proc = start_campaign("--duration", "600", "--executors", "2", "--corpus", str(tmp_path), "--json", "--seed", "1")
    ended = end_when(proc, lambda event: event["event"] == "progress" and event["runs"] > 0)   # jobs have run
    assert ended.stdout.strip(), ended.stderr
    summary = json.loads(ended.stdout.splitlines()[-1])
    assert summary["event"] == "summary" and summary["interrupted"] is True, summary
    # Ended by the interrupt, not by its --duration: a job that did not stop within the 10 s the
    # campaign gives it after an interrupt would have been killed and named in the errors.
    assert summary["errors"] == [] and summary["elapsed_s"] < 300, summary
    assert all(not isinstance(e, Exception) for _, e in corpus.DirectoryStore(str(tmp_path)).entries())
    assert not _alive(proc.pid)
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"fuzzmm-{proc.pid}-")]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_to_the_whole_process_group_ends_a_campaign_like_ctrl_c(tmp_path, signum):
    """`timeout -s TERM`, or a closed terminal (SIGHUP), signals every process of the group: jobs
    stop searching and report, so the summary counts their runs and names no job error, and
    nothing stays behind."""
    proc = subprocess.Popen([sys.executable, "-m", "fuzzmm", "fuzz", "--model", "lost-update", "--duration", "600",
                             "--executors", "2", "--corpus", str(tmp_path), "--json", "--seed", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    for line in proc.stdout:                # wait for jobs that have run, not for a guessed time
        event = json.loads(line)
        if event["event"] == "progress" and event["runs"] > 0:
            break
    os.killpg(proc.pid, signum)
    out, err = proc.communicate(timeout=HANG_S)
    summary = json.loads(out.splitlines()[-1])
    assert summary["event"] == "summary" and summary["interrupted"] is True, summary
    assert summary["errors"] == [] and summary["runs"] > 0, (summary, err)
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"fuzzmm-{proc.pid}-")]


STUCK = """
from fuzzmm.program import Program, op

class Stuck(Program):
    name, variant, tasks, ops_per_task = "stuck", "v", (1, 1), (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op()
    def spin(self):
        self.x.add(1)
        open(STUCK_MARK, "w").close()
        while True:             # no scheduling point again: only the watchdog ends the run
            pass
"""


@pytest.mark.slow
def test_ctrl_c_does_not_wait_out_the_watchdog_of_a_stuck_run(tmp_path):
    """Ctrl-C while a run is stuck abandons that run: the campaign ends without waiting for the
    10 s watchdog to end the run, and leaves nothing behind."""
    mark = tmp_path / "stuck-now"
    (tmp_path / "stuck.py").write_text(f"STUCK_MARK = {str(mark)!r}\n" + STUCK)
    proc = subprocess.Popen([sys.executable, "-m", "fuzzmm", "fuzz", "--model", str(tmp_path / "stuck.py"),
                             "--duration", "600", "--executors", "1", "--corpus", str(tmp_path / "c"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert within(HANG_S, lambda: mark.exists() or proc.poll() is not None) and mark.exists(), \
        proc.communicate()     # the first run is stuck
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=HANG_S)
    summary = json.loads(out.splitlines()[-1])
    # Waiting out the watchdog would show: the run would end as a hang found, or, were the job
    # still in it (or in the hang's replay) 10 s after the interrupt, the job would be killed
    # and named in the errors.
    assert summary["interrupted"] is True and summary["errors"] == [] and summary["findings"] == [], summary
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"fuzzmm-{proc.pid}-")]


@pytest.mark.slow
def test_a_model_file_spelt_two_ways_resumes_one_saved_state(tmp_path):
    """`--model racy.py` from the project and the same file by its absolute path from elsewhere
    keep one search state in the corpus, so the second campaign resumes the first's."""
    shutil.copy(os.path.join(os.path.dirname(__file__), "..", "fuzzmm", "examples", "lost_update.py"),
                tmp_path / "racy.py")
    (tmp_path / "elsewhere").mkdir()
    for model, cwd in (("racy.py", tmp_path), (str(tmp_path / "racy.py"), tmp_path / "elsewhere")):
        proc = subprocess.run([sys.executable, "-m", "fuzzmm", "fuzz", "--model", model, "--variant", "fixed",
                               "--duration", "1", "--executors", "1", "--corpus", str(tmp_path / "c"), "--seed", "1"],
                              capture_output=True, text=True, cwd=cwd, timeout=HANG_S)
        assert proc.returncode == 0, proc.stderr
    assert [n for n in os.listdir(tmp_path / "c" / ".state") if n.endswith(".json")] == [".._racy.py_fixed_pct.json"]


@pytest.mark.slow
def test_a_hypothesis_campaign_keeps_hypothesis_s_files_beside_the_corpus(tmp_path):
    """The hypothesis strategy writes nothing into the working directory: Hypothesis's database and
    caches go beside the corpus.  The fixed twin has nothing to find, so the campaign exits 0."""
    work = tmp_path / "work"
    work.mkdir()
    proc = fuzz_until(lambda event: event["event"] == "progress" and event["runs"] > 0,   # Hypothesis has drawn
                      "--model", "lost-update", "--variant", "fixed", "--strategy", "hypothesis", "--executors", "1",
                      "--corpus", str(tmp_path / "c"), "--seed", "1", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(work) == [] and (tmp_path / "c" / ".hypothesis").is_dir()


@pytest.mark.slow
def test_a_finding_the_corpus_already_held_is_told_apart_from_a_new_one(tmp_path):
    """The second campaign on a corpus marks the race the first one filed as known, in its
    finding event, its summary and its text line."""
    def campaign(*extra):
        return fuzz_until(is_finding, "--model", "lost-update", "--variant", "racy", "--executors", "1",
                          "--corpus", str(tmp_path), *extra)
    first = [json.loads(line) for line in campaign("--json").stdout.splitlines()]
    second = [json.loads(line) for line in campaign("--json").stdout.splitlines()]
    finding = next(e for e in first if e["event"] == "finding")
    assert not finding["known"] and not finding["replaced"] and not first[-1]["findings"][0]["known"]
    finding = next(e for e in second if e["event"] == "finding")       # kept, or replaced by a smaller one
    assert finding["known"] != finding["replaced"] and second[-1]["findings"][0]["known"] == finding["known"]
    text = campaign().stdout
    assert "(already in the corpus)" in text or "(replaced a larger reproducer)" in text


@pytest.mark.slow
def test_a_reproducer_named_by_hand_is_known_and_kept(tmp_path):
    """A corpus file renamed by a person still holds its signature: a campaign marks the race as
    known and writes no second, larger file beside it.  The file is the smallest reproducer there is
    (one switch, at the store), so no campaign can find a smaller one."""
    corpus.write_atomic(str(tmp_path / "lost-update-by-hand.json"),
                        lost_update_entry([(2, 1)]).to_json(base=str(tmp_path)))
    again = fuzz_until(is_finding, "--model", "lost-update", "--variant", "racy", "--executors", "1",
                       "--corpus", str(tmp_path), "--json")
    assert again.returncode == 1, again.stderr
    finding = next(json.loads(line) for line in again.stdout.splitlines() if '"finding"' in line)
    assert finding["known"] is True and finding["corpus_file"].endswith("lost-update-by-hand.json")
    assert [n for n in os.listdir(tmp_path) if n.endswith(".json")] == ["lost-update-by-hand.json"]


def lost_update_entry(switches):
    """A corpus entry of the lost-update example's race, with the given switches."""
    return corpus.Entry(model="lost-update", variant="racy", program="fuzzmm.examples.lost_update:LostUpdate",
                        scenario=Scenario.of([[("increment", (1,))], [("increment", (1,))]]),
                        schedule=Schedule.of_switches(switches), kind="assertion",
                        signature="assertion@LostUpdate.check")


@pytest.mark.slow
def test_corpus_dedup_keeps_the_smallest_reproducer_of_a_signature(tmp_path):
    """Two files of one signature: `fuzzmm corpus dedup` keeps the smaller and says what it removed;
    a yet smaller file that does not reproduce is removed, not kept in the reproducer's place; a
    larger one a person added to (fixed_in) stays."""
    corpus.write_atomic(str(tmp_path / "big.json"), lost_update_entry([(2, 1), (3, 0), (4, 1)]).to_json())
    corpus.write_atomic(str(tmp_path / "small.json"), lost_update_entry([(2, 1)]).to_json())
    (tmp_path / "broken.json").write_text("{")
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "corpus", "dedup", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "big.json" in proc.stdout and "broken.json" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.json", "small.json"]
    corpus.write_atomic(str(tmp_path / "smaller.json"), lost_update_entry([]).to_json())   # serial: no lost update
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "corpus", "dedup", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "smaller.json" in proc.stdout, proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.json", "small.json"]
    curated = lost_update_entry([(2, 1), (3, 0)])       # larger, but a person said where it is fixed
    curated.fixed_in = ["fixed"]
    corpus.write_atomic(str(tmp_path / "curated.json"), curated.to_json())
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "corpus", "dedup", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "0 duplicate(s) removed" in proc.stdout, proc.stdout + proc.stderr


def test_saving_over_a_damaged_file_of_the_same_name_keeps_it_aside(tmp_path):
    """A campaign's finding whose file name holds an unreadable file moves that file to
    `.bad`, byte for byte, and writes the finding: neither is lost."""
    entry = lost_update_entry([(2, 1)])
    target = tmp_path / entry.file_name(base=str(tmp_path))
    target.write_text('{"hand-edited": ')
    (tmp_path / (target.name + ".bad")).write_text("moved aside before")
    assert corpus.DirectoryStore(str(tmp_path)).save(entry) == (str(target), REPLACED)
    assert (tmp_path / (target.name + ".bad")).read_text() == "moved aside before"
    assert (tmp_path / (target.name + ".bad.1")).read_text() == '{"hand-edited": '
    assert corpus.load(str(target)).signature == entry.signature


def test_a_file_of_a_newer_format_or_one_a_person_added_to_is_kept_as_it_is(tmp_path):
    """A larger reproducer under the finding's file name stays, byte for byte, when it is of a
    format this fuzzmm cannot read (kept), or has fixed_in or a field of a person's own (curated:
    the caller shows the smaller finding instead)."""
    entry = lost_update_entry([(2, 1)])
    target = tmp_path / entry.file_name(base=str(tmp_path))
    larger = lost_update_entry([(2, 1), (3, 0), (4, 1)]).to_json(base=str(tmp_path))
    for doc, outcome in (({**larger, "format": 2}, KEPT), ({**larger, "fixed_in": ["fixed"]}, CURATED),
                         ({**larger, "note": "see bug 42"}, CURATED)):
        target.write_text(json.dumps(doc))
        assert corpus.DirectoryStore(str(tmp_path)).save(entry) == (str(target), outcome)
        assert json.loads(target.read_text()) == doc
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", target.name]


@pytest.mark.slow
def test_a_smaller_finding_than_a_file_a_person_added_to_is_shown_not_lost(tmp_path):
    """The campaign keeps a larger file with fixed_in as it is, and its finding event carries the
    smaller reproducer it found, so it is not lost."""
    from fuzzmm import campaign
    from fuzzmm.models import load_model
    curated = lost_update_entry([(2, 1), (3, 0), (4, 1)])
    # The largest scenario the program has, so that whatever the campaign finds is smaller,
    # however little time it had to shrink it.
    curated.scenario = Scenario.of([[("increment", (16,)), ("increment", (16,))]] * LostUpdate.tasks[1])
    curated.fixed_in = ["fixed"]
    target = tmp_path / curated.file_name(base=str(tmp_path))
    corpus.write_atomic(str(target), curated.to_json(base=str(tmp_path)))
    before = target.read_text()
    job = campaign.Job("lost-update", "racy", load_model("lost-update").ref("racy"), "pct", 1)
    emit = EndsAt(is_finding)
    emit.run(campaign.Campaign([job], UNTIL_S, 1, str(tmp_path), emit))
    finding = next(e for e in emit.events if e["event"] == "finding")
    assert finding["curated"] and finding["known"] and target.read_text() == before
    assert corpus.load_doc(finding["reproducer"]).size < curated.size


@pytest.mark.slow
def test_export_keeps_a_file_a_person_added_to_whatever_its_name_and_names_the_smaller(tmp_path):
    """`corpus export` writes the curated file of a signature, whether its name sorts before or
    after a smaller one, and names the smaller one it leaves out."""
    curated = lost_update_entry([(2, 1), (3, 0), (4, 1)])
    curated.fixed_in = ["fixed"]
    for name in ("aaa-curated.json", "zzz-curated.json"):
        source, target = tmp_path / name / "src", tmp_path / name / "out"
        source.mkdir(parents=True)
        corpus.write_atomic(str(source / "small.json"), lost_update_entry([(2, 1)]).to_json())
        corpus.write_atomic(str(source / name), curated.to_json())
        proc = subprocess.run([sys.executable, "-m", "fuzzmm", "corpus", "export", str(source), str(target)],
                              capture_output=True, text=True, timeout=HANG_S)
        assert proc.returncode == 0 and "small.json is smaller than" in proc.stderr, proc.stderr
        (kept,) = [entry for _, entry in corpus.DirectoryStore(str(target)).entries()]
        assert kept.fixed_in == ["fixed"]


def test_a_field_of_a_person_s_own_survives_a_load_and_a_write(tmp_path):
    """What fuzzmm does not write itself (a note) is read with the file and written back with it."""
    doc = {**lost_update_entry([(2, 1)]).to_json(), "note": {"bug": 42}}
    entry = corpus.load_doc(doc)
    assert entry.extra == {"note": {"bug": 42}} and entry.to_json()["note"] == {"bug": 42}


@pytest.mark.slow
def test_a_finding_that_cannot_be_saved_is_reported_with_its_reproducer(tmp_path, monkeypatch):
    """A corpus that takes no more files (a full disk) loses no finding: its event carries the
    reproducer, and the summary says why there is no file."""
    import errno
    from fuzzmm import campaign
    from fuzzmm.corpus import directory
    from fuzzmm.models import load_model

    def full(path, doc):
        raise OSError(errno.ENOSPC, "No space left on device", path)
    monkeypatch.setattr(directory, "write_atomic", full)
    job = campaign.Job("lost-update", "racy", load_model("lost-update").ref("racy"), "pct", 1)
    emit = EndsAt(is_finding)
    summary = emit.run(campaign.Campaign([job], UNTIL_S, 1, str(tmp_path), emit))
    finding = next(e for e in emit.events if e["event"] == "finding")
    assert finding["corpus_file"] is None and "No space left on device" in finding["unsaved"]
    assert corpus.load_doc(finding["reproducer"]).signature == finding["signature"]
    assert any("No space left on device" in error for error in summary["errors"])


def _save_when_both_are_ready(barrier, directory, switches):
    barrier.wait()
    corpus.DirectoryStore(directory).save(lost_update_entry(switches))


@pytest.mark.slow
def test_of_two_writers_saving_one_signature_at_once_the_smaller_entry_stays(tmp_path):
    """Two campaigns writing one signature into one directory at the same moment: each
    compares and writes under the directory's lock, so the smaller entry always stays."""
    ctx = multiprocess.get_context("fork")
    for trial in range(20):
        directory = str(tmp_path / str(trial))
        barrier = ctx.Barrier(2)
        writers = [ctx.Process(target=_save_when_both_are_ready, args=(barrier, directory, switches))
                   for switches in ([(2, 1), (3, 0), (4, 1)], [(2, 1)])]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        (kept,) = [e for _, e in corpus.DirectoryStore(directory).entries()]
        assert kept.schedule.switches == ((2, 1),), f"trial {trial}: the larger entry replaced the smaller"


def test_a_lock_held_by_a_stopped_campaign_is_named_and_not_waited_for_ever(tmp_path, monkeypatch):
    """A save waits for the directory's lock a bounded time, then fails naming the stopped holder."""
    from fuzzmm.corpus import lock
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time\n"
                               "f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX)\n"
                               "print('held', flush=True); time.sleep(60)", str(tmp_path / lock.LOCK_NAME)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        holder.send_signal(signal.SIGSTOP)
        monkeypatch.setattr(lock, "WAIT_S", 0.3)
        with pytest.raises(FuzzmmError, match=f"held by pid {holder.pid} \\(stopped\\)"):
            corpus.DirectoryStore(str(tmp_path)).save(lost_update_entry([(2, 1)]))
        assert [p.name for p in tmp_path.iterdir()] == [lock.LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_stopped_job_is_killed_after_its_grace_and_reported_with_nothing_left(tmp_path, monkeypatch):
    """A job process that stops (SIGSTOP) no longer holds its campaign: past its budget and grace
    it is killed, named in the errors, and its pool segment, its workers and what their tasks
    started are gone."""
    from fuzzmm import campaign
    from fuzzmm.models import ProgramRef
    mark = f"60.{os.getpid():07d}8"     # a `sleep` the job's task starts, told apart by its argument
    monkeypatch.setenv("SLEEP_FOR", mark)
    note = tmp_path / "stopped"         # which job stopped itself, and when
    monkeypatch.setenv("STOPPED_NOTE", str(note))
    # A job is silent from its start to its first runs, which on a loaded machine can take
    # longer than any grace short enough for a test: the grace is 2 s from when it stopped.
    monkeypatch.setattr(campaign, "JOB_GRACE_S", HANG_S)

    def emit(event):                    # called once a second, by the loop that looks for silent jobs
        if note.exists():
            monkeypatch.setattr(campaign, "JOB_GRACE_S", 2.0)
    job = campaign.Job("programs", "default", ProgramRef("programs", "StopsItsJob"), "pct", 1)
    summary = campaign.Campaign([job], 1.0, 1, str(tmp_path / "c"), emit).run()
    ended = time.monotonic()
    (error,) = summary["errors"]
    said = re.match(r"default/pct: silent for 2 s past its ([\d.]+) s budget", error)
    assert said, error
    job_pid, stopped = note.read_text().split()
    # Killed once past its budget (counted from its start, before it stopped) and silent for its
    # grace, which was 2 s from the first turn of the loop (they are a second apart) after it stopped.
    assert ended - float(stopped) < float(said[1]) + 1.0 + 2.0 + LATE_S
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"fuzzmm-{job_pid}-")]
    left = subprocess.run(["pgrep", "-f", f"^sleep {mark}$"], capture_output=True, text=True).stdout.split()
    assert left == [], [(pid, proctree.stat(int(pid))) for pid in left]     # [state, ppid, ...] of each


def test_a_job_is_overdue_when_silent_past_its_budget_unless_the_campaign_was_stopped_too(tmp_path):
    """Ctrl-Z stops a campaign and its jobs together: after `fg`, however long after, their silence
    is not taken for a stuck job; a job silent while the campaign ran is."""
    from fuzzmm import campaign
    from fuzzmm.models import load_model
    job = campaign.Job("lost-update", "fixed", load_model("lost-update").ref("fixed"), "pct", 1)
    c = campaign.Campaign([job], 1.0, 1, str(tmp_path / "c"), lambda event: None)
    c.start = c.last_loop = 0.0
    c.heard = {job: 0.5}                    # its last word, half a second in
    late = 0.5 + campaign.JOB_GRACE_S + 100
    c._looped(late)                         # the loop's first turn in all that time: stopped with its jobs
    assert not c._overdue(job, 0.0, 1.0, late)
    for turn in range(1, 100):              # then it turns, and the job stays silent
        now = c._looped(late + turn * campaign.JOB_GRACE_S / 50)
    assert c._overdue(job, 0.0, 1.0, now)


def test_opening_a_corpus_keeps_temp_files_of_live_writers(tmp_path):
    """Opening a corpus removes a dead writer's half-written file but never one still being written."""
    from fuzzmm.corpus.store import open_store
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    mine = tmp_path / f".tmp-{os.getpid()}-abc.json"
    theirs = tmp_path / f".tmp-{dead}-abc.json"
    mine.write_text("{")
    theirs.write_text("{")
    open_store(str(tmp_path))
    assert mine.exists() and not theirs.exists()


# ---- a Redis corpus that goes away mid-campaign ----

def armed_model(directory, count=3):
    """A model file whose op hitN fails once the file N exists in $FUZZMM_TEST_ARMS: a test arms
    each finding when it wants it, and each has a signature of its own."""
    ops = "".join(f"""
    @op()
    def hit{n}(self):
        self.x.add(1)
        assert not os.path.exists(os.path.join(os.environ["FUZZMM_TEST_ARMS"], "{n}")), "armed"
""" for n in range(count))
    path = directory / "armed.py"
    path.write_text(f"""import os
from fuzzmm.program import Program, op


class Armed(Program):
    name, variant, tasks, ops_per_task = "armed", "v", (1, 1), (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)
{ops}""")
    return str(path)


@pytest.fixture
def arms(tmp_path, monkeypatch):
    """arm(n) makes op hitN of armed_model fail from now on; the spool goes under tmp_path."""
    directory = tmp_path / "arms"
    directory.mkdir()
    monkeypatch.setenv("FUZZMM_TEST_ARMS", str(directory))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return lambda n: (directory / str(n)).touch()


def armed_jobs(tmp_path, *strategies):
    from fuzzmm import campaign
    from fuzzmm.models import ProgramRef
    model = armed_model(tmp_path)
    return [campaign.Job(model, "v", ProgramRef(model, "Armed"), strategy, seed)
            for seed, strategy in enumerate(strategies)]


def redis_signatures(url):
    """The signatures a Redis corpus holds, read from its documents: loading an entry would ask
    whether its model may be imported, and the test's model lies outside any project."""
    import redis
    from fuzzmm.corpus.redis import REDIS_KEY
    docs = redis.Redis.from_url(url).hgetall(REDIS_KEY).values()
    return {json.loads(doc)["signature"]["signature"] for doc in docs}


@pytest.mark.slow
def test_a_redis_killed_and_restarted_empty_mid_campaign_loses_no_finding(redis_server, tmp_path, arms):
    """Redis dies just after the first finding is saved, and comes back empty once the next one is
    spooled and every job (one of them Hypothesis, whose examples live in Redis too) has made runs
    since it died: the jobs fuzz on through the outage, the finding made meanwhile waits in the
    spool and is saved into Redis once it answers again, and the summary says when the corpus was
    away.  Driven by the campaign's events and run counts, not by time."""
    from fuzzmm import campaign
    from fuzzmm.corpus.spool import spool_directory
    arms(0)
    events, runs_when_killed = [], {}

    def emit(event):
        events.append(event)
        if event["event"] == "finding" and event["signature"] == "assertion@Armed.hit0":
            assert event["corpus_file"].startswith(redis_server.url), event
            redis_server.kill()
            runs_when_killed.update({job: c.runs.get(job, 0) for job in c.jobs})
            arms(1)
        elif event["event"] == "finding" and event["signature"] == "assertion@Armed.hit1":
            assert event["spooled"] and event["corpus_file"].startswith(spool_directory(redis_server.url)), event
        elif event["event"] == "progress" and redis_server.proc.poll() is not None \
                and any(e["event"] == "finding" and e["spooled"] for e in events) \
                and all(c.runs.get(job, 0) > runs for job, runs in runs_when_killed.items()):
            redis_server.start()            # empty
        elif event["event"] == "unspooled":
            raise KeyboardInterrupt         # the end of the test, as Ctrl-C ends a campaign
    c = campaign.Campaign(armed_jobs(tmp_path, "pct", "hypothesis"), 120.0, 2, redis_server.url, emit)
    summary = c.run()
    assert summary["errors"] == [] and summary["spooled"] == [], summary
    assert all(job["runs"] > 0 and job["error"] is None for job in summary["jobs"]), summary["jobs"]
    found = {f["signature"]: f for f in summary["findings"]}
    assert {"assertion@Armed.hit0", "assertion@Armed.hit1"} <= set(found)
    assert all(f["corpus_file"].startswith(redis_server.url) and not f["spooled"] for f in found.values()), found
    assert "assertion@Armed.hit1" in redis_signatures(redis_server.url)       # the server came back empty
    assert [e["event"] for e in events].count("outage") == 1
    (outage,) = summary["outages"]
    assert outage["to_s"] is not None and outage["from_s"] <= outage["to_s"]
    assert not os.listdir(spool_directory(redis_server.url)) or \
        not [n for n in os.listdir(spool_directory(redis_server.url)) if n.endswith(".json")]


@pytest.mark.slow
def test_a_redis_away_when_the_jobs_start_keeps_their_findings_in_the_spool_for_the_next_start(
        redis_server, tmp_path, arms):
    """Jobs that start while the server is away fuzz all the same; what they find waits in the
    spool, the summary names it and the errors say so (exit 1: something was found), and the next
    campaign on that server saves it there."""
    from fuzzmm import campaign
    from fuzzmm.corpus.spool import with_spool
    from fuzzmm.corpus.store import open_store
    from fuzzmm.report import table
    arms(0)
    c = campaign.Campaign(armed_jobs(tmp_path, "pct"), 120.0, 1, redis_server.url,
                          lambda event: event["event"] == "finding" and _interrupt())
    redis_server.kill()
    summary = c.run()
    (finding,) = summary["findings"]
    assert finding["spooled"] and summary["spooled"] == [finding["corpus_file"]], summary
    (error,) = summary["errors"]
    assert "wait in the spool" in error and summary["jobs"][0]["runs"] > 0
    assert "1 finding(s) wait in the spool" in table(summary, ["v"])
    redis_server.start()
    moved = with_spool(open_store(redis_server.url)).poll(force=True)      # what a campaign does first
    assert [entry.signature for _, entry, _, _ in moved] == ["assertion@Armed.hit0"]
    assert redis_signatures(redis_server.url) == {"assertion@Armed.hit0"}
    assert not os.path.exists(finding["corpus_file"])


def _interrupt():
    raise KeyboardInterrupt


def test_a_job_s_store_rides_out_a_redis_that_does_not_answer():
    """What a job keeps in Redis only speeds up a later start: with no server, its state reads as
    none, its writes are skipped and Hypothesis's database gives no examples, none of them raising;
    and it tries the server no more often than its backoff allows."""
    pytest.importorskip("redis")
    from fuzzmm.corpus.store import open_store
    store = open_store(f"redis://127.0.0.1:{free_port()}/0", prepare=False)
    assert store.load_state("m/v/pct") is None
    store.save_state("m/v/pct", {"coverage": []})
    database = store.hypothesis_database()
    database.save(b"k", b"v")
    assert list(database.fetch(b"k")) == []
    assert store.outage.since is not None and not store.outage.due()
    with pytest.raises(FuzzmmError, match="cannot write to Redis"):
        store.save(lost_update_entry([(2, 1)]))


def test_an_outage_s_backoff_doubles_to_its_cap_and_ends_when_the_server_answers():
    from fuzzmm.corpus.redis import Outage
    outage = Outage()
    assert outage.due()
    delays = []
    for _ in range(8):
        outage.failed(ConnectionError("refused"))
        delays.append(outage.delay)
    assert delays[0] == Outage.FIRST_S and delays[-1] == Outage.MAX_S and delays == sorted(delays)
    assert not outage.due() and outage.why == "refused"
    outage.ended()
    assert outage.due() and outage.since is None and outage.delay == Outage.FIRST_S


# ---- a writer killed between its last byte and the rename ----

def _dead_pid():
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()


def test_a_whole_finding_a_killed_writer_left_is_recovered_and_a_part_of_one_removed(tmp_path):
    """On the next start (opening the corpus) a dead writer's whole temporary file is saved as a
    finding, under its generated name; a part of a file is removed; a live writer's is left."""
    from fuzzmm.corpus.store import open_store
    entry = lost_update_entry([(2, 1)])
    text = json.dumps(entry.to_json(base=str(tmp_path)), indent=1) + "\n"
    dead = _dead_pid()
    (tmp_path / f".tmp-{dead}-whole.json").write_text(text)
    (tmp_path / f".tmp-{dead}-part.json").write_text(text[:len(text) // 2])
    live = tmp_path / f".tmp-{os.getpid()}-live.json"
    live.write_text(text)
    open_store(str(tmp_path))
    names = sorted(n for n in os.listdir(tmp_path) if n != ".lock")
    assert names == sorted([live.name, entry.file_name(base=str(tmp_path))])
    recovered = tmp_path / entry.file_name(base=str(tmp_path))
    assert recovered.read_text() == text            # byte for byte what the writer was writing


def test_dedup_recovers_a_dead_writer_s_finding_by_the_save_rule(tmp_path):
    """`dedup` recovers a dead writer's whole file too, by the save rule: a larger reproducer of a
    key the corpus holds smaller goes, a smaller one replaces the larger file."""
    store = corpus.DirectoryStore(str(tmp_path))
    small, large = lost_update_entry([(2, 1)]), lost_update_entry([(2, 1), (3, 0), (4, 1)])
    path, _ = store.save(small)
    dead = _dead_pid()
    (tmp_path / f".tmp-{dead}-large.json").write_text(json.dumps(large.to_json(base=str(tmp_path))))
    assert store.dedup() == []
    assert [n for n in os.listdir(tmp_path) if n.endswith(".json")] == [os.path.basename(path)]
    assert corpus.load(path).size == small.size
    store.dedup()
    os.replace(path, tmp_path / f".tmp-{dead}-small.json")     # a smaller one, killed mid-write
    store.save(large)
    store.dedup()
    assert [n for n in os.listdir(tmp_path) if n.endswith(".json")] == [os.path.basename(path)]
    assert corpus.load(path).size == small.size


FAILS_AT_ONCE = """from fuzzmm.program import Program, op


class Fails(Program):
    name, variant, tasks, ops_per_task = "fails", "v", (1, 1), (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)
""" + "".join(f"""
    @op()
    def fail{n}(self):
        self.x.add(1)
        assert False, "fails"
""" for n in range(6))


@pytest.mark.slow
def test_sigkill_at_random_and_just_after_a_finding_line_loses_no_printed_finding(tmp_path):
    """SIGKILL twenty campaigns, half just after they print a finding line, half at a random
    moment, each writing new findings (a model file of its own name) into one corpus: after a
    dedup every printed finding is a corpus file, every dead writer's whole temporary file is
    a finding there too, and no file is corrupt or temporary."""
    import selectors
    (tmp_path / "pyproject.toml").write_text("")        # the models and the corpus: one project
    directory = tmp_path / "c"
    rng = random.Random(18)
    printed, whole = set(), set()
    for i in range(int(os.environ.get("FUZZMM_KILLS", "20"))):
        model = tmp_path / f"fails{i}.py"
        model.write_text(FAILS_AT_ONCE)
        proc = subprocess.Popen([sys.executable, "-m", "fuzzmm", "fuzz", "--model", str(model), "--duration", "30",
                                 "--executors", "2", "--corpus", str(directory), "--strategy", "portfolio"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        after_a_finding = i % 2 == 0
        deadline = time.monotonic() + (30 if after_a_finding else rng.uniform(0.2, 2.5))
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline and selector.select(max(0.0, deadline - time.monotonic())):
                line = proc.stdout.readline()
                if not line:
                    break
                printed.add(re.search(r" -> (\S+\.json)", line).group(1))
                if after_a_finding:
                    break
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for name in os.listdir(directory) if directory.exists() else ():
            if name.startswith(".tmp-"):
                try:
                    whole.add(corpus.load(str(directory / name)).key(base=str(directory)))
                except FuzzmmError:
                    pass                    # a part of a file
    assert printed
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "corpus", "dedup", str(directory)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    entries = corpus.DirectoryStore(str(directory)).entries()
    assert [path for path, entry in entries if isinstance(entry, Exception)] == []
    assert not [n for n in os.listdir(directory) if n.startswith(".tmp-")]
    assert printed <= {path for path, _ in entries}
    assert whole <= {entry.key(base=str(directory)) for _, entry in entries}


# ---- time: the overrun a campaign allows itself, and what it says when a run takes longer ----

def test_no_job_is_given_time_past_the_duration_and_the_overrun_allowed(tmp_path):
    """Whenever a job starts, its budget ends by the campaign's duration plus half the overrun
    allowed (the rest is for winding down); while time is left every wave gets at least half
    its share; and on time, each wave's share is as it always was."""
    from fuzzmm import campaign
    from fuzzmm.models import load_model
    ref = load_model("lost-update").ref("fixed")
    for duration, njobs, executors in ((20.0, 6, 2), (2.0, 4, 1), (60.0, 3, 3), (1.0, 2, 1)):
        jobs = [campaign.Job("lost-update", "fixed", ref, "pct", seed) for seed in range(njobs)]
        c = campaign.Campaign(jobs, duration, executors, str(tmp_path / "c"), lambda event: None)
        c.start = 0.0
        waves = -(-njobs // executors)
        share = duration / waves
        allowed = campaign.overrun_allowed(duration)
        assert allowed == max(2.0, duration / 10)
        for wave in range(waves):
            jobs_left = njobs - wave * executors
            assert c._budget(share, jobs_left, wave * share) == pytest.approx(share)
            for late_by in (0.0, 0.3, 1.0, share, 3 * share, duration):
                now = wave * share + late_by
                budget = c._budget(share, jobs_left, now)
                assert now + budget <= max(duration, now) + allowed / 2 + 1e-9
                assert budget >= min(share, allowed) / 2
                if now + share / 2 <= duration:
                    assert budget >= share / 2


SLOW_RUN = """import time
from fuzzmm.program import Program, op


class Slow(Program):
    name, variant, tasks, ops_per_task = "slow", "v", (1, 1), (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op()
    def slow(self):
        self.x.add(1)
        time.sleep(3)       # each run takes longer than the campaign may overrun
"""


@pytest.mark.slow
def test_a_run_under_way_past_the_end_is_waited_for_and_the_summary_says_why_the_campaign_was_late(tmp_path):
    """A run is let end on its own (only the watchdog ends a hang), so a campaign of 0.5 s whose
    runs take 3 s ends past its bound of 2 s over, and its summary and table say which job and why."""
    from fuzzmm import campaign
    from fuzzmm.models import ProgramRef
    from fuzzmm.report import table
    (tmp_path / "slow.py").write_text(SLOW_RUN)
    model = str(tmp_path / "slow.py")
    job = campaign.Job(model, "v", ProgramRef(model, "Slow"), "pct", 1)
    summary = campaign.Campaign([job], 0.5, 1, str(tmp_path / "c"), lambda event: None).run()
    late = summary["late"]
    assert late is not None and late["allowed_s"] == 2.0 and late["over_s"] > 2.0, summary
    assert len(late["why"]) == 1 and late["why"][0].startswith("v/pct ended at ") \
        and "a run under way past its end" in late["why"][0], late
    assert summary["errors"] == [] and summary["jobs"][0]["runs"] >= 1
    assert "past its --duration, more than the 2.0 s it may: v/pct" in table(summary, ["v"])


@pytest.mark.slow
def test_a_variant_whose_job_never_started_is_not_run_in_the_table_not_0(tmp_path):
    """Interrupted during its first job, a campaign never starts the second: its variant reads
    `not run` in the table and its job has no start time in the summary."""
    from fuzzmm import campaign
    from fuzzmm.models import load_model
    from fuzzmm.report import table
    model = load_model("lost-update")
    jobs = [campaign.Job("lost-update", v, model.ref(v), "pct", 1) for v in ("fixed", "racy")]
    summary = campaign.Campaign(jobs, 60.0, 1, str(tmp_path / "c"),
                                lambda event: event["event"] == "progress" and event["runs"] and _interrupt()).run()
    assert summary["interrupted"] and [job["ran"] for job in summary["jobs"]] == [True, False]
    assert summary["jobs"][1]["started_s"] is None
    rows = {line.split()[0]: line.split()[1:] for line in table(summary, ["fixed", "racy"]).splitlines()[2:4]}
    assert rows == {"fixed": ["-", "0", "-"], "racy": ["not", "run", "-", "-"]}


INTERRUPTS_ITS_CHECK = """import os
import signal
from fuzzmm.program import Program, Scenario, op


class Interrupts(Program):
    name, variant, tasks, ops_per_task = "interrupts", "v", (1, 1), (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op()
    def inc(self):
        self.x.add(1)

    def default_scenario(self):
        os.kill(os.getppid(), signal.SIGINT)     # Ctrl-C while the campaign checks its programs
        return Scenario.of([[("inc", ())]])
"""


@pytest.mark.slow
def test_ctrl_c_while_the_programs_are_checked_ends_with_a_summary_of_jobs_not_run(tmp_path):
    (tmp_path / "interrupts.py").write_text(INTERRUPTS_ITS_CHECK)
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "fuzz", "--model", str(tmp_path / "interrupts.py"),
                           "--duration", "60", "--corpus", str(tmp_path / "c"), "--json"],
                          capture_output=True, text=True, timeout=60)
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["interrupted"] and summary["runs"] == 0 and proc.returncode == 0, proc.stderr
    assert [job["ran"] for job in summary["jobs"]] == [False]
