"""
The README is the contract, so it is tested like code:

- every script's --help runs;
- every `python SCRIPT.py ...` command in the README and docs/ uses only flags the script has;
- the first experiment runs as written, at toy size (same commands, smaller numbers);
- every result row in the README is a row of the run's own report, every number with three decimals
  (the peers' aside) is one the runs or benchmarks/bench_learn.py wrote, and the report's tables are
  what report.py makes of results.json.
"""
import importlib
import importlib.util
import os
import re
import shlex
import sys

import pytest

import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()
SCRIPTS = ["search.py", "linearize.py", "train_sft.py", "train_rl.py", "evaluate.py", "report.py", "reproduce.py",
           "tools/make_assignments.py", "benchmarks/bench_model.py", "benchmarks/bench_search.py",
           "benchmarks/bench_memory.py", "benchmarks/bench_learn.py", "sizes.py", "benchmarks/pilot_sizes.py"]
RUNS = ["docs/cpu", "docs/cpu-countdown", "docs/cpu-sizes"]


def help_text(script, monkeypatch, capsys):
    if "/" not in script:
        module = importlib.import_module(script[:-3])
    else:  # benchmarks/ and tools/ are scripts, not modules on the path
        spec = importlib.util.spec_from_file_location(os.path.basename(script)[:-3], os.path.join(ROOT, script))
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
    main = getattr(module, "main", None) or (lambda: module.parse_args(None))
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_help(script, monkeypatch, capsys):
    assert "usage:" in help_text(script, monkeypatch, capsys)


def commands():
    """(file, script, flags) for every `python SCRIPT.py` line in a code block of the README and docs/."""
    docs = [os.path.join("docs", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]
    for rel in ["README.md", *docs]:
        for block in re.findall(r"```bash\n(.*?)```", open(os.path.join(ROOT, rel)).read(), re.S):
            for line in block.splitlines():
                m = re.match(r"\s*(?:\S+=\S+ )*python3? ((?:\w+/)*\w+\.py)(.*)", line.split("#")[0].split("&&")[-1])
                if m:
                    yield rel, m[1], re.findall(r"(?<!\S)(--[\w-]+)", m[2])


def test_readme_commands_use_only_flags_their_script_has(monkeypatch, capsys):
    helps, wrong, seen = {}, [], 0
    for rel, script, flags in commands():
        if script not in helps:
            helps[script] = help_text(script, monkeypatch, capsys)
            if script == "search.py":  # its task options appear with --task
                for task in ("maze", "countdown", "puzzle"):
                    monkeypatch.setattr(sys, "argv", ["search.py", "--task", task, "--help"])
                    helps[script] += help_text(script, monkeypatch, capsys)
        seen += 1
        wrong += [f"{rel}: {script} {f}" for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", helps[script])]
    assert seen >= 15 and wrong == []


def first_experiment():
    block = README.split("<!-- first-experiment -->")[1].split("<!-- /first-experiment -->")[0]
    return [line for line in block.split("```bash\n")[1].split("```")[0].splitlines() if line.startswith("python")]


TOY = [(r"--generate 4000", "--generate 64"), (r"--generate (100|300)", "--generate 8"), (r"--max-steps \d+", "--max-steps 10 --n-layer 1 --n-embd 32"),
       (r"--n 16 --k 1,4,16", "--n 4 --k 1,4"), (r"--compare-k 16", "--compare-k 4"),
       (r"--steps 100", "--steps 2 --prompts 2 --group 2 --eval-n 4 --eval-samples 2")]


def test_the_first_experiment_runs_as_written_at_toy_size(tmp_path, monkeypatch, capsys):
    """Each line is run in this process (the same argv its script's main gets), in a fresh folder."""
    import evaluate
    import linearize
    import search
    import train_rl
    import train_sft
    mains = {"search.py": search.main, "linearize.py": linearize.main, "evaluate.py": evaluate.main,
             "train_sft.py": lambda argv: train_sft.train(train_sft.parse_args(argv)),
             "train_rl.py": lambda argv: train_rl.train(train_rl.parse_args(argv))}
    lines = first_experiment()
    assert len(lines) == 14
    monkeypatch.chdir(tmp_path)
    for line in lines:
        for pattern, toy in TOY:
            line = re.sub(pattern, toy, line)
        words = shlex.split(line)
        mains[words[1]](words[2:] + (["--threads", "1"] if words[1].startswith("train") else []))
    out = capsys.readouterr().out
    assert "go c" in out and "only A" in out and "pass@4: A" in out  # a trace printed; both comparisons
    for path in ("runs/first/dfs/ckpt.pt", "runs/first/grpo/ckpt.pt", "runs/first/grpo.json"):
        assert os.path.exists(tmp_path / path)


def report_rows(run):
    return {line for line in open(os.path.join(ROOT, run, "report.md")).read().splitlines() if line.startswith("| ")}


def test_readme_result_rows_are_rows_of_the_runs_report():
    blocks = re.findall(r"<!-- results: (\S+) -->\n(.*?)\n\n\*\*", README, re.S)
    assert blocks
    for run, block in blocks:
        rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| model |")
                and not line.startswith("| A vs B") and not line.startswith("| RL run")]
        assert len(rows) >= 4 and set(rows) <= report_rows(run), set(rows) - report_rows(run)


def test_every_three_decimal_number_in_the_readme_was_written_by_a_run():
    written = "".join(open(os.path.join(ROOT, r, "report.md")).read() for r in RUNS)
    written += open(os.path.join(ROOT, "docs", "first-experiment.md")).read()
    written += "".join(open(os.path.join(ROOT, "docs", "bench-learn", f)).read() for f in ("compare.txt", "batches.txt"))
    ours = README.split("## The peers it stands on")[0]  # (the peers' own numbers are quoted from their papers)
    missing = [n for n in re.findall(r"(?<![\d.])[+-]?\d\.\d{3}(?!\d)", ours) if n not in written]
    assert missing == []


@pytest.mark.parametrize("run", RUNS)
def test_the_runs_report_tables_are_what_report_py_makes_of_results_json(run):
    import json
    results = json.load(open(os.path.join(ROOT, run, "results.json")))
    for task, res in results["tasks"].items():
        section = report.Section(os.path.join(ROOT, run), task, res)
        tables = report.gate_table(section) + report.strata_table(section) + report.size_table(section)
        made = [line for line in tables if line.startswith("| ")]
        assert set(made) <= report_rows(run)
