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
import json
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
           "benchmarks/bench_memory.py", "benchmarks/bench_learn.py", "sizes.py", "benchmarks/pilot_sizes.py",
           "benchmarks/pilot_rl.py", "benchmarks/pilot_mcts.py", "benchmarks/pilot_countdown.py"]
RUNS = ["docs/cpu", "docs/cpu-seeds", "docs/cpu-countdown", "docs/cpu-sizes", "docs/cpu-long",
        "docs/cpu-formats"]
# docs/cpu-countdown was run before the gate had a margin and its evaluation files were not kept: its report
# stays the one its run wrote, so report.py's tables are checked against the other runs
REWRITTEN = [r for r in RUNS if r != "docs/cpu-countdown"]


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


@pytest.mark.parametrize("run", REWRITTEN)
def test_the_runs_report_tables_are_what_report_py_makes_of_results_json(run):
    import json
    results = json.load(open(os.path.join(ROOT, run, "results.json")))
    for task, res in results["tasks"].items():
        section = report.Section(os.path.join(ROOT, run), task, res)
        tables = report.gate_table(section) + report.strata_table(section) + report.size_table(section)
        made = [line for line in tables if line.startswith("| ")]
        assert set(made) <= report_rows(run)


def results_values(node):
    """Every number in a results.json, at any depth."""
    if isinstance(node, dict):
        return [v for x in node.values() for v in results_values(x)]
    if isinstance(node, list):
        return [v for x in node for v in results_values(x)]
    return [float(node)] if isinstance(node, (int, float)) and not isinstance(node, bool) else []


def quoted_numbers(text):
    """The decimal numbers a text quotes (integers such as counts and steps are left out: too many
    numbers would match them), signed, the typographic minus read as one."""
    return [(m, float(m.replace("−", "-"))) for m in re.findall(r"(?<![\w.])[+−-]?\d+\.\d+(?![\d])", text)]


def missing_from_results(text, values):
    """The quoted numbers that no value of results.json gives at the decimals shown: as it is, in
    percent, or in millions (trained tokens)."""
    missing = []
    for shown, x in quoted_numbers(text):
        digits = len(shown.split(".")[1])
        if not any(abs(round(scale * v, digits) - x) < 10 ** -(digits + 3) for v in values for scale in (1, 100, 1e-6)):
            missing.append(shown)
    return missing


def results_intervals(node):
    """(value, low, high) for every number that stands in one object with a two-number interval."""
    if isinstance(node, list):
        return [t for x in node for t in results_intervals(x)]
    if not isinstance(node, dict):
        return []
    nums = [v for v in node.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    cis = [v for v in node.values() if isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)]
    return [(v, lo, hi) for v in nums for lo, hi in cis] + [t for x in node.values() for t in results_intervals(x)]


def missing_intervals(text, intervals):
    """The quoted `x [lo, hi]` that no value of results.json gives with its own interval, at the decimals shown."""
    num = r"([+−-]?\d+\.\d+)"
    missing = []
    for quoted in re.findall(num + r" \[" + num + r", " + num + r"\]", text):
        shown = [(q, float(q.replace("−", "-")), len(q.split(".")[1])) for q in quoted]
        if not any(all(abs(round(scale * v, d) - x) < 10 ** -(d + 3) for (_, x, d), v in zip(shown, t))
                   for t in intervals for scale in (1, 100)):
            missing.append(" ".join(quoted))
    return missing


def readme_results_text(readme=README):
    """The answer at the top (up to the two commands) and the Results section."""
    answer = readme.split("```bash")[0].split("**Glossary.**")[1]
    results = readme.split("\n## Results\n")[1].split("\n## ")[0]
    return answer + results


def test_every_number_the_readme_quotes_from_a_run_is_in_its_results_json():
    values = [v for r in RUNS for v in results_values(json.load(open(os.path.join(ROOT, r, "results.json"))))]
    text = readme_results_text()
    assert len(quoted_numbers(text)) >= 20  # (the section quotes the runs; an empty match would prove nothing)
    assert missing_from_results(text, values) == []
    # and the check can fail: the first number, altered to one that no run wrote, is caught
    shown, _ = quoted_numbers(text)[0]
    bad = next(c for c in (f"0.{d:03d}" for d in range(1000)) if missing_from_results(c, values) == [c])
    assert missing_from_results(text.replace(shown, bad, 1), values) == [bad]


def test_every_interval_the_readme_quotes_is_a_value_and_its_ci_in_results_json():
    """A difference or an accuracy quoted with its CI must be found with that same CI: a number that
    happens to appear elsewhere in results.json does not pass."""
    intervals = [t for r in RUNS for t in results_intervals(json.load(open(os.path.join(ROOT, r, "results.json"))))]
    text = readme_results_text()
    assert len(re.findall(r"\d \[", text)) >= 8
    assert missing_intervals(text, intervals) == []
    assert missing_intervals("+0.358 [+0.280, +0.430]", intervals) == ["+0.358 +0.280 +0.430"]


def results_pairs(node):
    """Every two numbers that stand in one object of a results.json (a mean and its sd, a before and an
    after), or under one key in two sibling objects (`start` and `rl`)."""
    if isinstance(node, list):
        return [t for x in node for t in results_pairs(x)]
    if not isinstance(node, dict):
        return []
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    nums = [v for v in node.values() if number(v)]
    kids = [v for v in node.values() if isinstance(v, dict)]
    siblings = [(a[k], b[k]) for a in kids for b in kids for k in a if k in b and number(a[k]) and number(b[k])]
    return [(a, b) for a in nums for b in nums] + siblings + [t for x in node.values() for t in results_pairs(x)]


def missing_pairs(text, pairs):
    """The quoted `x ± y` (a mean and its spread) and `a → b` (before and after) whose two numbers do not
    stand together in one object of results.json, at the decimals shown."""
    num = r"([+−-]?\d+\.\d+)"
    missing = []
    for quoted in re.findall(num + r" (?:±|→) " + num + r"(?![\d])", text):
        shown = [(float(q.replace("−", "-")), len(q.split(".")[1])) for q in quoted]
        if not any(all(abs(round(v, d) - x) < 10 ** -(d + 3) for (x, d), v in zip(shown, t)) for t in pairs):
            missing.append(" ".join(quoted))
    return missing


def test_every_spread_and_every_before_and_after_the_readme_quotes_stand_together_in_results_json():
    """A number found somewhere in results.json can be a coincidence (an altered 0.958 ± 0.004 reading
    0.968 ± 0.004 passed the test above): a mean with its sd, or a before with its after, must stand in one object."""
    pairs = {t for r in RUNS for t in results_pairs(json.load(open(os.path.join(ROOT, r, "results.json"))))}
    text = readme_results_text()
    assert len(re.findall(r"\d (?:±|→) ", text)) >= 10
    assert missing_pairs(text, pairs) == []
    assert missing_pairs("0.968 ± 0.004", pairs) == ["0.968 0.004"]
