"""The whole pipeline at toy size: every stage runs, results.json and the report are written, a re-run
is cached, the report regenerates byte for byte, and a run folder is never overwritten."""
import json
import os

import pytest

import report
import reproduce


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("smoke") / "run")
    reproduce.main(["--preset", "smoke", "--task", "all", "--out", out, "--threads", "1", "--jobs", "1"])
    return out


def test_smoke_pipeline_writes_results_and_report(run):
    results = json.load(open(os.path.join(run, "results.json")))
    text = open(os.path.join(run, "report.md")).read()
    assert results["preset"] == "smoke" and "wall_s" not in results  # (timings.json: results.json is reproducible)
    for task, preset in reproduce.PRESETS["smoke"].items():
        assert f"## {task}" in text
        res = results["tasks"][task]
        for sft in preset.sft:
            entry = res["models"][sft.name]
            assert entry["kind"] == sft.kind and set(entry["gate"]) >= {"passed", "legal_step_rate", "answer_rate"}
            strata = entry["strata"]
            assert strata["needs_search"]["n"] == strata["direct"]["n"] == preset.n_test  # the stratified test set
            assert strata["all"]["n"] == 2 * preset.n_test and set(strata["all"]["pass_at"]) == {"1", "2", "4"}
            assert f"| {sft.name} |" in text
            assert any("val_acc" in r for r in entry["curve"])  # a learning curve
        # real traces are legal by construction, the controls' borrowed or scrambled clauses are not
        gate = lambda m: res["models"][m]["gate"]["data_legal_step_rate"]
        assert gate("sft_dfs") == 1.0 and gate("sft_shuffled") < 1.0 and gate("sft_swapped") < 1.0
        assert gate("sft_solution") is None
        assert res["symbolic"]["astar"][-1]["acc"] == 1.0  # the unbounded symbolic search solves everything
        if preset.second_test:  # Countdown's held-out targets, greedy only
            assert res["models"]["sft_dfs"]["second_test"]["split"] == "test"
            assert res["models"]["sft_dfs"]["second_test"]["n"] == 2 * preset.n_test
        # budgets: every model within each token budget, the symbolic searches too, and the RL answer
        assert set(res["models"]["sft_dfs"]["budgets"]) == {str(b) for b in preset.token_budgets}
        assert set(res["symbolic_budgets"]["24"]["needs_search"]) >= {"dfs", "any"}
        rl = res["models"]["rl_grpo_dfs"]
        assert rl["budget"] == 24 and rl["answer"]["needs_search"]["up"]["n"] == preset.n_test
        for png in ("learning", "passk", "compute"):
            assert os.path.exists(os.path.join(run, f"{task}_{png}.png"))
        if preset.sizes:  # the size curve: every model at every side, paired against solution-only
            assert res["size_curve"] == {"sides": preset.sizes, "trained_sides": [4, 5], "per_stratum": preset.size_n}
            for m in ("sft_solution", "sft_dfs", "rl_grpo_dfs"):
                assert [res["models"][m]["sizes"][str(s)]["all"]["n"] for s in preset.sizes] == [2 * preset.size_n] * 2
            assert set(res["models"]["sft_dfs"]["sizes_vs_solution"]) == {str(s) for s in preset.sizes}
            assert "**Maze size**" in text and os.path.exists(os.path.join(run, f"{task}_sizes.png"))
    assert any(p.sizes for p in reproduce.PRESETS["smoke"].values())
    # the toy models learn nothing: the gate says so, and the summary draws no conclusion
    assert "**not learned**" in text and "cannot compare trace training with anything" in text
    assert "What it does not show" in text


def test_rerun_is_cached_and_report_regenerates_byte_for_byte(run, capsys):
    text = open(os.path.join(run, "report.md")).read()
    capsys.readouterr()
    reproduce.main(["--preset", "smoke", "--task", "all", "--out", run, "--threads", "1", "--jobs", "1"])
    stages = sum(1 + len(p.sft) + len(p.rl) + 1 for p in reproduce.PRESETS["smoke"].values())
    assert capsys.readouterr().out.count(": cached") == stages
    os.remove(os.path.join(run, "report.md"))
    report.main([run])
    assert open(os.path.join(run, "report.md")).read() == text


def test_changed_settings_are_refused_and_nothing_is_deleted(run, capsys):
    before = sorted(os.listdir(os.path.join(run, "maze")))
    train = open(os.path.join(run, "maze", "data", "train.jsonl")).read()
    with pytest.raises(SystemExit, match=r"made with other settings \(.*seed: 0 -> 1.*--out NEW_FOLDER.*--overwrite"):
        reproduce.main(["--preset", "smoke", "--task", "all", "--out", run, "--seed", "1", "--jobs", "1"])
    assert sorted(os.listdir(os.path.join(run, "maze"))) == before
    assert open(os.path.join(run, "maze", "data", "train.jsonl")).read() == train
    # asked to, it redoes the changed stages from scratch (no checkpoint of the old settings resumed)
    reproduce.main(["--preset", "smoke", "--task", "maze", "--out", run, "--seed", "1", "--overwrite", "--threads", "1", "--jobs", "1"])
    assert "--overwrite removes" in capsys.readouterr().out
    assert open(os.path.join(run, "maze", "data", "train.jsonl")).read() != train
    assert json.load(open(os.path.join(run, "results.json")))["tasks"].keys() == {"maze"}
