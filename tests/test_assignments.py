"""
The course (tools/make_assignments.py): every marked solution can be taken out, the student copy
fails every grading command, and each grading command selects real tests of the full project (which
the suite runs, so the full code passes them).
"""
import os
import re
import shlex
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import make_assignments as course  # noqa: E402

ROOT = course.ROOT


def project_sources():
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in (".git", "runs", "tests", "tools", "__pycache__")]
        for n in names:
            if n.endswith(".py"):
                yield os.path.join(folder, n)


def test_every_assignment_has_marked_code_and_every_marker_an_assignment():
    found = {name for path in project_sources() for name, _ in course.marked(open(path).read())}
    assert found == set(course.ASSIGNMENTS)


def test_a_marker_must_sit_on_code():
    with pytest.raises(ValueError, match="line 1: '# assignment: x' must sit directly above a def"):
        course.marked("# assignment: x\nvalue = 1\n")


def test_stub_keeps_signature_and_docstring_and_takes_out_the_body():
    source = 'class K:\n    # assignment: a\n    def f(self, x):\n        """Spec."""\n        y = x + 1\n        return y\n'
    assert course.stub(source) == ('class K:\n    # assignment: a\n    def f(self, x):\n        """Spec."""\n'
                                   '        raise NotImplementedError("assignment a: see docs/assignments.md")\n')
    assert course.stub(source, only=["other"]) == source


def selected(command, root):
    """The test functions a grading command selects (its files; its -k expression of substrings; by
    function name, so parametrized cases, which pytest also matches by their ids, are not counted)."""
    words = shlex.split(command)
    files = [w for w in words if w.startswith("tests/")]
    expr = words[words.index("-k") + 1] if "-k" in words else None
    names = []
    for f in files:
        for name in re.findall(r"^def (test_\w+)", open(os.path.join(root, f)).read(), re.M):
            if expr is None or eval(re.sub(r"\b(?!and\b|or\b|not\b)(\w+)\b", lambda m: f"('{m[1]}' in name)", expr),
                                    {"name": f"{f}::{name}"}):
                names.append(name)
    return names


@pytest.mark.parametrize("assignment", list(course.ASSIGNMENTS))
def test_each_grading_command_selects_real_tests(assignment):
    assert selected(course.ASSIGNMENTS[assignment][1], ROOT)


def test_the_docs_give_every_grading_command():
    text = open(os.path.join(ROOT, "docs", "assignments.md")).read()
    for name, (_, command) in course.ASSIGNMENTS.items():
        assert f"`{command}`" in text, name


def test_the_student_copy_fails_every_grading_command(tmp_path):
    changed = course.make_copy(str(tmp_path / "all"))
    assert sorted(changed) == ["linearize.py", "model.py", "rl_objective.py", "search.py", os.path.join("tasks", "puzzle.py"),
                               "train_rl.py"]
    assert not os.path.exists(tmp_path / "all" / "runs")
    for name, (_, command) in course.ASSIGNMENTS.items():  # one copy per assignment, as a student gets it
        dest = tmp_path / name
        course.make_copy(str(dest), only=[name])
        done = subprocess.run([sys.executable, *shlex.split(command)[1:], "-x", "-q", "-p", "no:cacheprovider"], cwd=dest,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 1 and f"assignment {name}: see docs" in done.stdout, f"{name}:\n{done.stdout[-1500:]}"
