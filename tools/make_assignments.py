"""
The course: write a student copy of nanosearch with the solutions taken out.

A solution is marked in the code by one comment line directly above a function (or a class, for
all its methods):

    # assignment: astar
    @algorithm()
    def astar(task, budget=None):
        \"\"\"The docstring stays: it is the spec.\"\"\"
        ...                                  <- this is what the student writes

In the student copy every marked body below its docstring becomes
`raise NotImplementedError("assignment astar: see docs/assignments.md")`. Everything else is copied
as is (run folders, caches and .git left out). The grading commands are pytest selections of the
project's own tests; docs/assignments.md gives each assignment's rules, hints, time and reading.

    python tools/make_assignments.py ../nanosearch-student              # every assignment stubbed
    python tools/make_assignments.py ../nanosearch-student --only kv-cache grpo
    python tools/make_assignments.py --list                             # the assignments and their grading commands
"""
import argparse
import ast
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = re.compile(r"^\s*# assignment: ([\w-]+)\s*$")
# name: (what the student writes, the grading command run from the copy's root)
ASSIGNMENTS = {
    "astar": ("search.astar", "python -m pytest tests/test_search.py tests/test_linearize.py "
                              "-k 'astar or countdown_solvers or budget or exact_maze'"),
    "kv-cache": ("model.KVCache.update and .keep", "python -m pytest tests/test_model.py"),
    "grpo": ("rl_objective.advantages, kl_k3, policy_loss", "python -m pytest tests/test_rl.py -k 'not expert'"),
    "expert-iteration": ("train_rl.expert_iteration_step", "python -m pytest tests/test_rl.py -k expert"),
    "parse": ("linearize.parse", "python -m pytest tests/test_linearize.py tests/test_fuzz.py tests/test_registry.py "
                                 "-k 'parse or fuzz or round_trips or verify'"),
    "add-a-task": ("tasks/puzzle.py (or a puzzle of your own)",
                   "python -m pytest tests/test_registry.py tests/test_layers.py tests/test_puzzle.py"),
}
SKIP = shutil.ignore_patterns(".git", "runs", "__pycache__", "*.pyc", ".pytest_cache", "*.damaged*")


def marked(source):
    """[(assignment, ast node)] for each function or class right below a marker line."""
    lines = source.splitlines()
    starts = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            starts[min([node.lineno] + [d.lineno for d in node.decorator_list])] = node
    found = []
    for number, line in enumerate(lines, 1):
        m = MARK.match(line)
        if m:
            if number + 1 not in starts:
                raise ValueError(f"line {number}: '# assignment: {m[1]}' must sit directly above a def or class")
            found.append((m[1], starts[number + 1]))
    return found


def stub(source, only=None):
    """The source with every marked body (of the chosen assignments) replaced by a raise."""
    lines = source.splitlines(keepends=True)
    cuts = []
    for name, node in marked(source):
        if only and name not in only:
            continue
        functions = [node] if isinstance(node, ast.FunctionDef) else \
            [n for n in node.body if isinstance(n, ast.FunctionDef)]
        for fn in functions:
            first = fn.body[0]
            doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
            start = first.end_lineno if doc else first.lineno - 1  # the docstring stays: it is the spec
            raise_line = f'{" " * first.col_offset}raise NotImplementedError("assignment {name}: see docs/assignments.md")\n'
            cuts.append((start, fn.end_lineno, raise_line))
    for start, end, text in sorted(cuts, reverse=True):  # bottom-up, so line numbers stay valid
        lines[start:end] = [text]
    return "".join(lines)


def make_copy(dest, only=None):
    if os.path.exists(dest):
        raise SystemExit(f"error: {dest} exists; give a new folder (nothing was written)")
    shutil.copytree(ROOT, dest, ignore=SKIP)
    changed = []
    for folder, _, names in os.walk(dest):
        for n in sorted(names):
            path = os.path.join(folder, n)
            if n.endswith(".py") and not {"tests", "tools"} & set(os.path.relpath(path, dest).split(os.sep)):
                source = open(path).read()
                new = stub(source, only)
                if new != source:
                    open(path, "w").write(new)
                    changed.append(os.path.relpath(path, dest))
    return changed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip(),
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(f"  {n:17} {what}\n  {'':17} grading: {cmd}"
                                                 for n, (what, cmd) in ASSIGNMENTS.items()))
    p.add_argument("dest", nargs="?", help="the folder for the student copy (must not exist)")
    p.add_argument("--only", nargs="+", choices=list(ASSIGNMENTS), help="stub only these assignments")
    p.add_argument("--list", action="store_true", help="print the assignments and their grading commands")
    args = p.parse_args(argv)
    if args.list or not args.dest:
        for n, (what, cmd) in ASSIGNMENTS.items():
            print(f"{n:17} {what}\n{'':17} {cmd}")
        return
    changed = make_copy(args.dest, args.only)
    print(f"wrote a student copy to {args.dest}; stubbed: {', '.join(changed)}")
    print(f"grade with, from {args.dest}:\n" + "\n".join(f"  {ASSIGNMENTS[n][1]}" for n in args.only or ASSIGNMENTS))


if __name__ == "__main__":
    sys.exit(main())
