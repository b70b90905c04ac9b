"""The fuzzmm pytest plugin (the `fuzzmm` pytest11 entry point, loaded in every pytest run).

Fixtures, each a fresh object per test, closed at its end (so unique per
pytest-xdist worker: pool names carry the process id and PYTEST_XDIST_WORKER):
  fuzzmm_pool        a shared-memory Pool with the default layout
  fuzzmm_executor    a factory: fuzzmm_executor(ProgramClass, **Executor kwargs) -> Executor
  fuzzmm_profile     the fuzzmm Hypothesis profile name fuzz tests use ("ci", "dev", "long")
Fuzz tests: `fuzzmm.testing.fuzz_test(ProgramClass, expect=None, **settings)`.

Options:
  --fuzzmm-corpus DIR   replay every *.json corpus file in DIR as one test item (repeatable; or
                        the `fuzzmm_corpus` ini setting, used when pytest is run without paths):
                        the file must reproduce its signature on its own variant and must not on
                        any variant its `fixed_in` lists.
  --fuzzmm-profile P    the Hypothesis profile of fuzz tests (see fuzzmm.profiles).
  --fuzzmm-trace-all    a failure's swimlane shows every step of the run, not only the finding's object.
  --fuzzmm-trust-model PATH
                        let corpus files import the model file PATH, or files under the
                        directory PATH (repeatable): a corpus file naming code from no trusted
                        source (fuzzmm.trust) fails its item, with nothing of it imported.
A failing corpus item or fuzz test shows the signature and the swimlane, not a traceback.

Everything heavy (the compiled core, Hypothesis, structlog) is imported only when a fixture, a
fuzz test or a corpus item needs it: a run that uses none of them pays for this file only.
"""
import os
from pathlib import Path
import signal
import sys
import threading

import pytest

_DIRS = pytest.StashKey()          # list[Path]: the corpus directories of this run
_EXECUTORS = pytest.StashKey()     # _ExecutorCache of this process


def pytest_addoption(parser):
    from fuzzmm.profiles import PROFILES
    group = parser.getgroup("fuzzmm", "fuzzmm (concurrency fuzzer)")
    group.addoption("--fuzzmm-corpus", action="append", default=[], metavar="DIR", dest="fuzzmm_corpus",
                    help="replay every *.json corpus file in DIR as a test item: it must reproduce on its "
                    "variant and not on the variants in its fixed_in (repeatable)")
    group.addoption("--fuzzmm-profile", default=None, choices=PROFILES, dest="fuzzmm_profile",
                    help="Hypothesis profile of fuzzmm fuzz tests (default: $FUZZMM_PROFILE, else ci "
                    "when CI is set, else dev)")
    group.addoption("--fuzzmm-trace-all", action="store_true", default=False, dest="fuzzmm_trace_all",
                    help="show the whole trace of a failing fuzz test or corpus item: every step of "
                    "every task, not only the operations on the finding's object")
    group.addoption("--fuzzmm-trust-model", action="append", default=[], metavar="PATH",
                    dest="fuzzmm_trust_model",
                    help="let corpus files import the model file PATH, or any file under the directory PATH "
                    "(repeatable); see the README's Security model")
    parser.addini("fuzzmm_corpus", type="paths", default=[],
                  help="corpus directories replayed when pytest runs without path arguments")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "fuzzmm: a fuzzmm fuzz test or corpus replay")
    # Before Hypothesis's own plugin loads --hypothesis-profile, so fuzzmm-* names exist.
    hypothesis_profile = config.getoption("--hypothesis-profile", None)
    if isinstance(hypothesis_profile, str) and hypothesis_profile.startswith("fuzzmm-"):
        from fuzzmm.profiles import register_profiles
        register_profiles()
    if config.getoption("fuzzmm_profile") is None and os.environ.get("FUZZMM_PROFILE"):
        from fuzzmm.profiles import PROFILES
        if os.environ["FUZZMM_PROFILE"] not in PROFILES:
            raise pytest.UsageError(f"FUZZMM_PROFILE={os.environ['FUZZMM_PROFILE']!r}: "
                                    f"choose from {', '.join(PROFILES)}")
    trusted = [str(Path(config.invocation_params.dir, given)) for given in config.getoption("fuzzmm_trust_model")]
    if trusted:
        from fuzzmm import trust
        from fuzzmm.errors import FuzzmmError
        try:
            trust.allow(trusted)
        except FuzzmmError as exc:
            raise pytest.UsageError(f"fuzzmm: --fuzzmm-trust-model: {exc}") from None
    dirs = []
    for given in config.getoption("fuzzmm_corpus"):
        if not given:               # an unset variable expanded into the option: not "this directory"
            raise pytest.UsageError("fuzzmm: --fuzzmm-corpus needs a directory, not an empty string")
        dirs.append(Path(config.invocation_params.dir, given))
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        dirs.extend(Path(p) for p in config.getini("fuzzmm_corpus"))
    resolved = []
    for d in dirs:
        if not d.is_dir():
            raise pytest.UsageError(f"fuzzmm: corpus directory {d} "
                                    f"{'is not a directory' if d.exists() else 'does not exist'}")
        if d.resolve() not in [r.resolve() for r in resolved]:
            resolved.append(d)
    config.stash[_DIRS] = resolved
    if config.getoption("fuzzmm_trace_all"):
        import fuzzmm.testing
        fuzzmm.testing.TRACE_ALL = True


def pytest_unconfigure(config):
    testing = sys.modules.get("fuzzmm.testing")
    if testing is not None and config.getoption("fuzzmm_trace_all"):
        testing.TRACE_ALL = False


def pytest_report_header(config):
    from fuzzmm.profiles import active_profile
    name, why = active_profile(config.getoption("fuzzmm_profile"))
    lines = [f"fuzzmm: fuzz tests use Hypothesis profile fuzzmm-{name} ({why})"]
    for d in config.stash.get(_DIRS, []):
        lines.append(f"fuzzmm: replaying corpus {d} ({len(_corpus_files(d))} files)")
    return lines


# ---- fixtures ----

def _terminate_like_interrupt():
    """From the first pool this process makes for a test, SIGTERM (a cancelled CI job)
    ends the session as Ctrl-C does, tearing fixtures down, so no segment is left.
    Only when nothing else handles SIGTERM, and never in a session fuzzmm is not used."""
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@pytest.fixture
def fuzzmm_pool():
    """A shared-memory pool (default layout) for this test; closed and unlinked after it."""
    from fuzzmm.pool import Pool
    _terminate_like_interrupt()
    pool = Pool.create()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def fuzzmm_executor():
    """A factory: fuzzmm_executor(ProgramClass or ProgramRef, **Executor kwargs) -> Executor.
    Every executor made is closed (workers stopped, pool unlinked) after the test."""
    from fuzzmm.sched.executor import Executor
    made = []

    def make(program, **kwargs):
        _terminate_like_interrupt()
        executor = Executor(program, **kwargs)
        made.append(executor)
        return executor
    try:
        yield make
    finally:
        for executor in reversed(made):
            executor.close()


@pytest.fixture(scope="session")
def fuzzmm_profile(pytestconfig):
    """The fuzzmm Hypothesis profile fuzz tests use: "ci", "dev" or "long"
    (fuzzmm.profiles.profile_settings(name) gives its settings)."""
    from fuzzmm.profiles import active_profile
    from fuzzmm.errors import FuzzmmError
    try:
        return active_profile(pytestconfig.getoption("fuzzmm_profile"))[0]
    except FuzzmmError as exc:
        error = str(exc)
    pytest.fail(error, pytrace=False)


def _failure(text, item):
    """A failure shown whole in the failures section, and by its first line alone in the short
    summary: pytest prints a plain-text report whole there too when it runs in CI."""
    try:
        from _pytest._code.code import ExceptionChainRepr, ReprEntryNative, ReprFileLocation, ReprTraceback
    except ImportError:         # a pytest without these: the text alone still says it all
        return text
    path, lineno, _ = item.location
    summary = text.splitlines()[0] if text else ""
    return ExceptionChainRepr([(ReprTraceback([ReprEntryNative([text + "\n"])], None, "native"),
                                ReprFileLocation(path, (lineno or 0) + 1, summary), None)])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A FuzzFailure (from fuzzmm.testing.fuzz in any test) is shown as its report, no traceback."""
    outcome = yield
    testing = sys.modules.get("fuzzmm.testing")
    if testing is None or call.excinfo is None or not call.excinfo.errisinstance(testing.FuzzFailure):
        return
    report = outcome.get_result()
    if report.failed:
        report.longrepr = _failure(str(call.excinfo.value), item)


# ---- corpus replay ----

def _corpus_files(directory):
    return sorted(p for p in directory.iterdir()
                  if p.suffix == ".json" and not p.name.startswith(".tmp-") and p.is_file())


def pytest_collect_file(file_path, parent):
    """A corpus file pytest meets on its own: one named on the command line (as the node id a
    failure printed, `corpus/x.json::replay`), or one in a corpus directory it walks."""
    if file_path.suffix != ".json" or file_path.name.startswith(".tmp-"):
        return None
    config = parent.config
    if file_path.parent.resolve() in [d.resolve() for d in config.stash.get(_DIRS, [])] \
            or file_path.resolve() in _named_paths(config):
        return CorpusFile.from_parent(parent, path=file_path)
    return None


def _named_paths(config):
    """The paths the command line names, without their ::node parts."""
    return [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]


@pytest.hookimpl(tryfirst=True)          # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session, config, items):
    """Every corpus directory's files, but those pytest collected itself (walking the
    directory), and none of a directory the command line named a corpus file of: that
    file chose what to run."""
    collected = {item.path.resolve() for item in items if isinstance(item, CorpusItem)}
    named = [path for path in _named_paths(config) if path.suffix == ".json"]
    for directory in config.stash.get(_DIRS, []):
        if any(path.parent == directory.resolve() for path in named):
            continue
        for path in _corpus_files(directory):
            if path.resolve() in collected:
                continue
            try:
                nodeid = path.relative_to(config.rootpath).as_posix()
            except ValueError:
                nodeid = Path(os.path.relpath(path, config.rootpath)).as_posix()
            corpus_file = CorpusFile.from_parent(session, path=path, nodeid=nodeid)
            session.ihook.pytest_collectstart(collector=corpus_file)      # counted and shown as collected
            report = session.ihook.pytest_make_collect_report(collector=corpus_file)
            session.ihook.pytest_collectreport(report=report)
            if report.passed:
                items.extend(report.result)


def pytest_sessionfinish(session):
    cache = session.config.stash.get(_EXECUTORS, None)
    if cache is not None:
        cache.close()
        del session.config.stash[_EXECUTORS]


class _ExecutorCache:
    """One executor per program in this process, reused by every corpus item that replays it."""

    def __init__(self):
        self.by_ref = {}

    def get(self, ref, ntasks):
        from fuzzmm.sched.executor import Executor
        executor = self.by_ref.get(ref)
        if executor is not None and executor.nworkers < ntasks:
            self.drop(ref)
            executor = None
        if executor is None:
            _terminate_like_interrupt()
            executor = Executor(ref, workers=max(ntasks, min(ref.load().tasks[1], 16)))
            self.by_ref[ref] = executor
        return executor

    def drop(self, ref):
        executor = self.by_ref.pop(ref, None)
        if executor is not None:
            executor.close()

    def close(self):
        for ref in list(self.by_ref):
            self.drop(ref)


class CorpusFile(pytest.File):
    """A corpus JSON file; its one item replays it."""

    def collect(self):
        item = CorpusItem.from_parent(self, name="replay")
        item.add_marker("fuzzmm")
        return [item]


class CorpusFailure(Exception):
    """A corpus item's checks disagreed with the file; str() is the readable report."""


class CorpusItem(pytest.Item):
    """Replays one corpus file on its variant (must reproduce) and each fixed_in variant (must not)."""

    def runtest(self):
        from fuzzmm import corpus
        from fuzzmm.corpus import fixed
        entry = corpus.load(self.path)
        cache = self.config.stash.setdefault(_EXECUTORS, _ExecutorCache())

        def replay_on(ref):
            executor = cache.get(ref, entry.scenario.ntasks)
            try:
                return corpus.replay(entry, executor=executor, keep_events=True)
            except BaseException:
                cache.drop(ref)           # an executor that raised is not trusted again
                raise
        verdicts = list(fixed.verdicts(entry, replay_on))
        if any(verdict.failed for verdict in verdicts):
            raise CorpusFailure(_corpus_report(self._shown_path(), entry, verdicts))

    def repr_failure(self, excinfo, style=None):
        from fuzzmm.errors import FuzzmmError
        if isinstance(excinfo.value, CorpusFailure):
            return _failure(str(excinfo.value), self)
        if isinstance(excinfo.value, FuzzmmError):       # a bad file or a model that does not load
            shown = self._shown_path()
            message = str(excinfo.value).replace(str(self.path), shown)
            return _failure(message if message.startswith(shown) else f"{shown}: {message}", self)
        return super().repr_failure(excinfo, style=style)

    def _shown_path(self):
        return os.path.relpath(self.path, self.config.invocation_params.dir)

    def reportinfo(self):
        return self.path, None, f"fuzzmm corpus {self.path.name}"


def _failed(verdict):
    _, must_reproduce, replayed, wrong = verdict
    return wrong is not None or replayed.reproduced != must_reproduce


def _corpus_report(path, entry, verdicts):
    from fuzzmm.testing import describe_finding, swimlane_text
    lines = [f"{path}: model {entry.model}, {entry.signature}: the code no longer agrees with the file"]
    shown = []
    for verdict in verdicts:
        name, must_reproduce, replayed, wrong = verdict
        role = "its variant" if must_reproduce else "listed in fixed_in"
        mark = "FAIL" if _failed(verdict) else "ok  "
        if wrong is not None:
            lines.append(f"  {mark} {name} ({role}): {wrong}")
            continue
        got = replayed.first.finding
        if must_reproduce and replayed.reproduced:
            what = f"reproduces {entry.signature}"
        elif must_reproduce:
            what = (f"does not reproduce {entry.signature} any more; got "
                    f"{got.signature if got else 'no finding'}")
        elif replayed.reproduced:
            what = f"still reproduces {entry.signature}, so it is not fixed there"
        else:
            what = f"does not reproduce it ({'got ' + got.signature if got else 'no finding'})"
        lines.append(f"  {mark} {name} ({role}): {what}")
        if _failed(verdict):
            shown.append((name, role, must_reproduce, replayed))
    lines += [f"  scenario: {entry.scenario.describe()}",
              f"  switches: {list(entry.schedule.switches)}",
              f"  expected: {entry.signature}: {entry.message}"]
    for name, role, must_reproduce, replayed in shown:
        run = replayed.first
        lines += ["", f"--- {name} ({role}): " + (run.finding.signature if run.finding else "no finding"),
                  *([describe_finding(run.finding)] if run.finding is not None else []),
                  swimlane_text(run, entry.scenario, replayed.object_names),
                  f"replay: fuzzmm replay {path}{'' if must_reproduce else ' --variant ' + name} --trace"]
    return "\n".join(lines)
