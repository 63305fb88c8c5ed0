"""formats.py: the time to the gate read from a learning curve, the extrapolation for a model that never
passed, trace lengths, the format table and the data-size frontier, each against a hand count; and the
frontier's data: the large set begins with the training set, and the preflight refuses what it cannot make."""
import dataclasses
import os

import pytest

import evaluate
import formats
import preflight
import reproduce
from files import read_jsonl
from presets import PRESETS, SFTRun, base_data


def point(step, legal, answers=1.0, tokens=None):
    return {"step": step, "val_acc": 0.5, "val_legal_step_rate": legal, "val_answer_rate": answers, "trained_tokens": tokens}


def test_time_to_gate_is_the_first_validation_point_that_passes():
    curve = [{"step": 50, "loss": 1.0}, point(100, 0.80, tokens=10), point(200, 0.97, answers=0.90),
             point(300, 0.96, tokens=30), point(400, 0.99)]
    assert formats.time_to_gate(curve, 1.0) == {"step": 300, "trained_tokens": 30}
    # relative to the data's own legal-step rate: 0.80 of a 0.80-legal file passes
    assert formats.time_to_gate(curve, 0.8)["step"] == 100
    # solution-only data (None): answers alone
    assert formats.time_to_gate([point(100, None, answers=0.94), point(200, None, answers=0.95)], None)["step"] == 200
    assert formats.time_to_gate([point(100, 0.5), point(200, 0.9)], 1.0) is None


def test_steps_to_gate_is_the_line_through_the_last_two_points():
    # 0.85 at 1,000 and 0.91 at 2,000: +0.06 per 1,000 steps reaches 0.95 at 2,000 + 1,000 * 0.04 / 0.06
    assert formats.steps_to_gate([point(500, 0.2), point(1000, 0.85), point(2000, 0.91)], 1.0) == 2667
    # the weaker of answers and legal steps: answers 0.90 -> 0.92 (legal already past) reach 0.95 at 3,500
    assert formats.steps_to_gate([point(1000, 0.99, 0.90), point(2000, 0.99, 0.92)], 1.0) == 3500
    assert formats.steps_to_gate([point(1000, 0.91), point(2000, 0.90)], 1.0) is None  # falling
    assert formats.steps_to_gate([point(1000, 0.91)], 1.0) is None
    assert formats.steps_to_gate([point(1000, 0.90), point(2000, 0.97)], 1.0) == 2000  # passes at its end
    assert formats.steps_to_gate([point(1000, 0.80), point(2000, 0.85)], 1.0) == 4000  # (not 4001: rounding)
    # relative to a 0.9-legal data file: 0.81 -> 0.84 is 0.9 -> 0.933 of it, reaching 0.95 at 2,500
    assert formats.steps_to_gate([point(1000, 0.81), point(2000, 0.84)], 0.9) == 2500
    # solution-only data: answers alone (legal steps None)
    assert formats.steps_to_gate([point(1000, None, 0.85), point(2000, None, 0.90)], None) == 3000


def test_trace_tokens_mean_and_p90_against_a_hand_count():
    rows = [{"trace": " ".join(["go"] * k)} for k in range(1, 11)]  # 2..11 tokens with the end token
    t = formats.trace_tokens(rows)
    ordered = sorted(len(r["trace"].split()) + 1 for r in rows)
    rank = 0.9 * (len(ordered) - 1)  # linear interpolation between the ranks around the 90th percentile
    lo = int(rank)
    assert t == {"mean": sum(ordered) / 10, "p90": ordered[lo] + (rank - lo) * (ordered[lo + 1] - ordered[lo])}
    assert formats.trace_tokens([]) is None


def rec(needs, greedy, tokens, nodes, teacher_nodes, c=0):
    return {"needs_search": needs, "greedy": greedy, "tokens": tokens, "nodes": nodes, "c": c, "n": 4,
            "sym_nodes": {"astar": teacher_nodes, "dfs": 99}}


def numbered(rows):
    """The records of test problems 0, 1, ... (what pairs two models' records)."""
    return [r | {"problem": i} for i, r in enumerate(rows)]


def entry(data, passed=True, curve=(), seed=0, n=4000, kind="trace"):
    strata = {s: {"greedy": 0.5, "greedy_ci": [0.4, 0.6], "pass_at": {"4": 0.7}} for s in ("needs_search", "direct", "all")}
    return {"kind": kind, "format": data, "data": data, "seed": seed, "train_problems": n, "steps": 100,
            "trained_tokens": 1000, "train_flops": 6e9, "curve": list(curve), "strata": strata,
            "gate": {"passed": passed, "legal_step_rate": 0.97, "data_legal_step_rate": 1.0}}


def test_format_row_counts_states_on_the_solved_needs_search_problems_only():
    rows = numbered([rec(True, 1, 20, 8, 10), rec(True, 1, 30, 6, 12), rec(True, 0, 50, 40, 11), rec(False, 1, 10, 3, 3)])
    dfs_rows = numbered([rec(True, 1, 0, 0, 0), rec(True, 0, 0, 0, 0), rec(True, 0, 0, 0, 0), rec(False, 1, 0, 0, 0)])
    r = formats.format_row(entry("astar_costs"), rows, dfs_rows, 4)
    assert r["teacher"] == "astar" and r["states"] == 7.0 and r["teacher_states"] == 11.0
    assert r["tokens_per_solved"] == 50.0 and r["pass_at_n"] == 0.7  # all 100 tokens spent over the 2 solved
    # needs search: solved 1, 1, 0 against DFS's 1, 0, 0: +1/3
    assert r["vs_dfs"]["needs_search"]["diff"] == pytest.approx(1 / 3)
    assert r["vs_dfs"]["needs_search"] == evaluate.compare_rows(rows[:3], dfs_rows[:3])
    assert formats.format_row(entry("mix"), rows, None, 4)["teacher_states"] is None  # no one teacher
    with pytest.raises(ValueError, match="same test problems"):  # records paired problem by problem, never shifted
        formats.format_row(entry("astar"), rows, dfs_rows[1:] + dfs_rows[:1], 4)


def test_formats_lists_the_trace_models_with_the_preset_trace_first_and_renders_not_learned():
    rows = numbered([rec(True, 1, 20, 8, 10), rec(False, 1, 10, 3, 3)])
    models = {"sft_solution": entry("solution", kind="solution"), "sft_mcts": entry("mcts", passed=False,
              curve=[point(1000, 0.85), point(2000, 0.91)]), "sft_dfs": entry("dfs", curve=[point(25, 0.5), point(50, 0.99, tokens=5e5)]),
              "sft_dfs_small": entry("dfs_small", n=1000), "sft_dfs_seed1": entry("dfs", seed=1)}
    table = formats.formats(models, {m: rows for m in models}, "dfs", 4)
    assert list(table) == ["sft_dfs", "sft_mcts"]
    text = "\n".join(formats.format_lines(table, 4, {"sft_dfs": 300.0}))
    assert "| sft_dfs | – / – | 50, 0.50M, 150 s | 100 |" in text  # half its steps: half its stage's 300 s
    assert "**not learned** (its last two points reach the gate at ~2667 steps)" in text
    assert text.splitlines()[-3].endswith("| – |")  # a model not learned is compared with nothing
    assert formats.formats({"sft_dfs": entry("dfs")}, {"sft_dfs": rows}, "dfs", 4) == {}


def test_the_frontier_pairs_each_size_and_each_solution_size_against_the_trace_model():
    needs = lambda bits: numbered([rec(True, b, 1, 1, 1) for b in bits] + [rec(False, 1, 1, 1, 1)])
    rows = {"sft_solution_small": needs([0, 0, 0, 0]), "sft_solution": needs([1, 0, 0, 0]),
            "sft_solution_large": needs([1, 1, 1, 0]), "sft_dfs_small": needs([1, 1, 0, 0]),
            "sft_dfs": needs([1, 1, 1, 1]), "sft_dfs_large": needs([1, 1, 1, 1])}
    sizes = {"small": 1000, "": 4000, "large": 16000}
    models = {m: entry(m.removeprefix("sft_"), n=sizes[m.split("_", 2)[2] if m.count("_") > 1 else ""],
                       kind="solution" if "solution" in m else "trace") for m in rows}
    fr = formats.frontier(models, rows, "dfs")
    assert list(fr["solution"]) == ["1000", "4000", "16000"] and fr["reference"]["train_problems"] == 4000
    mean = lambda m: sum(r["greedy"] for r in rows[m] if r["needs_search"]) / 4
    for n, suffix in (("1000", "_small"), ("4000", ""), ("16000", "_large")):
        assert fr["same_size"][n]["diff"] == pytest.approx(mean(f"sft_dfs{suffix}") - mean(f"sft_solution{suffix}"))
        assert fr["catch_up"][n]["diff"] == pytest.approx(mean(f"sft_solution{suffix}") - mean("sft_dfs"))
    assert fr["catch_up"]["16000"]["multiple"] == 4.0
    text = "\n".join(formats.frontier_lines(fr))
    assert "| 16,000 |" in text and "(4x the data)" in text
    one = {m: e for m, e in models.items() if m in ("sft_solution", "sft_dfs")}
    assert formats.frontier(one, rows, "dfs") == {}


def test_the_large_set_begins_with_the_training_set_and_its_traces_with_the_training_traces(tmp_path):
    preset = dataclasses.replace(PRESETS["cpu-frontier"]["maze"], n_train=30, n_large=80, n_small=10, n_test=2, n_val=4)
    job = reproduce.Job("maze", preset, str(tmp_path / "maze"), 0, [])
    os.makedirs(job.dir)
    reproduce.make_data(job)
    data = lambda name: read_jsonl(job.p("data", f"{name}.jsonl"))
    assert len(data("train_large")) == 80 and data("train_large")[:30] == data("train")
    for name in ("solution", "dfs"):  # the same search and flags: the first n_train rows are the training data
        assert len(data(f"{name}_large")) == 80 and data(f"{name}_large")[:30] == data(name)
        assert data(f"{name}_small") == data(name)[:10]
    seen = {str(r["grid"]) for r in data("train_large")}
    assert not any(str(r["grid"]) in seen for r in data("val"))


def test_a_large_copy_of_a_format_with_its_own_flags_is_written_as_that_format(tmp_path):
    """A* with costs ignores the preset's trace flags (--no-costs): its large copy must keep the costs
    too, and begin with the training set's traces."""
    runs = [SFTRun("sft_astar_costs", "trace", "astar_costs", 10), SFTRun("sft_astar_costs_large", "trace", "astar_costs_large", 10),
            SFTRun("sft_mcts_sim_large", "trace", "mcts_sim_large", 10)]
    preset = dataclasses.replace(PRESETS["cpu-formats"]["maze"], n_train=20, n_large=40, n_test=2, n_val=4, sft=runs)
    job = reproduce.Job("maze", preset, str(tmp_path / "maze"), 0, [])
    os.makedirs(job.dir)
    reproduce.make_data(job)
    data = lambda name: read_jsonl(job.p("data", f"{name}.jsonl"))
    assert len(data("astar_costs_large")) == 40 and data("astar_costs_large")[:20] == data("astar_costs")
    assert all(" g " in r["trace"] and " h " in r["trace"] for r in data("astar_costs_large") if r["solved"])
    assert len(data("mcts_sim_large")) == 40
    with pytest.raises(SystemExit, match="no way to write the format 'mix'"):
        reproduce.format_traces(job, "mix", "mix_large")


def test_the_preflight_refuses_a_large_copy_it_cannot_make():
    preset = PRESETS["cpu-long"]["maze"]
    shape = (1, 2, 32, None)
    errors, _ = preflight.check("maze", dataclasses.replace(preset, n_large=100), shape, ".", "cpu")
    assert any(e.startswith("maze/data: n_large 100 must be at least n_train") for e in errors)
    mix = dataclasses.replace(preset, sft=[dataclasses.replace(preset.sft[0], name="sft_mix_large", data="mix_large")])
    errors, _ = preflight.check("maze", mix, shape, ".", "cpu")
    assert any("a large copy of mix is not made" in e for e in errors)
    assert base_data("dfs_large") == base_data("dfs_small") == base_data("dfs") == "dfs"


def test_a_learned_model_is_never_labelled_not_learned_and_a_reference_not_learned_compares_nothing():
    rows = numbered([rec(True, 1, 20, 8, 10), rec(False, 1, 10, 3, 3)])
    # learned on the test set and at its end, though no validation point records answers (an older log)
    models = {"sft_dfs": entry("dfs"), "sft_mcts": entry("mcts", curve=[{"step": 10, "val_acc": 1.0}])}
    text = "\n".join(formats.format_lines(formats.formats(models, {m: rows for m in models}, "dfs", 4), 4))
    assert "learned, no validation point passed" in text and "**not learned**" not in text
    needs = numbered([rec(True, 1, 1, 1, 1), rec(False, 1, 1, 1, 1)])
    models = {"sft_solution": entry("solution", kind="solution"), "sft_dfs": entry("dfs", passed=False),
              "sft_solution_large": entry("solution_large", kind="solution", n=16000)}
    fr = formats.frontier(models, {m: needs for m in models}, "dfs")
    assert "16000" in fr["catch_up"]  # computed, but not shown: its reference is not learned
    assert all(line.split(" | ")[4] == "–" for line in formats.frontier_lines(fr)[2:-1])


def test_a_data_size_copy_is_compared_with_solution_only_of_its_own_size_only():
    import report
    import results
    rows = numbered([rec(True, 1, 1, 1, 1), rec(False, 1, 1, 1, 1)])
    names = ["sft_solution", "sft_solution_small", "sft_solution_large", "sft_dfs", "sft_dfs_small", "sft_dfs_large"]
    models = {m: entry(m.removeprefix("sft_"), kind="solution" if "solution" in m else "trace") for m in names}
    pairs = {(c["a"], c["b"]) for c in results.comparisons(models, {m: rows for m in names})}
    assert pairs == {("sft_dfs", "sft_solution"), ("sft_dfs_small", "sft_solution_small"), ("sft_dfs_large", "sft_solution_large")}
    models["sft_dfs_large"]["curve"] = [point(10, 1.0)]  # the best validation point: still not the headline's trace model
    section = report.Section("/nonexistent", "maze", {"models": models, "samples": 4}, {m: rows for m in names})
    assert section.trace_model() == "sft_dfs"


def test_the_picture_shows_each_learned_format_above_its_teacher_on_a_maze_all_solved(tmp_path):
    import random

    import plots
    import report
    import search
    from tasks import get_task
    maze = get_task("maze")
    problems = maze.generate(40, random.Random(0), "train", **maze.generate_options(["--height", "6", "--width-cells", "6"]))
    problem = next(p for p in problems if search.needs_search(maze(p)))
    states, path = plots._teacher_search(maze, problem, "dfs")
    assert path == maze(problem).answer(search.dfs(maze(problem)).moves) and states[-1] == tuple(path[-1])
    row = {"problem": problem, "needs_search": True, "greedy": 1, "explored": [list(s) for s in states], "answer": path}
    models = {"sft_dfs": entry("dfs"), "sft_mix": entry("mix"), "sft_mcts": entry("mcts", passed=False)}
    res = {"models": models, "samples": 4,
           "formats": {"sft_dfs": {"teacher": "dfs"}, "sft_mix": {"teacher": None}, "sft_mcts": {"teacher": "mcts"}}}
    os.makedirs(tmp_path / "maze")
    section = report.Section(str(tmp_path), "maze", res, {m: [row] for m in models})
    assert plots.format_searches(section) == ["![each learned format's model searching one needs-search maze, above its "
                                              "teacher](maze_formats.png)\n"]
    assert os.path.getsize(tmp_path / "maze_formats.png") > 0
    section.rows = {m: [row | {"greedy": 0}] for m in models}  # no maze solved by all: said, not drawn
    assert plots.format_searches(section)[0].startswith("(no needs-search test maze solved by every learned format")
