"""`fuzzmm dashboard` and `fuzzmm report` refuse what they cannot do in one line, exit 2, and
before any work: an address they cannot listen on, a report file they could not write."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import warnings

import pytest

from fuzzmm import cli

pytest.importorskip("flask")
CORPUS = os.path.join(os.path.dirname(__file__), "..", "corpus")


@pytest.fixture
def fuzzmm_main(monkeypatch):
    """`fuzzmm ARGS...` run in this process: (exit code, stdout, stderr); the signal handlers
    and warning display the command installs are this process's again afterwards."""
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)

    def run(capsys, *argv):
        capsys.readouterr()
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def held_port():
    """A port this test listens on, so nothing else can."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_one_line_and_exit_2(fuzzmm_main, capsys, tmp_path, held_port):
    code, out, err = fuzzmm_main(capsys, "dashboard", str(tmp_path), "--port", str(held_port))
    assert (code, out) == (2, "")
    assert err == f"fuzzmm: error: cannot listen on 127.0.0.1:{held_port}: Address already in use\n"


@pytest.mark.parametrize("host, reason", [("10.255.255.1", "Cannot assign requested address"),
                                          ("nosuchhost.invalid", "")])
def test_an_address_not_of_this_machine_is_one_line_and_exit_2(fuzzmm_main, capsys, tmp_path, host, reason):
    code, out, err = fuzzmm_main(capsys, "dashboard", str(tmp_path), "--host", host, "--port", "0")
    assert (code, out) == (2, "")
    assert err.startswith(f"fuzzmm: error: cannot listen on {host}:0: {reason}") and err.count("\n") == 1, err


@pytest.mark.slow
def test_the_dashboard_serves_on_the_socket_it_bound(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "fuzzmm", "dashboard", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert " http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(": ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/state", timeout=30) as response:
            assert response.status == 200 and b'"machines"' in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def no_replay(monkeypatch):
    """A report that replays an entry fails the test: the output is checked first."""
    from fuzzmm.dashboard import swimlanes

    def replayed(entry):
        raise AssertionError(f"replayed {entry.path} before checking the output")
    monkeypatch.setattr(swimlanes, "in_process", replayed)


def test_a_report_into_a_missing_directory_is_refused_before_any_replay(fuzzmm_main, capsys, no_replay):
    code, out, err = fuzzmm_main(capsys, "report", CORPUS, "-o", "/nonexistent/dir/x.html")
    assert (code, out) == (2, "")
    assert err == "fuzzmm: error: cannot write /nonexistent/dir/x.html: directory /nonexistent/dir does not exist\n"


def test_a_report_over_a_corpus_file_is_refused(fuzzmm_main, capsys, tmp_path, no_replay):
    target = tmp_path / "h1.json"
    shutil.copy(os.path.join(CORPUS, "h1-mel-counter-leak.json"), target)
    before = target.read_bytes()
    code, out, err = fuzzmm_main(capsys, "report", CORPUS, "-o", str(target))
    assert (code, out) == (2, "")
    assert err.startswith(f"fuzzmm: error: {target}: holds a reproducer of mel ") and "-o would write over it" in err
    assert target.read_bytes() == before


def test_a_report_into_a_directory_or_a_read_only_file_is_refused(fuzzmm_main, capsys, tmp_path, no_replay):
    code, _, err = fuzzmm_main(capsys, "report", CORPUS, "-o", str(tmp_path))
    assert code == 2 and "is a directory; -o names the file to write" in err
    if os.geteuid() != 0:               # root writes whatever the permission bits say
        locked = tmp_path / "r.html"
        locked.write_text("old")
        locked.chmod(0o444)
        code, _, err = fuzzmm_main(capsys, "report", CORPUS, "-o", str(locked))
        assert (code, err) == (2, f"fuzzmm: error: cannot write {locked}: Permission denied\n")
