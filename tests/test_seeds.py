"""
Training seeds (issue 23): a headline model trained again with other seeds must differ from seed 0 in
its initialisation and batch order only, never in its data, test set or evaluation, and an RL run of
seed s must start from the SFT model of seed s.
"""
import json
import os

import reproduce
from presets import PRESETS, RLRun, SFTRun, base_name, seeded

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def flag(argv, name):
    return argv[argv.index(name) + 1]


def test_seeded_copies_rename_reseed_and_start_rl_from_the_same_seed():
    runs = [SFTRun("sft_dfs", "trace", "dfs", 100), RLRun("rl_ei_dfs", "sft_dfs", "expert-iteration", budget=32)]
    copies = seeded(runs, 3)
    assert [r.name for r in copies] == ["sft_dfs_seed1", "rl_ei_dfs_seed1", "sft_dfs_seed2", "rl_ei_dfs_seed2"]
    assert [r.seed for r in copies] == [1, 1, 2, 2]
    assert copies[1].init == "sft_dfs_seed1" and copies[3].init == "sft_dfs_seed2"
    assert copies[0].data == "dfs" and copies[1].budget == 32 and copies[1].algo == "expert-iteration"
    assert seeded(runs, 1) == []
    assert [base_name(r.name) for r in copies] == ["sft_dfs", "rl_ei_dfs"] * 2
    assert base_name("sft_dfs_small") == "sft_dfs_small" and base_name("x_seedling") == "x_seedling"


def test_a_seed_changes_the_trainers_seed_and_nothing_else():
    preset = PRESETS["cpu-seeds"]["maze"]
    runs = {r.name: r for r in preset.sft}
    a0 = reproduce.sft_argv("maze", preset, runs["sft_dfs"], "/run/maze", 0)
    a2 = reproduce.sft_argv("maze", preset, runs["sft_dfs_seed2"], "/run/maze", 0)
    assert flag(a0, "--seed") == "0" and flag(a2, "--seed") == "2"
    assert flag(a2, "--out") == "/run/maze/sft_dfs_seed2"
    differ = {a0[i - 1] for i, (x, y) in enumerate(zip(a0, a2)) if x != y}
    assert differ == {"--seed", "--out"} and len(a0) == len(a2)
    # seed 0 of cpu-seeds trains exactly the cpu preset's model
    cpu = {r.name: r for r in PRESETS["cpu"]["maze"].sft}
    for name in ("sft_solution", "sft_dfs", "sft_swapped"):
        assert reproduce.sft_argv("maze", PRESETS["cpu"]["maze"], cpu[name], "/r", 0) == \
            reproduce.sft_argv("maze", preset, runs[name], "/r", 0)


def test_cpu_seeds_has_three_seeds_of_each_headline_model_and_their_rl():
    preset = PRESETS["cpu-seeds"]["maze"]
    names = [r.name for r in preset.sft + preset.rl]
    for base in ("sft_solution", "sft_dfs", "sft_swapped", "rl_ei_dfs", "rl_grpo_solution"):
        assert [n for n in names if base_name(n) == base] == [base, f"{base}_seed1", f"{base}_seed2"]
    sft = {r.name for r in preset.sft}
    assert all(r.init in sft and r.init.endswith(f"_seed{r.seed}" if r.seed else r.init) for r in preset.rl)


def test_the_matched_solution_run_trains_about_the_trace_models_tokens():
    """Its steps are chosen from the published run's tokens per step; within 1 % of the DFS model's."""
    models = json.load(open(os.path.join(ROOT, "docs", "cpu", "results.json")))["tasks"]["maze"]["models"]
    per_step = lambda m: models[m]["curve"][-1]["trained_tokens"] / models[m]["curve"][-1]["step"]
    matched = next(r for r in PRESETS["cpu-seeds"]["maze"].sft if r.name == "sft_solution_matched")
    dfs_tokens = models["sft_dfs"]["curve"][-1]["trained_tokens"]
    assert abs(matched.steps * per_step("sft_solution") / dfs_tokens - 1) < 0.01
    evals = reproduce.sft_argv("maze", PRESETS["cpu-seeds"]["maze"], matched, "/r", 0)
    assert flag(evals, "--eval-every") == str(-(-8270 // 25))
