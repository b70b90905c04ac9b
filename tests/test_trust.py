"""An untrusted corpus runs no code: what a corpus entry names is imported only from sources the
user chose (fuzzmm.trust), and a model's import is bounded and prints to stderr.

Each case builds a world in a temporary directory outside this repository: a "project" (a
directory with its own pyproject.toml, its corpus inside) and, beside it, an attacker's
directory whose module would write a sentinel file the moment it was imported.  The sentinel
must stay absent whatever the command: replay, minimize, dedup, export then replay, pytest's
corpus items.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from fuzzmm import corpus, trust
from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(REPO, "corpus")

EVIL = '''\
import pathlib
pathlib.Path({sentinel!r}).write_text("the attacker's code ran")
from fuzzmm.examples.lost_update import LostUpdate


class Evil(LostUpdate):
    variant = "racy"
'''

MINE = '''\
from fuzzmm.examples.lost_update import LostUpdate


class Mine(LostUpdate):
    name = "mine"
    variant = "mine"
'''


def lost_update_doc(**fields):
    """A corpus document of the lost update's race (it reproduces), with `fields` replaced."""
    entry = corpus.Entry(model="lost-update", variant="racy", program="fuzzmm.examples.lost_update:LostUpdate",
                         scenario=Scenario.of([[("increment", (1,))], [("increment", (1,))]]),
                         schedule=Schedule.of_switches([(2, 1)]), kind="assertion",
                         signature="assertion@LostUpdate.check")
    return {**entry.to_json(), **fields}


class World:
    """A project with its corpus, and an attacker's directory beside it."""

    def __init__(self, root):
        self.root = root
        self.project = root / "project"
        self.corpus = self.project / "corpus"
        self.outside = root / "outside"
        self.sentinel = root / "SENTINEL"
        self.corpus.mkdir(parents=True)
        self.outside.mkdir()
        (self.project / "pyproject.toml").write_text('[project]\nname = "victim"\n')
        for name in ("evil.py", "evilmod.py"):
            (self.outside / name).write_text(EVIL.format(sentinel=str(self.sentinel)))

    def write(self, name, doc, directory=None):
        path = (directory or self.corpus) / name
        path.write_text(json.dumps(doc))
        return path

    def attacks(self):
        """The three ways a corpus file can name the attacker's code: {name: path}."""
        evil = self.outside / "evil.py"
        return {
            "relative": self.write("relative.json", lost_update_doc(
                model=os.path.relpath(evil, self.corpus), program=f"{os.path.relpath(evil, self.corpus)}:Evil")),
            "absolute": self.write("absolute.json", lost_update_doc(program=f"{evil}:Evil")),
            "module": self.write("module.json", lost_update_doc(model="evilmod", program="evilmod:Evil")),
        }

    def run(self, *args, cwd=None, module="fuzzmm", timeout=120):
        """`python -m fuzzmm ARGS` (or another module), with the attacker's directory on
        PYTHONPATH, so that `evilmod` imports by name from anywhere."""
        path = [str(self.outside), REPO, *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd or self.project, env=env,
                              capture_output=True, text=True, timeout=timeout)

    def assert_refused(self, proc, named=None, code=2, one_line=True):
        """A refusal: nothing imported, the exit code, one line naming the file and how to trust it
        (with `one_line`, the only line on stderr)."""
        assert not self.sentinel.exists(), "the attacker's module was imported"
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if "--trust-model" in line]
        assert lines, proc.stderr
        if named:
            assert any(named in line for line in lines), proc.stderr
        if code == 2 and one_line:
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setattr(trust, "_ALLOWED", [])
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield World(tmp_path)


# ---- quick, in this process: the decision alone ----

@pytest.mark.parametrize("case", ["relative", "absolute", "module"])
def test_an_entry_naming_code_outside_its_project_is_refused_before_any_import(world, case, monkeypatch):
    """The check comes first: checked_ref, program_ref and a replay all refuse, importing nothing."""
    monkeypatch.syspath_prepend(str(world.outside))        # `evilmod` would import by name
    entry = corpus.load(str(world.attacks()[case]))
    for resolve in (corpus.checked_ref, corpus.program_ref, lambda e: corpus.checked_ref(e, "fixed"),
                    corpus.replay):
        with pytest.raises(trust.Untrusted, match=r"--trust-model") as refused:
            resolve(entry)
        assert str(refused.value).startswith(str(world.corpus / f"{case}.json") + ":")
    assert "evilmod" not in sys.modules and not world.sentinel.exists()


def test_a_dotted_module_is_judged_without_importing_its_package(world, monkeypatch):
    """Looking a submodule up the usual way (importlib.util.find_spec("pkg.sub")) imports `pkg`
    and runs its __init__; the check finds each part where the import would, running none of
    them, and names the package as what to trust.  A package in the project resolves."""
    (world.outside / "evilpkg").mkdir()
    (world.project / "pkg_here").mkdir()
    (world.outside / "evilpkg" / "__init__.py").write_text(EVIL.format(sentinel=str(world.sentinel)))
    (world.outside / "evilpkg" / "sub.py").write_text(MINE)
    (world.project / "pkg_here" / "__init__.py").write_text("")
    (world.project / "pkg_here" / "sub.py").write_text(MINE)
    monkeypatch.syspath_prepend(str(world.outside))
    monkeypatch.syspath_prepend(str(world.project))
    evil = world.write("dotted.json", lost_update_doc(model="evilpkg.sub", variant="mine", program="evilpkg.sub:Mine"))
    with pytest.raises(trust.Untrusted, match=f"--trust-model {re.escape(str(world.outside / 'evilpkg'))}$"):
        corpus.checked_ref(corpus.load(str(evil)))
    assert "evilpkg" not in sys.modules and not world.sentinel.exists()
    own = world.write("own.json", lost_update_doc(model="pkg_here.sub", variant="mine", program="pkg_here.sub:Mine"))
    assert corpus.checked_ref(corpus.load(str(own))).load().variant == "mine"


@pytest.mark.parametrize("name", ["antigravity", "sys", "os.path", "json.decoder", "this"])
def test_a_module_of_python_itself_is_no_model(world, name):
    """The standard library is not a source a corpus may name: `antigravity` or `this` would run."""
    path = world.write("stdlib.json", lost_update_doc(program=f"{name}:X"))
    with pytest.raises(trust.Untrusted):
        corpus.checked_ref(corpus.load(str(path)))


def test_the_project_s_own_files_and_modules_and_what_it_lists_are_trusted(world, monkeypatch):
    """A model file in the project, a module in it (the working directory put on the path for
    it, as `python -m` would), a file the project lists in [tool.fuzzmm] models, and a file
    trusted with allow() all resolve; the file the project lists is refused without the listing."""
    (world.project / "models").mkdir()
    (world.project / "models" / "mine.py").write_text(MINE)
    (world.project / "mine_module.py").write_text(MINE)
    outside = world.root / "models_dir"
    outside.mkdir()
    (outside / "listed.py").write_text(MINE)
    (world.outside / "allowed.py").write_text(MINE)
    own = {"file": world.write("file.json", lost_update_doc(model="../models/mine.py", variant="mine",
                                                            program="../models/mine.py:Mine")),
           "module": world.write("module.json", lost_update_doc(model="mine_module", variant="mine",
                                                                program="mine_module:Mine"))}
    listed = world.write("listed.json", lost_update_doc(model="../../models_dir/listed.py", variant="mine",
                                                        program="../../models_dir/listed.py:Mine"))
    allowed = world.write("allowed.json", lost_update_doc(model=str(world.outside / "allowed.py"), variant="mine",
                                                          program=f"{world.outside / 'allowed.py'}:Mine"))
    monkeypatch.chdir(world.project)
    for path in own.values():
        assert corpus.checked_ref(corpus.load(str(path))).load().variant == "mine"
    with pytest.raises(trust.Untrusted, match="models_dir/listed.py"):
        corpus.checked_ref(corpus.load(str(listed)))
    (world.project / "pyproject.toml").write_text('[project]\nname = "victim"\n\n'
                                                  '[tool.fuzzmm]\nmodels = ["../models_dir/*.py"]\n')
    assert corpus.checked_ref(corpus.load(str(listed))).load().variant == "mine"
    with pytest.raises(trust.Untrusted, match=f"--trust-model {re.escape(str(world.outside / 'allowed.py'))}$"):
        corpus.checked_ref(corpus.load(str(allowed)))
    trust.allow([str(world.outside / "allowed.py")])
    assert corpus.checked_ref(corpus.load(str(allowed))).load().variant == "mine"
    assert not world.sentinel.exists()


def test_the_working_directory_is_searched_for_a_corpus_s_module_only_inside_the_project(world, monkeypatch):
    """A module found only in a working directory outside the project is refused, naming that
    directory as what to trust; the working directory is not put on the path for it."""
    (world.outside / "cwdmod.py").write_text(EVIL.format(sentinel=str(world.sentinel)))
    path = world.write("cwd.json", lost_update_doc(model="cwdmod", program="cwdmod:Evil"))
    monkeypatch.chdir(world.outside)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(world.outside))])
    with pytest.raises(trust.Untrusted, match=f"working directory {re.escape(str(world.outside))}.*"
                                              f"--trust-model {re.escape(str(world.outside))}$"):
        corpus.checked_ref(corpus.load(str(path)))
    assert str(world.outside) not in sys.path and not world.sentinel.exists()


def test_a_project_is_the_nearest_pyproject_or_repository_root(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "sub" / "corpus").mkdir(parents=True)
    (tmp_path / "repo" / "pkg" / "corpus").mkdir(parents=True)
    (tmp_path / "repo" / "pkg" / "pyproject.toml").write_text("")
    assert trust.project_of(tmp_path / "repo" / "sub" / "corpus") == str(tmp_path / "repo")
    assert trust.project_of(tmp_path / "repo" / "pkg" / "corpus") == str(tmp_path / "repo" / "pkg")
    assert trust.project_of(tmp_path) in (None, *[str(p) for p in tmp_path.parents])


def test_trusting_what_does_not_exist_is_an_error(world):
    with pytest.raises(trust.FuzzmmError, match="no such file"):
        trust.allow([str(world.root / "typo.py")])


def test_every_file_of_the_repository_s_corpus_resolves_from_any_working_directory(tmp_path, monkeypatch):
    """The committed corpus names fuzzmm's own modules, trusted wherever the command runs."""
    monkeypatch.chdir(tmp_path)
    for name in sorted(os.listdir(CORPUS)):
        entry = corpus.load(os.path.join(CORPUS, name))
        trust.check_entry(entry)
        corpus.checked_ref(entry)
        for variant in entry.fixed_in:
            corpus.checked_ref(entry, variant)


# ---- the commands, each in its own process ----

@pytest.mark.slow
@pytest.mark.parametrize("case", ["relative", "absolute", "module"])
def test_replay_and_minimize_refuse_with_one_line_and_exit_2(world, case):
    path = world.attacks()[case]
    world.assert_refused(world.run("replay", path), named=str(path))
    world.assert_refused(world.run("replay", path, "--variant", "fixed"), named=str(path))
    world.assert_refused(world.run("minimize", path, "-o", world.root / "small.json"), named=str(path))
    assert not (world.root / "small.json").exists()


@pytest.mark.slow
def test_a_module_found_in_a_working_directory_outside_the_project_is_refused(world):
    """`python -m fuzzmm` run from the attacker's directory puts it on the path: the module found
    there is judged by where it is."""
    path = world.attacks()["module"]
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "replay", str(path)], cwd=world.outside,
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=120)
    world.assert_refused(proc, named=str(path))


@pytest.mark.slow
def test_dedup_leaves_refused_files_alone_and_names_them(world):
    """dedup deduplicates the trusted files, leaves each refused one in place naming it, and exits 2."""
    attacks = world.attacks()
    world.write("good.json", lost_update_doc())
    world.write("good-larger.json", lost_update_doc(schedule={"switches": [[2, 1], [3, 0]]}))
    proc = world.run("corpus", "dedup", world.corpus)
    world.assert_refused(proc, one_line=False)     # the others deduplicated, each refused one left and named
    for path in attacks.values():
        assert path.exists() and any(str(path) in line and "--trust-model" in line for line in proc.stderr.splitlines())
    assert not (world.corpus / "good-larger.json").exists() and (world.corpus / "good.json").exists()


@pytest.mark.slow
def test_an_export_of_refused_files_replays_nothing_of_them(world):
    """A directory's export keeps naming the same files, so its files are refused in turn."""
    world.attacks()
    exported = world.project / "exported"
    proc = world.run("corpus", "export", world.corpus, exported)
    assert proc.returncode == 0, proc.stderr
    files = sorted(exported.glob("*.json"))
    assert len(files) == 3
    for path in files:
        world.assert_refused(world.run("replay", path), named=str(path))


@pytest.mark.slow
def test_pytest_corpus_items_naming_untrusted_code_fail_and_import_nothing(world):
    attacks = world.attacks()
    world.write("good.json", lost_update_doc())
    proc = world.run("-p", "fuzzmm", "--fuzzmm-corpus", "corpus", "-p", "no:cacheprovider", "-q", "-rf",
                     module="pytest")
    assert not world.sentinel.exists()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "3 failed, 1 passed" in proc.stdout, proc.stdout
    for case in attacks:
        assert any(f"corpus/{case}.json" in line and "--trust-model" in line for line in proc.stdout.splitlines())
    allowed = world.run("-p", "fuzzmm", "--fuzzmm-corpus", "corpus", "-p", "no:cacheprovider", "-q",
                        "--fuzzmm-trust-model", world.outside / "evil.py", "-k", "absolute or good", module="pytest")
    assert allowed.returncode == 0 and "2 passed" in allowed.stdout, allowed.stdout + allowed.stderr
    assert world.sentinel.exists()      # trusted, it did run


@pytest.mark.slow
def test_the_project_s_own_model_file_and_a_trusted_one_replay(world):
    """What the user chose still runs: a model file in the project, and one outside it trusted
    for this process (trust.allow, which --trust-model calls)."""
    (world.project / "models").mkdir()
    (world.project / "models" / "mine.py").write_text(MINE)
    own = world.write("own.json", lost_update_doc(model="../models/mine.py", variant="mine",
                                                  program="../models/mine.py:Mine"))
    proc = world.run("replay", own)
    assert proc.returncode == 1, proc.stderr
    absolute = world.attacks()["absolute"]
    script = ("import sys\nfrom fuzzmm import trust\nfrom fuzzmm.cli import main\n"
              f"trust.allow([{str(world.outside / 'evil.py')!r}])\nsys.exit(main(sys.argv[1:]))\n")
    trusted = subprocess.run([sys.executable, "-c", script, "replay", str(absolute)], cwd=world.project,
                             env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=120)
    assert trusted.returncode == 1, trusted.stderr
    assert world.sentinel.exists()


@pytest.mark.slow
def test_the_trust_model_option_trusts_a_file(world):
    help_text = world.run("replay", "--help").stdout
    if "--trust-model" not in help_text:
        pytest.skip("this command line has no --trust-model option")
    absolute = world.attacks()["absolute"]
    world.assert_refused(world.run("replay", absolute))
    proc = world.run("replay", absolute, "--trust-model", world.outside / "evil.py")
    assert proc.returncode == 1, proc.stderr
    assert world.sentinel.exists()


@pytest.mark.slow
def test_an_installed_model_s_package_is_trusted_and_an_undeclared_one_is_not(world):
    """What a distribution that declares a `fuzzmm.models` entry point installed is trusted (the
    package the entry point names, by the entry point's name or its module's, and the files its
    RECORD lists); a module installed beside it by no such distribution is not."""
    site = world.root / "site"
    (site / "installed_model").mkdir(parents=True)
    (site / "installed_model" / "__init__.py").write_text(MINE)
    (site / "undeclared.py").write_text(EVIL.format(sentinel=str(world.sentinel)))
    info = site / "installed_model-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: installed-model\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[fuzzmm.models]\ninstalled = installed_model\n")
    (site / "installed_helpers.py").write_text(MINE)         # another module of the same distribution
    (info / "RECORD").write_text("installed_model/__init__.py,,\ninstalled_helpers.py,,\n"
                                 "installed_model-1.0.dist-info/METADATA,,\n")
    by_name = world.write("by-name.json", lost_update_doc(model="installed", variant="mine",
                                                          program="installed_model:Mine"))
    helpers = world.write("helpers.json", lost_update_doc(model="installed", variant="mine",
                                                          program="installed_helpers:Mine"))
    undeclared = world.write("undeclared.json", lost_update_doc(model="undeclared", program="undeclared:Evil"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), REPO]))
    run = lambda *args: subprocess.run([sys.executable, "-m", "fuzzmm", *map(str, args)],  # noqa: E731
                                       cwd=world.project, env=env, capture_output=True, text=True, timeout=120)
    assert run("replay", by_name).returncode == 1
    assert run("replay", helpers).returncode == 1
    assert "installed_model:Mine" in run("variants", "--json").stdout
    world.assert_refused(run("replay", undeclared), named=str(undeclared))


# ---- a shared Redis corpus ----

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on loopback, for this test only."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    pytest.importorskip("redis")
    import redis
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.mark.slow
def test_a_redis_entry_written_with_hset_runs_no_code_it_names(world, redis_url):
    """Entries written straight into Redis: one naming a built-in model but the attacker's
    program, and others naming the attacker's file or module as their model.  The export
    resolves the first to its model's variant (not the stored program) and refuses the others;
    nothing of the attacker's runs in the export, or in replay, minimize, dedup and pytest of
    what it wrote."""
    import redis
    from fuzzmm.corpus.redis import REDIS_KEY
    client = redis.Redis.from_url(redis_url)
    evil = world.outside / "evil.py"
    client.hset(REDIS_KEY, "lost-update/racy/assertion@LostUpdate.check",
                json.dumps(lost_update_doc(program=f"{evil}:Evil")))
    client.hset(REDIS_KEY, "evil/racy/a", json.dumps(lost_update_doc(model=str(evil), program=f"{evil}:Evil")))
    client.hset(REDIS_KEY, "evil/racy/b", json.dumps(lost_update_doc(model=os.path.relpath(evil, world.project),
                                                                     program="x.py:Evil")))
    client.hset(REDIS_KEY, "evilmod/racy/c", json.dumps(lost_update_doc(model="evilmod", program="evilmod:Evil")))
    exported = world.project / "exported"
    proc = world.run("corpus", "export", redis_url, exported)
    assert not world.sentinel.exists()
    assert proc.returncode == 2, proc.stderr
    refused = [line for line in proc.stderr.splitlines() if "--trust-model" in line]
    assert len(refused) == 3 and all(f"{redis_url}#evil" in line for line in refused), proc.stderr
    [path] = exported.glob("*.json")
    doc = json.loads(path.read_text())
    assert (doc["model"], doc["program"]) == ("lost-update", "fuzzmm.examples.lost_update:LostUpdate")
    assert "outside" not in path.read_text()
    assert world.run("replay", path).returncode == 1
    assert world.run("minimize", path, "-o", world.root / "small.json").returncode == 1
    assert world.run("corpus", "dedup", exported).returncode == 0
    tested = world.run("-p", "fuzzmm", "--fuzzmm-corpus", "exported", "-p", "no:cacheprovider", "-q",
                       module="pytest")
    assert tested.returncode == 0, tested.stdout
    assert not world.sentinel.exists()


# ---- a model's import: bounded, and its prints on stderr ----

LOOPS = "while True:\n    pass\n"
PRINTS = "print('hello from the model at import')\n" + MINE


@pytest.mark.slow
def test_a_model_that_loops_at_import_is_stopped_by_the_watchdog(world):
    """`fuzzmm fuzz --model` and `fuzzmm replay` of a file naming it end with exit 2 and one line
    naming the model, after the watchdog, not never.  Both run at once, to wait the watchdog once."""
    (world.project / "loops.py").write_text(LOOPS)
    path = world.write("loops.json", lost_update_doc(model="../loops.py", program="../loops.py:X"))
    env = dict(os.environ, PYTHONPATH=REPO)
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "fuzzmm", *args], cwd=world.project, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in (["fuzz", "--model", "loops.py", "--duration", "1", "--executors", "1"],
                          ["replay", str(path)])]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert time.monotonic() - started < 60
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 2, (out, err)
        assert len(err.strip().splitlines()) == 1 and "loops.py" in err and "watchdog" in err, err


def test_what_a_model_prints_at_import_goes_to_stderr(world, capsys, monkeypatch):
    from fuzzmm.models import load_model
    (world.project / "prints.py").write_text(PRINTS)
    monkeypatch.chdir(world.project)
    assert load_model("prints.py").variants.keys() == {"mine"}
    out, err = capsys.readouterr()
    assert out == "" and "hello from the model at import" in err


@pytest.mark.slow
def test_json_output_stays_json_lines_when_a_model_prints_at_import(world):
    (world.project / "prints.py").write_text(PRINTS)
    path = world.write("prints.json", lost_update_doc(model="../prints.py", variant="mine",
                                                      program="../prints.py:Mine"))
    commands = [("replay", path, "--json"), ("variants", "--model", "prints.py", "--json"),
                ("fuzz", "--model", "prints.py", "--duration", "1", "--executors", "1", "--json",
                 "--corpus", world.root / "fuzzed")]
    for args in commands:
        proc = world.run(*args)
        assert proc.returncode in (0, 1), proc.stderr
        assert [json.loads(line) for line in proc.stdout.splitlines()], args
        assert "hello from the model at import" in proc.stderr
