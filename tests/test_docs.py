"""The project's own documents stay whole: the README's Layout names every module, and the
design is cited from inside the repository only."""
import os
import re

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _layout():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("## Layout")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _modules():
    """Every Python module under fuzzmm/ and every part of the compiled core, as paths."""
    found = []
    for folder, dirs, files in os.walk(os.path.join(ROOT, "fuzzmm")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files
                  if f.endswith(".py") and f != "__init__.py"]
    found += [os.path.join("pyx", f) for f in os.listdir(os.path.join(ROOT, "pyx"))
              if f.endswith((".pxi", ".pyx", ".h", ".pxd"))]
    return sorted(found)


def test_the_readme_layout_names_every_module():
    """Each module appears in the Layout by its file name (a folder's modules may share a line)."""
    layout = _layout()
    missing = [path for path in _modules() if os.path.basename(path) not in layout]
    assert not missing, f"README.md's Layout does not name: {', '.join(missing)}"


def test_the_layout_check_walks_packages_and_the_core():
    """The modules checked include those deep in packages and the compiled core's parts."""
    modules = _modules()
    assert os.path.join("fuzzmm", "sched", "executor.py") in modules
    assert os.path.join("fuzzmm", "corpus", "entry.py") in modules
    assert os.path.join("pyx", "decide.pxi") in modules


def test_no_design_document_outside_the_repository_is_cited():
    """Code, benchmarks and docs cite docs/design.md, never an upper-case design file the repository lacks."""
    cited = []
    for top in ("fuzzmm", "bench", "tests", "docs", "examples", "pyx"):
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if not name.endswith((".py", ".pxi", ".pyx", ".md", ".h")) or name == "test_docs.py":
                    continue
                path = os.path.join(folder, name)
                if re.search(r"\b" + "DESIGN" + r"\.md\b", open(path, encoding="utf-8").read()):
                    cited.append(os.path.relpath(path, ROOT))
    assert not cited and os.path.isfile(os.path.join(ROOT, "docs", "design.md")), cited
