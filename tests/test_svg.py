"""The swimlane as SVG: `fuzzmm replay FILE --svg OUT.svg` draws what --trace prints, tasks as
columns and steps as rows, the finding's object highlighted and the switches marked."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from fuzzmm import corpus
from fuzzmm.report import swimlane
from fuzzmm.svg import swimlane_svg

H4 = os.path.join(os.path.dirname(__file__), "..", "corpus", "h4-rc2-seed-order.json")
NS = {"svg": "http://www.w3.org/2000/svg"}


def classes(root, cls):
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_the_svg_shows_the_rows_of_the_text_swimlane_with_focus_finding_and_switches():
    entry = corpus.load(H4)
    result = corpus.replay(entry, keep_events=True)
    svg = swimlane_svg(result.first, entry.scenario, names=result.object_names)
    root = ET.fromstring(svg)                     # well-formed, one element
    texts = ["".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text")]
    for t in range(entry.scenario.ntasks):
        assert f"task {t}" in texts
    cells = [line[6:].strip() for line in swimlane(result.first, entry.scenario,
                                                   names=result.object_names).splitlines()[2:-2]]
    for cell in ("put_page page0 2->1", "free_page page0 1->0", "store mm.pmd[0] present numa(page 0 gen 0)->none"):
        assert any(cell in c for c in cells) and cell in texts
    assert len(classes(root, "fz-focus")) >= 5 and len(classes(root, "fz-finding")) == 1
    marks = classes(root, "fz-switch-mark")
    tips = " ".join("".join(m.find("svg:title", NS).itertext()) for m in marks)
    for step, task in entry.schedule.switches:
        assert f"switch at step {step}: the CPU goes to task {task}" in tips
    assert "http://" not in svg.replace("http://www.w3.org/2000/svg", "")       # nothing to fetch


@pytest.mark.slow
def test_replay_svg_writes_the_file_and_refuses_a_corpus_file(tmp_path):
    """--svg writes an SVG, and refuses the replayed file itself and another corpus file."""
    out = tmp_path / "h4.svg"
    proc = subprocess.run([sys.executable, "-m", "fuzzmm", "replay", H4, "--svg", str(out)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert ET.fromstring(out.read_text()).tag == "{http://www.w3.org/2000/svg}svg"
    refused = subprocess.run([sys.executable, "-m", "fuzzmm", "replay", H4, "--svg", H4], capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "--svg" in refused.stderr and "is the corpus file itself" in refused.stderr
    other = tmp_path / "other.json"
    other.write_text(open(H4).read())
    refused = subprocess.run([sys.executable, "-m", "fuzzmm", "replay", H4, "--svg", str(other)], capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "--svg would write over it" in refused.stderr
