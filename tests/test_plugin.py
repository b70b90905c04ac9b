"""The pytest plugin: corpus replay items, fuzz tests, fixtures and profiles, run in inner pytest sessions.

Inner sessions run in a temporary directory of their own (pytester); the
plugin is loaded there through its pytest11 entry point, as in a user's
project.  Sessions that use xdist or load a global Hypothesis profile run in
a subprocess; the others in this process, which is faster.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import fuzzmm.sched.draws   # noqa: F401  imported here, so in-process inner sessions, which drop
import fuzzmm.testing       # noqa: F401  the modules they import, never mix two copies of Hypothesis
from waiting import HANG_S, within

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.filterwarnings("ignore:Benchmarks are automatically disabled")   # inner runs

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")
RACY = "fuzzmm.examples.lost_update:LostUpdate"
FIXED = "fuzzmm.examples.lost_update:LostUpdateFixed"


@pytest.fixture(scope="module")
def lost_update_doc():
    """A corpus document for the lost update, found by a seeded search (variant racy, fixed in fixed)."""
    from fuzzmm.corpus.entry import Entry
    from fuzzmm.examples.lost_update import LostUpdate
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.search import Search
    with Executor(LostUpdate) as executor:
        found = next(Search(executor, "pct", seed=1).run(max_runs=2000, stop_at_first=True))
        ref = str(executor.ref)
    assert ref == RACY and found.reproduced
    entry = Entry(model="lost-update", variant="racy", program=ref, scenario=found.scenario,
                  schedule=found.schedule, kind=found.finding.kind, signature=found.finding.signature,
                  message=found.finding.message, found_by={"strategy": "pct", "seed": 1}, fixed_in=["fixed"])
    return entry.to_json()


def write_corpus(directory, files):
    """Write {name: document or raw text} into `directory` through fuzzmm.corpus where possible."""
    from fuzzmm import corpus
    directory.mkdir(exist_ok=True)
    for name, doc in files.items():
        if isinstance(doc, str):
            (directory / name).write_text(doc)
        else:
            corpus.write_atomic(str(directory / name), doc)
    return directory


def edited(doc, **changes):
    return {**json.loads(json.dumps(doc)), **changes}


def failure_sections(result):
    """The text of the FAILURES section of an inner run."""
    text = result.stdout.str()
    start = text.find("= FAILURES =")
    end = text.find("short test summary info")
    return text[start:end] if start >= 0 else ""


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except OSError:
        return False


def assert_no_fuzzer_traceback(text):
    assert "Traceback" not in text
    assert "fuzzmm/" not in text.replace("fuzzmm/examples", ""), text   # no frame from inside fuzzmm
    assert "\nE  " not in text                                            # no pytest assertion frames


# ---- corpus replay ----

@pytest.mark.slow
def test_corpus_under_xdist_fails_only_the_item_naming_a_fixed_variant_buggy(pytester, lost_update_doc):
    """`pytest -n 2 --fuzzmm-corpus DIR`: good files pass; the one edited to say the fixed variant
    has the bug fails alone, with the signature and swimlane; fixtures give per-worker pools."""
    pytester.makepyfile(test_fixtures="""
        import json, os
        import pytest
        from fuzzmm.examples.lost_update import LostUpdate

        @pytest.mark.parametrize("i", range(4))
        def test_pool_and_executor(fuzzmm_pool, fuzzmm_executor, i):
            counter = fuzzmm_pool.atomic(5)
            assert counter.load() == 5
            executor = fuzzmm_executor(LostUpdate)
            executor.run(executor.program.default_scenario())
            with open(f"record-{os.getpid()}-{i}.json", "w") as f:
                json.dump({"worker": os.environ.get("PYTEST_XDIST_WORKER"), "pools": [fuzzmm_pool.name,
                           executor.pool.name], "pids": executor.worker_pids}, f)
    """)
    fixed_says_buggy = edited(lost_update_doc, variant="fixed", program=FIXED, fixed_in=[])
    write_corpus(pytester.path / "corpus", {
        "good.json": lost_update_doc,
        "good-without-fixed-in.json": edited(lost_update_doc, fixed_in=[]),
        "fixed-named-buggy.json": fixed_says_buggy,
    })
    result = pytester.runpytest_subprocess("-n", "2", "--fuzzmm-corpus", "corpus", "-rf",
                                           "-p", "no:cacheprovider", "--hypothesis-profile", "fuzzmm-ci")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["FAILED corpus/fixed-named-buggy.json::replay*"])
    failures = failure_sections(result)
    assert ("FAIL fixed (its variant): does not reproduce assertion@LostUpdate.check any more; "
            "got no finding") in failures
    assert "expected: assertion@LostUpdate.check: counter is" in failures
    assert "task 0" in failures and "task 1" in failures                     # the swimlane
    assert_no_fuzzer_traceback(failures)

    records = [json.loads(p.read_text()) for p in pytester.path.glob("record-*.json")]
    assert len(records) == 4
    pools = [name for r in records for name in r["pools"]]
    assert len(set(pools)) == len(pools)                                     # unique names
    assert all(f"-{r['worker']}-" in name for r in records for name in r["pools"])
    assert not [n for n in pools if os.path.exists(f"/dev/shm/{n}")]           # all unlinked
    assert not [pid for r in records for pid in r["pids"] if alive(pid)]      # workers stopped


def test_corpus_edits_make_exactly_their_item_fail_with_one_readable_reason(pytester, lost_update_doc):
    """Each broken expectation or bad file fails its own item with a short message; the good file passes."""
    write_corpus(pytester.path / "corpus", {
        "a-good.json": lost_update_doc,
        "b-racy-listed-as-fixed.json": edited(lost_update_doc, fixed_in=["fixed", "racy"]),
        "c-variant-renamed.json": edited(lost_update_doc, variant="fixed"),
        "d-unknown-variant.json": edited(lost_update_doc, fixed_in=["fxed"]),
        "e-broken.json": '{"format": 1, "model": ',
        "f-future.json": edited(lost_update_doc, format=99),
    })
    (pytester.path / "corpus" / "notes.txt").write_text("not a corpus file")
    result = pytester.runpytest_inprocess("--fuzzmm-corpus", "corpus", "-rf", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=5)
    out = result.stdout.str()
    for name in "bcdef":
        assert f"FAILED corpus/{name}-" in out
    assert "FAILED corpus/a-good.json" not in out
    failures = failure_sections(result)
    assert_no_fuzzer_traceback(failures)
    assert ("FAIL racy (listed in fixed_in): still reproduces assertion@LostUpdate.check, "
            "so it is not fixed there") in failures
    assert "ok   fixed (listed in fixed_in): does not reproduce it (no finding)" in failures
    assert "!! assertion in LostUpdate.check" in failures                     # the racy run's swimlane
    assert (f"FAIL fixed (its variant): the file names variant 'fixed', but its program {RACY} "
            "is variant 'racy'") in failures
    assert "model lost-update has no variant 'fxed' (it has: racy, fixed)" in failures
    assert "\ncorpus/e-broken.json: not valid JSON (line 1, column" in failures
    assert "\ncorpus/f-future.json: unknown corpus format version 99" in failures


@pytest.mark.slow
def test_clean_corpus_passes_and_the_ini_setting_replays_it_without_arguments(pytester, lost_update_doc):
    """--fuzzmm-corpus with reproducing files passes; `fuzzmm_corpus` in the ini file replays the
    corpus when pytest runs without paths, and not when it is given a path."""
    write_corpus(pytester.path / "corpus", {"good.json": lost_update_doc})
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_inprocess("--fuzzmm-corpus", "corpus", "-m", "fuzzmm",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["fuzzmm: replaying corpus *corpus (1 files)"])

    pytester.makeini("[pytest]\nfuzzmm_corpus = corpus\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
    pytester.runpytest_inprocess("test_plain.py", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_corpus_directory_that_is_missing_a_file_or_empty_is_a_usage_error(pytester):
    """--fuzzmm-corpus naming nothing, a file, or "" (an unset variable) is a usage error saying which."""
    pytester.makefile(".py", progs="")
    for given, says in (("nowhere", "*fuzzmm: corpus directory *nowhere does not exist*"),
                        ("progs.py", "*fuzzmm: corpus directory *progs.py is not a directory*"),
                        ("", "*fuzzmm: --fuzzmm-corpus needs a directory, not an empty string*")):
        result = pytester.runpytest_inprocess("--fuzzmm-corpus", given, "-p", "no:cacheprovider")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([says])


@pytest.mark.slow
def test_a_corpus_item_runs_alone_by_the_node_id_its_failure_printed(pytester, lost_update_doc):
    """`pytest corpus/one.json::replay` runs that item only, with or without --fuzzmm-corpus; a test
    file named in the corpus directory leaves every corpus item to run."""
    write_corpus(pytester.path / "corpus", {"one.json": lost_update_doc, "two.json": lost_update_doc})
    for extra in ((), ("--fuzzmm-corpus", "corpus")):
        result = pytester.runpytest_inprocess(*extra, "corpus/one.json::replay", "-v", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["corpus/one.json::replay PASSED*"])
    # A test file named in the corpus directory chooses no corpus file: all of them run beside it.
    pytester.makepyfile(**{"corpus/test_plain": "def test_plain():\n    pass\n"})
    result = pytester.runpytest_inprocess("--fuzzmm-corpus", "corpus", "corpus/test_plain.py", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


# ---- fuzz tests ----

@pytest.mark.slow
def test_fuzz_test_passes_clean_and_expected_and_reports_a_finding_as_signature_and_swimlane(pytester):
    """fuzz_test: the fixed variant is clean, the racy one is caught when expected, and an unexpected
    finding fails with its signature, the swimlane and a corpus line that replays."""
    pytester.makepyfile(test_fuzz="""
        from fuzzmm.testing import fuzz, fuzz_test
        from fuzzmm.examples.lost_update import LostUpdate, LostUpdateFixed

        test_fixed_is_clean = fuzz_test(LostUpdateFixed, max_examples=30)
        test_racy_is_caught = fuzz_test(LostUpdate, expect="assertion@LostUpdate.check")
        test_racy = fuzz_test(LostUpdate)
        test_fixed_expecting_a_bug = fuzz_test(LostUpdateFixed, expect="assertion", max_examples=10)

        def test_racy_by_hand_unshrunk(fuzzmm_executor):
            fuzz(fuzzmm_executor(LostUpdate), "ci", shrink_s=0)
    """)
    result = pytester.runpytest_inprocess("--fuzzmm-profile", "ci", "-rf", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(["fuzzmm: fuzz tests use Hypothesis profile fuzzmm-ci (--fuzzmm-profile)",
                                 "FAILED test_fuzz.py::test_racy - fuzzmm found assertion@LostUpdate.check*",
                                 "FAILED test_fuzz.py::test_fixed_expecting_a_bug - fuzzmm: expected*",
                                 "FAILED test_fuzz.py::test_racy_by_hand_unshrunk - fuzzmm found*"])
    failures = failure_sections(result)
    assert_no_fuzzer_traceback(failures)
    assert f"fuzzmm found assertion@LostUpdate.check in lost-update variant racy ({RACY})" in failures
    assert "  signature: assertion@LostUpdate.check" in failures
    assert "  scenario:  increment(1) | increment(1)\n  switches:  [(2, 1)]" in failures   # shrunk to the race
    assert "!! assertion in LostUpdate.check" in failures and "task 1" in failures
    assert "none in 10 runs, profile fuzzmm-ci" in failures
    # Shrinking stopped at once: the first failure is reported, in one run more than it took to find.
    unshrunk = failures[failures.index("test_racy_by_hand_unshrunk"):]
    assert "profile fuzzmm-ci" in unshrunk and "!! assertion in LostUpdate.check" in unshrunk

    # The corpus line printed with the failure is a corpus file that replays.
    line = next(x for x in failures.splitlines() if x.startswith('{"format"'))
    write_corpus(pytester.path / "corpus", {"from-failure.json": json.loads(line)})
    pytester.runpytest_inprocess("--fuzzmm-corpus", "corpus", "test_fuzz.py::test_racy_is_caught",
                                 "--fuzzmm-profile", "ci", "-p", "no:cacheprovider").assert_outcomes(passed=2)


@pytest.mark.slow
def test_the_corpus_line_names_the_program_s_module_so_it_replays_the_checkout_it_runs_in(pytester, tmp_path):
    """A program in a module importable from the project's root is named by its module, not its
    file: the printed line replays from the root, and in a copy of the project with the bug fixed
    it replays that copy's code (and so no longer reproduces)."""
    racy = """
        from fuzzmm.program import Program, op

        class Racy(Program):
            name, tasks = "inline", (2, 2)

            def setup(self, pool):
                self.x = pool.atomic(0)

            @op(n=[1, 2])
            def inc(self, n):
                self.x.store(self.x.load() + n)

            def check(self, scenario):
                assert self.x.peek() == sum(args[0] for task in scenario.tasks for _, args in task)
    """
    pytester.makepyfile(racy=racy, test_racy="from fuzzmm.testing import fuzz_test\nfrom racy import Racy\n"
                                             "test_racy = fuzz_test(Racy)\n")
    result = pytester.runpytest_inprocess("--fuzzmm-profile", "ci", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    line = next(x for x in failure_sections(result).splitlines() if x.startswith('{"format"'))
    assert json.loads(line)["program"] == "racy:Racy"
    clone = tmp_path / "clone"
    (clone / "corpus").mkdir(parents=True)
    for root in (pytester.path, clone):         # projects, whose corpus may import their code
        (root / "pyproject.toml").write_text("")
    (clone / "racy.py").write_text(textwrap.dedent(racy).replace("self.x.store(self.x.load() + n)", "self.x.add(n)"))
    for root in (pytester.path, clone):
        (root / "corpus" / "saved.json").parent.mkdir(exist_ok=True)
        (root / "corpus" / "saved.json").write_text(line)
    replays = [subprocess.run([sys.executable, "-m", "fuzzmm", "replay", "corpus/saved.json"], capture_output=True,
                              text=True, cwd=root, timeout=HANG_S) for root in (pytester.path, clone)]
    assert [r.returncode for r in replays] == [1, 0], [r.stderr for r in replays]


@pytest.mark.slow
def test_the_corpus_line_names_a_src_layout_package_module_by_its_dotted_name(pytester, monkeypatch):
    """A program in a package under src/, on PYTHONPATH, is named by its dotted module, so its relative
    imports work when the line replays; a test package pytest alone put on the path is named by its file."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, (str(pytester.path / "src"),
                                                                   os.environ.get("PYTHONPATH")))))
    pytester.makeini("[pytest]\npythonpath = src\n")      # for this process, which read PYTHONPATH long ago
    (pytester.path / "pyproject.toml").write_text("")    # a project, whose corpus may import its code
    pytester.makepyfile(**{
        "src/mypkg/__init__.py": "",
        "src/mypkg/helpers.py": "VALUES = [1, 2]\n",
        "src/mypkg/models.py": textwrap.dedent("""
            from fuzzmm.program import Program, op
            from .helpers import VALUES

            class Racy(Program):
                name, tasks = "src-racy", (2, 2)

                def setup(self, pool):
                    self.x = pool.atomic(0)

                @op(n=VALUES)
                def inc(self, n):
                    self.x.store(self.x.load() + n)

                def check(self, scenario):
                    assert self.x.peek() == sum(args[0] for task in scenario.tasks for _, args in task)
        """),
        "tests/test_racy.py": "from fuzzmm.testing import fuzz_test\nfrom mypkg.models import Racy\n"
                              "test_racy = fuzz_test(Racy)\n",
        "sub/tests/__init__.py": "",
        "sub/tests/test_inline.py": textwrap.dedent("""
            from fuzzmm.testing import fuzz_test
            from mypkg import models

            class Inline(models.Racy):
                name = "inline-racy"

            test_inline = fuzz_test(Inline)
        """)})
    result = pytester.runpytest_inprocess("--fuzzmm-profile", "ci", "-p", "no:cacheprovider", "tests", "sub")
    result.assert_outcomes(failed=2)
    lines = [x for x in failure_sections(result).splitlines() if x.startswith('{"format"')]
    programs = sorted(json.loads(line)["program"] for line in lines)
    assert programs == [f"{pytester.path / 'sub' / 'tests' / 'test_inline.py'}:Inline", "mypkg.models:Racy"]
    for i, line in enumerate(lines):
        (pytester.path / f"saved{i}.json").write_text(line)
        replay = subprocess.run([sys.executable, "-m", "fuzzmm", "replay", f"saved{i}.json"], capture_output=True,
                                text=True, cwd=pytester.path, timeout=HANG_S)
        assert replay.returncode == 1, replay.stderr


@pytest.mark.slow
def test_in_ci_the_short_summary_gives_a_failure_one_line(pytester, monkeypatch):
    """With CI set pytest prints a text report whole in its short summary; a fuzz failure and a
    corpus failure there are one line each, and the full report stays in the failures section."""
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(test_ci="""
        from fuzzmm.testing import fuzz_test
        from fuzzmm.examples.lost_update import LostUpdate

        test_racy = fuzz_test(LostUpdate)
    """)
    write_corpus(pytester.path / "corpus", {"broken.json": '{"format": 1, "model": '})
    result = pytester.runpytest_inprocess("--fuzzmm-corpus", "corpus", "test_ci.py", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    summary = result.stdout.str().split("short test summary info")[1].splitlines()[1:]
    assert sorted(line.split(" - ")[0] for line in summary[:2]) == ["FAILED corpus/broken.json::replay",
                                                             "FAILED test_ci.py::test_racy"]
    assert summary[2].startswith("2 failed") or "2 failed" in summary[2]
    assert "  switches:  [(2, 1)]" in failure_sections(result)


def test_a_refused_program_fails_its_fuzz_test_with_the_reason_once(pytester):
    """A program fuzzmm refuses (an @op naming an argument its method lacks) fails its
    test with the one-line reason, not a chain of tracebacks."""
    pytester.makepyfile(test_refused="""
        from fuzzmm.program import Program, op
        from fuzzmm.testing import fuzz_test

        class Bad(Program):
            @op(m=(1,))
            def inc(self, n):
                pass

        test_bad = fuzz_test(Bad)
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    failures = failure_sections(result)
    assert failures.count("the method takes (n)") == 1
    assert "During handling" not in failures and "Traceback" not in failures


@pytest.mark.slow
def test_fuzz_test_works_in_a_test_class_and_refuses_arguments_that_cannot_work_at_once(pytester):
    """A fuzz_test in a test class runs like one in a module; a misspelt kind in `expect`,
    a misspelt Hypothesis setting, a worker count given as text or below the program's least
    tasks, or something not a program fails with one line and no fuzzing run at all; fuzz()
    refuses a misspelt kind or profile before it runs."""
    pytester.makepyfile(test_defs="""
        from fuzzmm.testing import fuzz, fuzz_test
        from fuzzmm.examples.lost_update import LostUpdate, LostUpdateFixed

        class TestLostUpdate:
            test_racy_is_caught = fuzz_test(LostUpdate, expect="assertion")
            test_fixed_is_clean = fuzz_test(LostUpdateFixed, max_examples=20)

        test_kind_typo = fuzz_test(LostUpdate, expect="asertion")
        test_setting_typo = fuzz_test(LostUpdate, max_exampels=20)
        test_workers_as_text = fuzz_test(LostUpdate, workers="2")
        test_not_a_program = fuzz_test(object)
        test_fewer_workers_than_tasks = fuzz_test(LostUpdate, workers=1)

        def test_fuzz_kind_typo(fuzzmm_executor):
            fuzz(fuzzmm_executor(LostUpdate), expect="asertion")

        def test_fuzz_profile_typo(fuzzmm_executor):
            fuzz(fuzzmm_executor(LostUpdate), profile="nope")
    """)
    result = pytester.runpytest_inprocess("--fuzzmm-profile", "ci", "-rf", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=7)
    failures = failure_sections(result)
    assert_no_fuzzer_traceback(failures[:failures.index("test_fuzz_kind_typo")])
    assert "expect='asertion': give a finding kind (refcount-underflow," in failures
    assert "max_exampels" in failures and "workers='2': expected a whole number from 1" in failures
    assert "fuzz_test(<class 'object'>): expected a Program subclass or a ProgramRef" in failures
    assert "workers=1: LostUpdate runs at least 2 tasks at once" in failures
    assert "FuzzmmError: expect='asertion'" in failures and "FuzzmmError: profile 'nope'" in failures
    assert "none in" not in failures        # refused before any run


@pytest.mark.slow
def test_example_project_passes_in_a_project_of_its_own(pytester):
    """examples/ (a model file and its tests) works copied into a fresh project."""
    for name in ("my_model.py", "test_my_model.py"):
        shutil.copy(os.path.join(EXAMPLES, name), pytester.path / name)
    result = pytester.runpytest_subprocess("--fuzzmm-profile", "ci", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


# ---- profiles and cost ----

def test_profile_choice_and_settings(monkeypatch):
    from hypothesis._settings import _CI_VARS
    from fuzzmm.errors import FuzzmmError
    from fuzzmm.profiles import active_profile, profile_settings
    for var in list(_CI_VARS) + ["FUZZMM_PROFILE"]:
        monkeypatch.delenv(var, raising=False)
    assert active_profile() == ("dev", "the default outside CI")
    monkeypatch.setenv("CI", "true")
    assert active_profile()[0] == "ci"
    monkeypatch.setenv("FUZZMM_PROFILE", "long")
    assert active_profile()[0] == "long"
    assert active_profile("dev") == ("dev", "--fuzzmm-profile")
    monkeypatch.setenv("FUZZMM_PROFILE", "huge")
    with pytest.raises(FuzzmmError, match="unknown fuzzmm profile 'huge'"):
        active_profile()
    ci, dev, long = profile_settings("ci"), profile_settings("dev"), profile_settings("long")
    assert ci.derandomize and ci.database is None and ci.deadline is None and ci.max_examples == 100
    assert not dev.derandomize and dev.max_examples >= ci.max_examples
    assert long.max_examples > 100 * dev.max_examples


@pytest.mark.slow
def test_the_plugin_costs_nothing_when_unused(tmp_path):
    """A pytest run that uses no fixture, fuzz test or corpus imports no part of fuzzmm beyond the plugin."""
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    code = ("import sys, pytest\n"
            "code = pytest.main(['-q', '-p', 'no:cacheprovider', sys.argv[1]])\n"
            "print(sorted(m for m in sys.modules if m.startswith('fuzzmm')))\n"
            "sys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=HANG_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    loaded = eval(proc.stdout.strip().splitlines()[-1])
    assert set(loaded) <= {"fuzzmm", "fuzzmm.pytest_plugin", "fuzzmm.profiles", "fuzzmm.errors"}, loaded


@pytest.mark.slow
def test_a_lock_order_cycle_found_by_hypothesis_shrinks_to_a_run_that_shows_it_whole(make_executor):
    """Each Hypothesis example is judged on its own lock dependencies, so the shrunk
    reproducer holds both orders and replays without a nondeterminism warning."""
    from fuzzmm.testing import FuzzFailure, fuzz
    from programs import SerialLockOrder
    ex = make_executor(SerialLockOrder)
    with pytest.raises(FuzzFailure) as failure:
        fuzz(ex, "ci")
    text = str(failure.value)
    assert "lock-order@" in text and "warning" not in text
    scenario = text.split("scenario:", 1)[1].splitlines()[0]
    assert "ab()" in scenario and "ba()" in scenario


@pytest.mark.slow
@pytest.mark.parametrize("shown_by", ["default scenario", "search"])
def test_a_hang_the_watchdog_ended_fails_a_fuzz_test_as_first_found_unshrunk(make_executor, shown_by):
    """A run past the watchdog fails the test at once, whether the default scenario shows it or
    the search does: no example more is tried, since each would last the watchdog."""
    from fuzzmm.program import Scenario
    from fuzzmm.testing import FuzzFailure, fuzz
    from programs import Spin
    ex = make_executor(Spin, watchdog_s=2.0)    # a loaded machine may hold a run of `work` for half a second
    if shown_by == "search":
        ex.program.default_scenario = lambda: Scenario.of([[("work", ())]])
    with pytest.raises(FuzzFailure) as failure:
        fuzz(ex, "ci", shrink_s=None)
    text = str(failure.value)
    assert "fuzzmm found hang@Spin.spin_python" in text, text
    runs = int(text.split(" runs, profile")[0].rsplit(" in ", 1)[1])
    assert runs == 1 if shown_by == "default scenario" else runs < 50, text


@pytest.mark.slow
def test_sigterm_during_a_fuzzmm_test_leaves_no_segment(tmp_path):
    """A cancelled CI job sends SIGTERM: the session ends as on Ctrl-C, fixtures close
    their pools, and nothing of that pytest process is left in /dev/shm."""
    import signal
    marker = tmp_path / "ready"
    (tmp_path / "test_slow.py").write_text(
        "import time\nfrom fuzzmm.examples.lost_update import LostUpdate\n"
        "def test_slow(fuzzmm_executor):\n"
        "    fuzzmm_executor(LostUpdate)\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_slow.py"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    within(HANG_S, lambda: marker.exists() or proc.poll() is not None)
    assert marker.exists(), proc.communicate()[0]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=HANG_S)
    assert [n for n in os.listdir("/dev/shm") if n.startswith(f"fuzzmm-{proc.pid}-")] == []


def test_fuzz_draws_the_default_scenario_of_the_program(make_executor):
    """fuzz() tries the author's default scenario among its drawn ones: a race only it sets up is found."""
    from fuzzmm.testing import fuzz
    from programs import RareKey
    result = fuzz(make_executor(RareKey), "ci", expect="assertion")
    assert result.scenario.tasks == ((("bump", (777,)),), (("bump", (777,)),))


@pytest.mark.slow
def test_fuzz_tests_draw_pct_schedules_and_campaign_hypothesis_does_not():
    """schedules(pct=True), which fuzz() uses, draws PCT priorities over every task; the default does not."""
    from hypothesis import find
    from hypothesis.errors import NoSuchExample
    from fuzzmm.sched.draws import schedules
    drawn = find(schedules(3, max_step=40, pct=True), lambda s: s.kind == "pct")
    assert sorted(drawn.priorities) == [0, 1, 2] and all(1 <= p <= 40 for p in drawn.change_points)
    with pytest.raises(NoSuchExample):
        find(schedules(3, max_step=40), lambda s: s.kind == "pct")


def test_fixed_in_may_name_a_built_in_variant_a_model_file_extends(pytester):
    """A file of a user's variant of the seed model lists a built-in variant as fixed, as
    `fuzzmm replay --variant hugh` accepts it: the corpus item replays it there and passes."""
    (pytester.path / "corpus").mkdir()
    (pytester.path / "pyproject.toml").write_text("")    # a project, whose corpus may import its code
    (pytester.path / "corpus" / "mine.py").write_text(
        "from fuzzmm.mm.base import ThpNuma\nclass Mine(ThpNuma):\n    variant = 'mine'\n")
    with open(os.path.join(HERE, "..", "corpus", "h3-rc2-lost-write.json")) as f:
        doc = json.load(f)
    doc.update(model="mine.py", program="mine.py:Mine", variant="mine", fixed_in=["hugh"])
    (pytester.path / "corpus" / "mine-lost-write.json").write_text(json.dumps(doc))
    result = pytester.runpytest_inprocess("--fuzzmm-corpus", "corpus", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
