"""The fuzzmm command: its contract of outputs and exit codes, and bad input."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from waiting import HANG_S, fuzz_until, is_finding

HERE = os.path.dirname(os.path.abspath(__file__))


def fuzzmm(*args, cwd=None, timeout=HANG_S):
    return subprocess.run([sys.executable, "-m", "fuzzmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def one_line_error(proc):
    lines = proc.stderr.strip().splitlines()
    return proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr


def test_variants_lists_the_example_and_its_twin():
    """`fuzzmm variants --model lost-update` lists both variants with a summary each."""
    proc = fuzzmm("variants", "--model", "lost-update", "--json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0
    assert [r["variant"] for r in rows] == ["racy", "fixed"]
    assert all(r["summary"] for r in rows)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    proc = fuzz_until(is_finding, "--model", "lost-update", "--executors", "2", "--corpus", str(corpus),
                      "--seed", "5", "--json")
    return proc, corpus


@pytest.mark.slow
def test_fuzz_json_ends_with_a_summary_of_findings(campaign):
    """`fuzz --json` prints JSON lines ending in a summary; the racy variant's finding is in the corpus."""
    proc, corpus = campaign
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1, proc.stderr
    summary = events[-1]
    assert summary["event"] == "summary" and summary["runs"] > 0 and summary["runs_per_s"] > 0
    assert len(summary["findings"]) == 1, summary["findings"]
    [finding] = summary["findings"]
    assert finding["variant"] == "racy" and finding["kind"] == "assertion"
    assert finding["signature"] == "assertion@LostUpdate.check"
    assert finding["first_found_s"] >= 0 and os.path.exists(finding["corpus_file"])
    assert any(e["event"] == "finding" for e in events[:-1])


@pytest.mark.slow
def test_replay_reproduces_and_a_fixed_variant_does_not(campaign):
    """`replay --repeat 20 --json` reproduces consistently (exit 1); on `fixed` it does not (exit 0)."""
    _, corpus = campaign
    [path] = [os.path.join(corpus, n) for n in os.listdir(corpus) if n.endswith(".json")]
    proc = fuzzmm("replay", path, "--repeat", "20", "--json")
    result = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert result == {**result, "event": "replay", "reproduced": True, "consistent": True, "runs": 20,
                      "kind": "assertion"}
    proc = fuzzmm("replay", path, "--variant", "fixed", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["reproduced"] is False


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tmp_path):
    """Unknown variant, broken corpus file, unknown format, model file that raises: one line, exit 2."""
    assert one_line_error(fuzzmm("fuzz", "--model", "lost-update", "--variant", "nope", "--duration", "1"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1, "model": ')
    assert one_line_error(fuzzmm("replay", str(broken)))
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": 99}))
    proc = fuzzmm("replay", str(future))
    assert one_line_error(proc) and "format version 99" in proc.stderr
    raising = tmp_path / "raising.py"
    raising.write_text("raise RuntimeError('boom')\n")
    proc = fuzzmm("fuzz", "--model", str(raising), "--duration", "1")
    assert one_line_error(proc) and "raised on import" in proc.stderr
    assert one_line_error(fuzzmm("replay", str(tmp_path / "missing.json")))
    assert broken.read_text() == '{"format": 1, "model": '


BAD_MODELS = {
    "a domain value a corpus file cannot store": (
        "class A(Program):\n    @op(cfg=[{'mode': 1}])\n    def go(self, cfg): pass\n",
        "@op argument 'cfg' has the value {'mode': 1}"),
    "a helper that replaces fuzzmm's own method": (
        "class A(Program):\n    @op()\n    def go(self): pass\n    def validate(self): pass\n",
        "validate would replace fuzzmm's own Program.validate"),
    "two classes under one variant name": (
        "class A(Program):\n    @op(n=(1,))\n    def inc(self, n): pass\nclass B(A): pass\n",
        "both have variant 'default'"),
    "a VARIANTS value that is not a class": ("VARIANTS = {'x': 42}\n", "not a Program subclass"),
    "an @op naming other arguments than its method": (
        "class A(Program):\n    @op(m=(1,))\n    def inc(self, n): pass\n", "the method takes (n)"),
    "tasks out of range": (
        "class A(Program):\n    tasks = (0, 0)\n    @op(n=(1,))\n    def inc(self, n): pass\n", "`tasks`"),
    "a variant that is not a string": (
        "class A(Program):\n    variant = 7\n    @op()\n    def go(self): pass\n", "`variant` must be"),
    "a generator op, whose body a call never runs": (
        "class A(Program):\n    @op()\n    def go(self):\n        yield 1\n", "generator or async"),
    "max_steps below 1": (
        "class A(Program):\n    max_steps = -1\n    @op()\n    def go(self): pass\n", "`max_steps`"),
    "a file that ends the process as it is imported": (
        "import os\nos._exit(0)\n", "raised on import: SystemExit: os._exit(0) called"),
    "a built-in variant's name given to a subclass": (
        "from fuzzmm.mm.variants import Hugh\nclass Mine(Hugh):\n    variant = 'hugh'\n",
        "variant 'hugh' is a variant of the built-in thp-numa this file extends; give Mine a name of its own"),
    "a built-in variant's name taken by a subclass": (
        "from fuzzmm.mm.variants import V38\nclass Mine(V38): pass\n",
        "Mine would take the variant name 'v3.8' of V38"),
}


def test_a_misspelt_override_is_warned_of_in_one_line(tmp_path):
    """A method that overrides nothing but is a near miss of a base's name is named, with the likely
    intended name, in one warning line; the model still loads (exit 0)."""
    model = tmp_path / "mine.py"
    model.write_text("from fuzzmm.mm.variants import Hugh\nclass Mine(Hugh):\n    variant = 'mine'\n"
                     "    def numamigrate_isolate_pgae(self, node, page):\n        return 0\n"
                     "    def my_helper(self):\n        return 0\n")
    proc = fuzzmm("variants", "--model", str(model))
    assert proc.returncode == 0 and "mine" in proc.stdout
    assert proc.stderr.strip().splitlines() == ["fuzzmm: warning: Mine.numamigrate_isolate_pgae overrides nothing; "
                                                "did you mean numamigrate_isolate_page?"]


def test_a_helper_near_the_name_of_fuzzmm_s_own_method_is_not_warned_of(tmp_path):
    """Only the methods a model overrides are near misses: a helper `revalidate` is not taken
    for a misspelt Program.validate."""
    model = tmp_path / "mine.py"
    model.write_text("from fuzzmm.program import Program, op\nclass Mine(Program):\n"
                     "    @op()\n    def go(self):\n        self.revalidate()\n"
                     "    def revalidate(self):\n        return 0\n    def chek(self, scenario):\n        pass\n"
                     "    def random_scenaro(self, rng, swarm=False):\n        pass\n")
    proc = fuzzmm("variants", "--model", str(model))
    assert proc.returncode == 0
    assert proc.stderr.strip().splitlines() == [
        "fuzzmm: warning: Mine.chek overrides nothing; did you mean check?",
        "fuzzmm: warning: Mine.random_scenaro overrides nothing; did you mean random_scenario?"]


@pytest.mark.parametrize("case", BAD_MODELS)
def test_a_model_file_that_defines_programs_wrongly_is_bad_input(tmp_path, case):
    """A model file whose programs cannot be fuzzed as written is refused in one line, exit 2."""
    body, expected = BAD_MODELS[case]
    model = tmp_path / "model.py"
    model.write_text("from fuzzmm.program import Program, op\n" + body)
    proc = fuzzmm("variants", "--model", str(model))
    assert one_line_error(proc) and expected in proc.stderr, proc.stderr


def fuzz_model_file(tmp_path, body, duration="2"):
    """`fuzzmm fuzz` on a model file holding `body`, one executor, corpus under tmp_path/c."""
    model = tmp_path / "model.py"
    model.write_text("from fuzzmm.program import Program, Scenario, op\n" + body)
    return fuzzmm("fuzz", "--model", str(model), "--duration", duration, "--executors", "1",
                  "--corpus", str(tmp_path / "c"))


def test_a_default_scenario_naming_an_op_the_program_lacks_is_bad_input_not_a_finding(tmp_path):
    """A misspelt op in default_scenario() is the program's definition at fault: one line,
    exit 2, naming the op, and no corpus file."""
    proc = fuzz_model_file(tmp_path, "class A(Program):\n    @op(n=(1,))\n    def inc(self, n): pass\n"
                                     "    def default_scenario(self):\n        return Scenario.of([[('icn', (1,))]])\n")
    assert one_line_error(proc) and "A.default_scenario(): task 0: " in proc.stderr and "'icn'" in proc.stderr
    assert not [n for n in os.listdir(tmp_path / "c") if n.endswith(".json")]


def test_a_program_whose_setup_raises_is_one_line_without_an_empty_table(tmp_path):
    """A setup that raises ends the campaign with its error alone: exit 2, nothing on stdout."""
    proc = fuzz_model_file(tmp_path, "class A(Program):\n    def setup(self, pool):\n"
                                     "        raise RuntimeError('boom')\n"
                                     "    @op(n=(1,))\n    def inc(self, n): pass\n")
    assert one_line_error(proc) and "A.setup raised RuntimeError: boom" in proc.stderr and proc.stdout == ""


def test_a_pool_config_the_pool_cannot_take_is_one_line_naming_it(tmp_path):
    """A misspelt pool_config key is refused naming pool_config, exit 2."""
    proc = fuzz_model_file(tmp_path, "class A(Program):\n    pool_config = {'pagez': 4}\n"
                                     "    @op(n=(1,))\n    def inc(self, n): pass\n")
    assert one_line_error(proc) and "A.pool_config {'pagez': 4}: " in proc.stderr and proc.stdout == ""


@pytest.mark.slow
def test_a_corpus_file_whose_scenario_or_switches_do_not_fit_is_bad_input(tmp_path):
    """Arguments outside an op's domain or not a list, no tasks or a task with no ops, switches to a task the
    scenario lacks, steps negative, fractional, text, infinite or past a 64-bit counter, too many switches, a
    field of the wrong JSON type or missing, JSON nested past Python's stack:
    one line, exit 2, before anything runs; the file is left as it was; dedup skips them, removing none."""
    doc = {"format": 1, "model": "lost-update", "variant": "racy",
           "program": "fuzzmm.examples.lost_update:LostUpdate",
           "scenario": [[["increment", [1]]], [["increment", [1]]]], "schedule": {"switches": [[3, 1]]},
           "signature": {"kind": "assertion", "signature": "assertion@check"}}
    bad = {"out_of_domain.json": {**doc, "scenario": [[["increment", [999]]], [["increment", [1]]]]},
           "no_such_task.json": {**doc, "schedule": {"switches": [[3, 7]]}},
           "negative_step.json": {**doc, "schedule": {"switches": [[-1, 0]]}},
           "infinite_step.json": {**doc, "schedule": {"switches": [[float("inf"), 0]]}},
           "huge_step.json": {**doc, "schedule": {"switches": [[10 ** 30, 0]]}},
           "many_switches.json": {**doc, "schedule": {"switches": [[i, 0] for i in range(5000)]}},
           "fractional_step.json": {**doc, "schedule": {"switches": [[3.5, 1]]}},
           "step_as_text.json": {**doc, "schedule": {"switches": [["3", 1]]}},
           "empty_task.json": {**doc, "scenario": [[], [["increment", [1]]]]},
           "no_tasks.json": {**doc, "scenario": []},
           "format_as_float.json": {**doc, "format": 1.0},
           "kind_as_number.json": {**doc, "signature": {"kind": 3}},
           "signature_as_number.json": {**doc, "signature": {"kind": "assertion", "signature": 3}},
           "model_as_number.json": {**doc, "model": 7},
           "found_by_as_list.json": {**doc, "found_by": ["pct"]},
           "args_as_text.json": {**doc, "scenario": [[["increment", "1"]], [["increment", [1]]]]},
           "no_signature_name.json": {**doc, "signature": {"kind": "assertion"}}}
    for name, content in bad.items():
        path = tmp_path / name
        path.write_text(json.dumps(content))
        proc = fuzzmm("replay", str(path))
        assert one_line_error(proc) and name in proc.stderr, proc.stderr
        assert json.loads(path.read_text()) == content
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert one_line_error(fuzzmm("replay", str(tmp_path / "deep.json")))
    (tmp_path / "good.json").write_text(json.dumps({**doc, "schedule": {"switches": [[2, 1]]}}))
    dedup = fuzzmm("corpus", "dedup", str(tmp_path))     # skips each unusable one with a warning, removes none
    unusable = set(bad) | {"deep.json"}
    assert dedup.returncode == 0 and all(f"skipped {tmp_path / n}" in dedup.stderr for n in unusable), dedup.stderr
    assert all((tmp_path / n).exists() for n in unusable) and "0 duplicate(s) removed" in dedup.stdout


@pytest.mark.slow
def test_a_corpus_of_a_model_file_moves_with_its_project(tmp_path):
    """Corpus files name the model file relative to themselves: after the project moves
    (another checkout, another CI path) they still replay, from any directory."""
    project = tmp_path / "a"
    project.mkdir()
    (project / "pyproject.toml").write_text("")      # a project, whose corpus may import its code
    shutil.copy(os.path.join(HERE, "..", "fuzzmm", "examples", "lost_update.py"), project / "racy.py")
    proc = fuzz_until(is_finding, "--model", "racy.py", "--variant", "racy", "--executors", "1",
                      "--corpus", "corpus", "--seed", "1", cwd=project)
    assert proc.returncode == 1, proc.stderr
    name = next(n for n in os.listdir(project / "corpus") if n.endswith(".json"))
    assert json.loads((project / "corpus" / name).read_text())["program"] == "../racy.py:LostUpdate"
    moved = tmp_path / "b"
    project.rename(moved)
    assert fuzzmm("replay", os.path.join("corpus", name), cwd=moved).returncode == 1
    assert fuzzmm("replay", str(moved / "corpus" / name), cwd=tmp_path).returncode == 1


def test_a_moved_corpus_keeps_its_file_names(tmp_path):
    """The name a corpus gives a finding does not depend on where the project lies, so a
    campaign in a moved checkout replaces the file instead of writing a second one."""
    from fuzzmm.corpus.entry import load_doc
    doc = {"format": 1, "model": "../racy.py", "variant": "racy", "program": "../racy.py:LostUpdate",
           "scenario": [[["increment", [1]]]], "schedule": {"switches": []},
           "signature": {"kind": "assertion", "signature": "assertion@LostUpdate.check"}}
    names = []
    for project in ("a", "b"):
        corpus_dir = tmp_path / project / "corpus"
        entry = load_doc(doc, str(corpus_dir / "f.json"), base=str(corpus_dir))
        assert entry.model == str(tmp_path / project / "racy.py")
        names.append(entry.file_name(base=str(corpus_dir)))
    assert names[0] == names[1]


def test_replay_finds_a_program_module_in_the_working_directory(tmp_path):
    """A corpus line naming `module:Class` (as fuzz_test prints it) replays from the
    project's directory without PYTHONPATH, as `python -m` would import it."""
    (tmp_path / "pyproject.toml").write_text("")     # the project, whose corpus may import its code
    (tmp_path / "mymodel.py").write_text("from fuzzmm.examples.lost_update import LostUpdate\n"
                                         "class Mine(LostUpdate):\n    variant = 'mine'\n")
    doc = {"format": 1, "model": "mymodel", "variant": "mine", "program": "mymodel:Mine",
           "scenario": [[["increment", [1]]], [["increment", [1]]]], "schedule": {"switches": [[2, 1]]},
           "signature": {"kind": "assertion", "signature": "assertion@LostUpdate.check"}}
    (tmp_path / "f.json").write_text(json.dumps(doc))
    proc = subprocess.run([sys.executable, "-P", "-m", "fuzzmm", "replay", "f.json"],   # -P: as the
                          capture_output=True, text=True, cwd=tmp_path, timeout=HANG_S)  # console script
    assert proc.returncode == 1, proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_crash_that_does_not_replay_is_not_kept(tmp_path):
    """A worker that died once for a reason outside the program (here: a marker file,
    as an OOM kill would be) is not written to the corpus: its run does not replay."""
    marker = tmp_path / "died-once"
    model = tmp_path / "model.py"
    model.write_text("import os, signal\nfrom fuzzmm.program import Program, op\n"
                     "class OnceKilled(Program):\n    tasks = (1, 1)\n"
                     "    def setup(self, pool):\n        self.n = pool.atomic(0)\n"
                     "    @op(n=(1,))\n    def work(self, n):\n        self.n.add(n)\n"
                     f"        if not os.path.exists({str(marker)!r}):\n"
                     f"            open({str(marker)!r}, 'w').close()\n"
                     "            os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = fuzzmm("fuzz", "--model", str(model), "--duration", "2", "--executors", "1",
                  "--corpus", str(tmp_path / "c"), "--json", "--seed", "1")
    assert marker.exists()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["findings"] == []
    assert [n for n in os.listdir(tmp_path / "c") if n.endswith(".json")] == []


@pytest.fixture
def without_root_override():
    """A command prefix under which permissions bind even for root (who ignores them)."""
    if os.geteuid() != 0:
        return []
    prefix = [shutil.which("setpriv") or "setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    try:
        subprocess.run([*prefix, "true"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("running as root, and setpriv cannot drop root's override of permissions here")
    return prefix


def test_replay_refuses_to_write_its_trace_over_the_corpus_file(tmp_path):
    """`--trace-json` naming the corpus file being replayed is one line and exit 2; the file stays."""
    path = tmp_path / "h1.json"
    shutil.copy(os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json"), path)
    before = path.read_text()
    proc = fuzzmm("replay", str(path), "--trace-json", str(path))
    assert one_line_error(proc) and "corpus file itself" in proc.stderr
    assert path.read_text() == before


def test_a_long_replay_says_how_far_it_is_and_ctrl_c_ends_it_with_what_it_saw():
    """`replay --repeat` of many runs prints its progress on stderr; Ctrl-C gives the verdict of the
    runs made, marked interrupted, and exit 130."""
    proc = subprocess.Popen([sys.executable, "-m", "fuzzmm", "replay", os.path.join(HERE, "..", "corpus",
                             "h1-mel-counter-leak.json"), "--repeat", str(10 ** 12)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert " of 1000000000000 runs" in line, line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 130, err
    assert out.startswith("reproduced: expected counter-leak@check_counters") and "; interrupted)" in out, out


def test_trace_json_and_minimize_o_refuse_to_write_over_another_reproducer(tmp_path):
    """`--trace-json` or `minimize -o` naming another corpus file (a slip of the tab key) is one
    line, exit 2, and the file stays as it was."""
    source, other = tmp_path / "h3.json", tmp_path / "h1.json"
    shutil.copy(os.path.join(HERE, "..", "corpus", "h3-rc2-lost-write.json"), source)
    shutil.copy(os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json"), other)
    before = other.read_text()
    for proc in (fuzzmm("replay", str(source), "--trace-json", str(other)),
                 fuzzmm("minimize", str(source), "-o", str(other))):
        assert one_line_error(proc) and "holds a reproducer of mel counter-leak@check_counters" in proc.stderr
        assert other.read_text() == before


def test_replay_refuses_a_trace_json_it_cannot_write_before_running(tmp_path, without_root_override):
    """`--trace-json` in a missing or read-only directory, or naming a directory, is one line and
    exit 2 before the replay runs: no verdict on stdout."""
    path = tmp_path / "h1.json"
    shutil.copy(os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json"), path)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        for trace in ("/proc/nope/x", str(tmp_path), str(read_only / "t.jsonl")):
            proc = subprocess.run([*without_root_override, sys.executable, "-m", "fuzzmm", "replay", str(path),
                                   "--trace-json", trace], capture_output=True, text=True, timeout=HANG_S)
            assert one_line_error(proc) and trace in proc.stderr and proc.stdout == "", proc.stdout + proc.stderr
    finally:
        read_only.chmod(0o755)


@pytest.mark.slow
def test_files_that_cannot_be_written_are_one_line_before_or_without_lost_work(tmp_path, without_root_override):
    """A read-only corpus directory is refused before a campaign starts; minimize into a
    directory, or into a read-only one, is one line and exit 2, and the input file stays."""
    read_only = tmp_path / "ro"
    read_only.mkdir()
    source = os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json")
    shutil.copy(source, read_only / "h1.json")
    read_only.chmod(0o555)
    try:
        run = lambda *args: subprocess.run([*without_root_override, sys.executable, "-m", "fuzzmm", *args],  # noqa: E731
                                           capture_output=True, text=True, timeout=HANG_S)
        refused = run("fuzz", "--model", "lost-update", "--duration", "5", "--corpus", str(read_only))
        assert one_line_error(refused) and "cannot write to corpus directory" in refused.stderr, refused.stderr
        assert one_line_error(run("minimize", str(read_only / "h1.json")))
        assert one_line_error(run("minimize", str(read_only / "h1.json"), "-o", str(tmp_path)))
        with open(source) as original:
            assert json.loads((read_only / "h1.json").read_text())["schedule"] == json.load(original)["schedule"]
    finally:
        read_only.chmod(0o755)


@pytest.mark.slow
def test_bad_command_line_values_are_refused(tmp_path):
    """A duration that is not a positive number, a run bound below 1, a corpus action
    missing or pointed at no directory: one line, exit 2, and nothing created."""
    assert one_line_error(fuzzmm("fuzz", "--model", "lost-update", "--duration", "nan"))
    assert one_line_error(fuzzmm("minimize", str(tmp_path / "x.json"), "--max-runs", "0"))
    assert one_line_error(fuzzmm("corpus"))
    assert one_line_error(fuzzmm("corpus", "dedup", str(tmp_path / "none")))
    assert one_line_error(fuzzmm("corpus", "export", str(tmp_path / "none"), str(tmp_path / "out")))
    assert not (tmp_path / "none").exists()


@pytest.mark.slow
def test_usage_errors_are_one_line_naming_the_command():
    """An invalid choice, a value of the wrong type, an unknown option or a missing argument is
    one line and exit 2 (no usage block), naming the subcommand whose --help to see."""
    cases = {"fuzz": (["--strategy", "foo"], ["--seed", "abc"], ["--duration", "abc"], ["--bogus"]),
             "corpus dedup": (["d", "--bogus"],), "replay": ([],), "": (["nope"],)}
    for command, argss in cases.items():
        for args in argss:
            proc = fuzzmm(*command.split(), *args)
            assert one_line_error(proc) and f"see {f'fuzzmm {command}'.strip()} --help" in proc.stderr, proc.stderr


def test_fuzz_and_replay_help_say_what_they_do_and_their_exit_codes():
    """`fuzz --help` and `replay --help` describe the command and its exit codes 0, 1 and 2."""
    for command, does in (("fuzz", "write each finding that replays"), ("replay", "say whether")):
        text = " ".join(fuzzmm(command, "--help").stdout.split())
        assert does in text and all(f"{code} " in text.split("Exits ")[-1] for code in "012"), text


@pytest.mark.slow
def test_option_help_says_what_strategies_and_trace_all_do():
    """`--strategy`'s help says what each strategy does; `--trace-all`'s does not ask for
    --trace, since it prints the swimlane alone (as it does here)."""
    text = " ".join(fuzzmm("fuzz", "--help").stdout.split())
    assert all(f"{s}: " in text for s in ("pct", "random", "hypothesis", "chaos", "portfolio")), text
    text = " ".join(fuzzmm("replay", "--help").stdout.split())
    assert "--trace-all print the swimlane" in text and "with --trace," not in text, text
    path = os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json")
    lines = [len(fuzzmm("replay", path, *trace).stdout.splitlines()) for trace in ([], ["--trace-all"])]
    assert lines[1] > lines[0], lines


def test_help_loads_neither_the_core_nor_the_executor_nor_hypothesis():
    """`fuzzmm fuzz --help` needs the strategy registry alone: it is quick because it imports
    no compiled core, no executor and no Hypothesis."""
    code = ("import sys\nfrom fuzzmm.cli import main\ntry:\n    main(['fuzz', '--help'])\n"
            "except SystemExit:\n    print(' '.join(sys.modules), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = set(proc.stderr.split())
    assert "fuzzmm.sched.strategies" in loaded and "pct: " in proc.stdout, proc.stderr
    assert not loaded & {"fuzzmm._core", "fuzzmm.sched.executor", "hypothesis", "multiprocess"}


def test_a_model_file_imports_the_modules_beside_it(tmp_path):
    """A model file that imports a sibling module loads from any working directory."""
    (tmp_path / "shared_ops.py").write_text("DOMAIN = (1, 2)\n")
    (tmp_path / "model.py").write_text("from fuzzmm.program import Program, op\nfrom shared_ops import DOMAIN\n"
                                       "class A(Program):\n    @op(n=DOMAIN)\n    def inc(self, n): pass\n")
    (tmp_path / "elsewhere").mkdir()
    proc = fuzzmm("variants", "--model", str(tmp_path / "model.py"), cwd=tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr


def test_a_directory_given_as_model_is_named_as_one(tmp_path):
    """`--model DIR` says it is a directory, not that it does not exist."""
    (tmp_path / "models.py").mkdir()
    proc = fuzzmm("variants", "--model", str(tmp_path / "models.py"))
    assert one_line_error(proc) and "is a directory" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_a_variant_named_twice_is_fuzzed_once(tmp_path):
    """`--variant fixed --variant fixed` runs the fixed twin once: one row in the table, not two,
    and nothing found (exit 0)."""
    proc = fuzzmm("fuzz", "--model", "lost-update", "--variant", "fixed", "--variant", "fixed", "--duration", "1",
                  "--executors", "1", "--corpus", str(tmp_path / "c"), "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert [line.startswith("fixed ") for line in proc.stdout.splitlines()].count(True) == 1, proc.stdout


@pytest.mark.slow
def test_a_model_file_of_variants_runs_beside_the_built_in_ones_it_extends(tmp_path):
    """`fuzz --model mine.py --variant mine --variant racy`, where mine.py subclasses the racy example,
    fuzzes both side by side; a name neither has is refused with both lists."""
    model = tmp_path / "mine.py"
    model.write_text("from fuzzmm.examples.lost_update import LostUpdate\n"
                     "class Mine(LostUpdate):\n    variant = 'mine'\n")
    proc = fuzz_until(is_finding, "--model", str(model), "--variant", "mine", "--variant", "racy",
                      "--executors", "2", "--corpus", str(tmp_path / "c"), "--seed", "1")
    assert proc.returncode == 1, proc.stderr
    rows = {line.split()[0] for line in proc.stdout.splitlines()[2:] if line.split()}
    assert {"mine", "racy"} <= rows, proc.stdout
    proc = fuzzmm("fuzz", "--model", str(model), "--variant", "nope", "--duration", "1")
    assert one_line_error(proc) and "(it has: mine; the built-in lost-update: racy, fixed)" in proc.stderr


@pytest.mark.slow
def test_a_model_file_can_override_one_function_of_a_variant(tmp_path):
    """A user file subclassing the racy example and fixing `increment` fuzzes clean (exit 0)."""
    model = tmp_path / "my_fix.py"
    model.write_text(
        "from fuzzmm.examples.lost_update import LostUpdate\n"
        "class Mine(LostUpdate):\n"
        "    variant = 'mine'\n"
        "    def increment(self, n):\n"
        "        for _ in range(n):\n"
        "            self.counter.add(1)\n")
    proc = fuzz_until(lambda event: event["event"] == "progress" and event["runs"] > 100,
                      "--model", str(model), "--executors", "1", "--corpus", str(tmp_path / "c"), "--json",
                      "--seed", "1")
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 0, proc.stderr
    assert summary["findings"] == [] and summary["runs"] > 100


def test_the_table_says_when_a_campaign_was_interrupted():
    """The text summary of a campaign stopped early says so, as --json's `interrupted` does."""
    from fuzzmm.report import table
    summary = {"findings": [], "runs": 10, "elapsed_s": 1.0, "runs_per_s": 10.0, "seed": 1, "interrupted": True}
    assert "interrupted" in table(summary, ["racy"]).splitlines()[-1]
    assert "interrupted" not in table({**summary, "interrupted": False}, ["racy"])


@pytest.mark.slow
def test_paths_that_are_no_model_file_or_corpus_file_are_refused_in_one_line(tmp_path):
    """A model path that is not a .py file or is `.`, a corpus path that never ends or holds an
    integer too long to convert, a file whose program is another variant: one line, exit 2.
    A pipe holding a corpus file replays."""
    notes = tmp_path / "notes.txt"
    notes.write_text("x = 1\n")
    for model in (str(notes), "."):
        assert one_line_error(fuzzmm("variants", "--model", model))
    proc = fuzzmm("replay", "/dev/zero")
    assert one_line_error(proc) and "too large to be a corpus file" in proc.stderr
    source = os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json")
    fifo = tmp_path / "fifo.json"           # as `fuzzmm replay <(...)` reads a pipe
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat '{source}' > '{fifo}'"])
    assert fuzzmm("replay", str(fifo)).returncode == 1
    writer.wait(10)
    doc = json.loads(open(source).read())
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(doc).replace('"switches": [', '"switches": [[' + "9" * 5000 + ', 0], ', 1))
    assert one_line_error(fuzzmm("replay", str(huge)))
    mismatch = tmp_path / "mismatch.json"
    mismatch.write_text(json.dumps(dict(doc, variant="hugh")))
    proc = fuzzmm("replay", str(mismatch))
    assert one_line_error(proc) and "names variant 'hugh', but its program" in proc.stderr \
        and "is variant 'mel'" in proc.stderr


@pytest.mark.slow
def test_minimize_writes_only_a_regular_file_in_an_existing_directory(tmp_path):
    """-o naming a device, a dangling link, a missing directory or nothing is refused before any run."""
    source = os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    for out in ("/dev/null", str(tmp_path / "dangling.json"), str(tmp_path / "no" / "x.json"), ""):
        assert one_line_error(fuzzmm("minimize", source, "-o", out)), out
    assert os.path.islink(tmp_path / "dangling.json")


def test_a_corpus_url_of_another_scheme_or_a_bad_port_is_refused(tmp_path):
    """rediss:// is not taken for a directory, and a Redis URL with a bad port is one line, exit 2."""
    for url in ("rediss://localhost:6379/0", "redis://localhost:99999/0"):
        proc = fuzzmm("fuzz", "--model", "lost-update", "--duration", "1", "--corpus", url, cwd=tmp_path)
        assert one_line_error(proc), proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_what_model_code_prints_stays_off_the_json_lines(tmp_path):
    """Prints from ops (in workers) and from check (in the campaign) go to stderr, so stdout is JSON lines."""
    model = tmp_path / "model.py"
    model.write_text("from fuzzmm.program import Program, op\nclass A(Program):\n    @op()\n"
                     "    def go(self):\n        print('from an op')\n"
                     "    def check(self, scenario):\n        print('from check')\n")
    proc = fuzzmm("fuzz", "--model", str(model), "--duration", "1", "--executors", "1",
                  "--corpus", str(tmp_path / "c"), "--json", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["event"] for line in proc.stdout.splitlines()][-1] == "summary"
    assert "from an op" in proc.stderr and "from check" in proc.stderr


@pytest.mark.slow
def test_executors_beyond_the_job_count_are_capped_with_a_note_on_stderr(tmp_path):
    """--executors above the job count runs one executor per job and says so in one line on
    stderr, off the JSON lines; the default, one per core, is capped without a word."""
    args = ("fuzz", "--model", "lost-update", "--variant", "fixed", "--duration", "1",
            "--corpus", str(tmp_path / "c"), "--json")
    proc = fuzzmm(*args, "--executors", "100000")
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if "capped" in line] == [
        "fuzzmm: note: --executors 100000 capped at 1, one per job (1 variant(s) x 1 strategy)"]
    assert [json.loads(line)["event"] for line in proc.stdout.splitlines()][-1] == "summary"
    assert "capped" not in fuzzmm(*args).stderr


def test_trust_model_is_an_option_of_each_command_that_reads_model_code(monkeypatch):
    """--trust-model PATH, repeatable, is taken by fuzz, replay, minimize, corpus dedup and
    corpus export, and the paths reach fuzzmm.trust.allow before the command runs."""
    from fuzzmm import cli, trust
    from fuzzmm.cli import commands
    heard = []
    monkeypatch.setattr(trust, "allow", lambda paths: heard.append(("allow", list(paths))))
    for name in ("fuzz", "replay", "minimize", "corpus"):
        monkeypatch.setitem(commands.COMMANDS, name, lambda args: heard.append(("ran", args.command)) or 0)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    try:
        for argv in (["fuzz"], ["replay", "f.json"], ["minimize", "f.json"], ["corpus", "dedup", "d"],
                     ["corpus", "export", "s", "d"]):
            heard.clear()
            assert cli.main([*argv, "--trust-model", "a.py", "--trust-model", "b.py"]) == 0
            assert heard == [("allow", ["a.py", "b.py"]), ("ran", argv[0])], argv
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGHUP, handlers[1])
    assert "trust the model file PATH" in " ".join(fuzzmm("corpus", "export", "--help").stdout.split())
    assert one_line_error(fuzzmm("replay", "f.json", "--trust-model", ""))


def test_minimize_refuses_a_file_fixed_where_it_must_reproduce(tmp_path):
    """A file whose fixed_in names its own variant contradicts itself: minimize says so and names the file."""
    with open(os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json")) as f:
        doc = json.load(f)
    for fixed, said in ((["mel"], "names the file's own variant 'mel'"), (["nosuch"], "no variant 'nosuch'")):
        path = tmp_path / "f.json"
        path.write_text(json.dumps(dict(doc, fixed_in=fixed)))
        proc = fuzzmm("minimize", str(path))
        assert one_line_error(proc) and said in proc.stderr and str(path) in proc.stderr, proc.stderr


def test_an_empty_option_value_is_refused_not_taken_for_the_default(tmp_path):
    """--model '' would fuzz the seed model and --trace-json '' write nothing: both are one-line errors."""
    corpus_file = os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json")
    for args in (("fuzz", "--model", "", "--duration", "1"), ("replay", corpus_file, "--trace-json", "")):
        proc = fuzzmm(*args, cwd=tmp_path)
        assert one_line_error(proc) and "needs a value" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_export_writes_each_signature_once_and_not_into_its_own_source(tmp_path):
    """Two files of one signature export as one, and the count says so; exporting into the source is refused."""
    source = tmp_path / "src"
    source.mkdir()
    original = os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json")
    for name in ("a.json", "b.json"):
        shutil.copy(original, source / name)
    proc = fuzzmm("corpus", "export", str(source), str(tmp_path / "out"))
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1].startswith("1 entry in")
    assert len([n for n in os.listdir(tmp_path / "out") if n.endswith(".json")]) == 1
    assert one_line_error(fuzzmm("corpus", "export", str(source), str(source)))
    assert sorted(n for n in os.listdir(source) if n.endswith(".json")) == ["a.json", "b.json"]


def test_dedup_skips_a_file_that_is_no_regular_file_instead_of_blocking_on_it(tmp_path):
    """A FIFO among the corpus files would block a scan: dedup warns of it and goes on."""
    shutil.copy(os.path.join(HERE, "..", "corpus", "h1-mel-counter-leak.json"), tmp_path / "a.json")
    os.mkfifo(tmp_path / "pipe.json")
    proc = fuzzmm("corpus", "dedup", str(tmp_path))
    assert proc.returncode == 0 and "pipe.json: not a regular file" in proc.stderr
