"""The values an @op argument may take: tuples through JSON, strict types, huge ranges."""
import json
import os
import random
import subprocess
import sys

import pytest

from fuzzmm.errors import FuzzmmError
from fuzzmm.program import Program, Scenario, op

from waiting import HANG_S, fuzz_until, is_finding

PAIRS = """
from fuzzmm.program import Program, op

class Pairs(Program):
    name, variant, tasks, ops_per_task = "pairs", "racy", (2, 2), (1, 1)

    def setup(self, pool):
        self.x = pool.atomic(0)

    @op(mode=[(1, 2), (0, 0)])
    def inc(self, mode):
        if mode == (1, 2):          # a racy read-modify-write
            self.x.store(self.x.load() + 1)
        else:
            self.x.add(1)

    def check(self, scenario):
        assert self.x.peek() == sum(len(task) for task in scenario.tasks)
"""


class Domains(Program):
    name = "domains"

    def setup(self, pool):
        pass

    @op(n=range(3), flag=[0, 1], pair=[(1, 2), ("a", None)])
    def f(self, n, flag, pair):
        pass

    @op(n=range(10 ** 12))
    def huge(self, n):
        pass

    @op(p=[[1, 2], [3, 4]])
    def listed(self, p):
        pass


def fuzzmm(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fuzzmm", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=HANG_S)


def test_a_tuple_value_comes_back_from_json_as_the_same_tuple():
    """A scenario written to JSON and read back is the same scenario, tuples and all, and valid."""
    scenario = Scenario.of([[("f", (2, 1, (1, 2)))], [("f", (0, 0, ("a", None)))]])
    again = Scenario.of(json.loads(json.dumps(scenario.to_json())))
    assert again == scenario
    Domains.validate(again)


@pytest.mark.parametrize("args", [(1.0, 0, (1, 2)), (True, 0, (1, 2)), (1, False, (1, 2)),
                                  (1, 0, (1.0, 2)), (1, 0, (1, 2, 3)), (3, 0, (1, 2))])
def test_a_value_equal_to_a_domain_value_but_of_another_type_is_outside_it(args):
    """1.0, True and (1.0, 2) do not stand for 1 and (1, 2): validation names the argument."""
    with pytest.raises(FuzzmmError, match="outside the op's domain"):
        Domains.validate(Scenario.of([[("f", args)]]))


def test_a_value_outside_a_huge_range_is_told_without_listing_the_range():
    """The error names the range as a range: listing a trillion values would never end."""
    with pytest.raises(FuzzmmError, match=r"outside the op's domain range\(0, 1000000000000\)"):
        Domains.validate(Scenario.of([[("huge", (-1,))]]))


def test_a_list_among_a_domain_s_values_is_a_tuple_there_and_after_json():
    """A list value of a domain is held as a tuple, so a scenario using it validates after JSON."""
    assert Domains.ops()["listed"][0][1] == ((1, 2), (3, 4))
    scenario = Scenario.of([[("listed", ((3, 4),))]])
    Domains.validate(Scenario.of(json.loads(json.dumps(scenario.to_json()))))


@pytest.mark.parametrize("swarm", [False, True])
def test_a_domain_of_a_trillion_values_is_drawn_from_without_listing_it(swarm):
    """A range domain stays a range: scenarios draw from it, and its values validate."""
    program = Domains()
    rng = random.Random(7)
    for _ in range(50):
        scenario = program.random_scenario(rng, swarm=swarm)
        Domains.validate(scenario)
    assert Domains.ops()["huge"][0][1] == range(10 ** 12)


@pytest.mark.slow
def test_a_finding_with_tuple_arguments_replays_and_minimizes(tmp_path):
    """The corpus file of a program whose op takes tuples replays (exit 1) and minimizes (exit 1)."""
    (tmp_path / "pyproject.toml").write_text("")     # a project, whose corpus may import its code
    (tmp_path / "pairs.py").write_text(PAIRS)
    fuzz = fuzz_until(is_finding, "--model", "pairs.py", "--executors", "1", "--corpus", "c", "--seed", "1",
                      cwd=tmp_path)
    assert fuzz.returncode == 1, fuzz.stderr
    (name,) = [n for n in os.listdir(tmp_path / "c") if n.endswith(".json")]
    path = os.path.join("c", name)
    assert fuzzmm("replay", path, cwd=tmp_path).returncode == 1
    shrunk = fuzzmm("minimize", path, "-o", "small.json", cwd=tmp_path)
    assert shrunk.returncode == 1 and "Traceback" not in shrunk.stderr, shrunk.stderr
    assert json.loads((tmp_path / "small.json").read_text())["scenario"][0][0] == ["inc", [[1, 2]]]
