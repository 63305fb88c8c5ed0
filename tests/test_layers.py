"""
The house imports one way. Every module may import only modules BELOW it in LAYERS (lazy imports
inside functions included), so there is no circle and the measuring stick (evaluate.py) never depends
on a trainer or on the pipeline. A trainer is not a library: only the pipeline imports one.
"""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ["files", "tasks", "model", "distributed", "runlog", "linearize", "search", "checkpoint", "evaluate",
          "budget", "sizes", "presets", "formats", "rl_objective", "train_sft", "train_rl", "plots", "results", "summary", "report", "preflight",
          "stages", "reproduce"]
TRAINERS = {"train_sft", "train_rl"}


def project_imports(path):
    """(line, module) for every import of a project module in a file, at any depth."""
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS:
                yield node.lineno, top


def layer_violations(root=ROOT):
    files = [(m, os.path.join(root, f"{m}.py")) for m in LAYERS if m != "tasks"]
    files += [("tasks", os.path.join(root, "tasks", f)) for f in sorted(os.listdir(os.path.join(root, "tasks")))
              if f.endswith(".py")]
    bad = []
    for module, path in files:
        for line, imported in project_imports(path):
            rel = os.path.relpath(path, root)
            if imported == module:
                continue
            if LAYERS.index(imported) > LAYERS.index(module):
                bad.append(f"{rel}:{line}: {module} imports {imported}, which is above it")
            elif imported in TRAINERS and module != "reproduce":
                bad.append(f"{rel}:{line}: {module} imports the trainer {imported}; a trainer is not a library")
    return bad


def test_every_import_runs_downward():
    assert layer_violations() == []


def test_every_project_module_has_a_layer():
    modules = {f[:-3] for f in os.listdir(ROOT) if f.endswith(".py")}
    assert modules <= set(LAYERS), f"give {sorted(modules - set(LAYERS))} a place in LAYERS"


def test_an_upward_import_is_caught(tmp_path):
    for m in LAYERS:
        if m != "tasks":
            (tmp_path / f"{m}.py").write_text("")
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "__init__.py").write_text("")
    (tmp_path / "evaluate.py").write_text("def f():\n    from reproduce import main  # a lazy one\n")
    (tmp_path / "train_rl.py").write_text("import train_sft\n")
    assert layer_violations(tmp_path) == ["evaluate.py:2: evaluate imports reproduce, which is above it",
                                          "train_rl.py:1: train_rl imports the trainer train_sft; a trainer is not a library"]
