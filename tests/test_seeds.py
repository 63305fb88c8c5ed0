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
    # seed 0 of cpu-seeds trains the cpu preset's model, but for the steps the trace model and its
    # control had when docs/cpu-seeds ran (2,500; the cpu preset's are now 3,000)
    cpu = {r.name: r for r in PRESETS["cpu"]["maze"].sft}
    for name, steps in (("sft_solution", None), ("sft_dfs", "2500"), ("sft_swapped", "2500")):
        a, b = (reproduce.sft_argv("maze", p, r[name], "/r", 0) for p, r in ((PRESETS["cpu"]["maze"], cpu), (preset, runs)))
        assert {a[i - 1] for i, (x, y) in enumerate(zip(a, b)) if x != y} == ({"--max-steps", "--eval-every", "--ckpt-every"}
                                                                              if steps else set()), name
        assert flag(b, "--max-steps") == (steps or flag(a, "--max-steps"))


def test_cpu_seeds_has_three_seeds_of_each_headline_model_and_their_rl():
    preset = PRESETS["cpu-seeds"]["maze"]
    names = [r.name for r in preset.sft + preset.rl]
    for base in ("sft_solution", "sft_dfs", "sft_swapped", "rl_ei_dfs", "rl_grpo_solution"):
        assert [n for n in names if base_name(n) == base] == [base, f"{base}_seed1", f"{base}_seed2"]
    sft = {r.name for r in preset.sft}
    assert all(r.init in sft and r.init.endswith(f"_seed{r.seed}" if r.seed else r.init) for r in preset.rl)


def test_the_matched_solution_run_trains_about_the_trace_models_tokens():
    """Its steps are chosen from the tokens per step of the run it matches (docs/cpu-seeds); within 1 % of its DFS model's."""
    models = json.load(open(os.path.join(ROOT, "docs", "cpu-seeds", "results.json")))["tasks"]["maze"]["models"]
    per_step = lambda m: models[m]["curve"][-1]["trained_tokens"] / models[m]["curve"][-1]["step"]
    matched = next(r for r in PRESETS["cpu-seeds"]["maze"].sft if r.name == "sft_solution_matched")
    dfs_tokens = models["sft_dfs"]["curve"][-1]["trained_tokens"]
    assert abs(matched.steps * per_step("sft_solution") / dfs_tokens - 1) < 0.01
    evals = reproduce.sft_argv("maze", PRESETS["cpu-seeds"]["maze"], matched, "/r", 0)
    assert flag(evals, "--eval-every") == str(-(-8270 // 25))


# ------------------------------------------------------------------------------------------------
# the CI over seeds and problems (results.seed_bootstrap), against exhaustive enumeration

def exact_quantiles(a, b, q):
    """Every equally likely draw (seeds of A, seeds of B, problems: each with replacement) enumerated."""
    import itertools
    import numpy as np
    a, b = np.asarray(a, float), np.asarray(b, float)
    diffs = [a[list(sa)][:, list(pr)].mean() - b[list(sb)][:, list(pr)].mean()
             for sa in itertools.product(range(len(a)), repeat=len(a))
             for sb in itertools.product(range(len(b)), repeat=len(b))
             for pr in itertools.product(range(a.shape[1]), repeat=a.shape[1])]
    return np.quantile(diffs, q, method="inverted_cdf")


def test_seed_bootstrap_matches_the_enumerated_distribution():
    from results import seed_bootstrap
    a = [[1, 1, 0], [1, 0, 0]]            # 2 seeds x 3 problems
    b = [[0, 1, 0], [0, 0, 0], [1, 0, 0]]  # 3 seeds
    diff, lo, hi = seed_bootstrap(a, b, iters=40_000)
    assert abs(diff - (0.5 - 2 / 9)) < 1e-12
    ex_lo, ex_hi = exact_quantiles(a, b, [0.025, 0.975])
    assert abs(lo - ex_lo) < 0.06 and abs(hi - ex_hi) < 0.06, (lo, hi, ex_lo, ex_hi)


def test_seed_bootstrap_with_one_seed_is_the_paired_problem_bootstrap_and_no_problem_noise_leaves_seed_noise():
    import evaluate
    import numpy as np
    from results import seed_bootstrap
    rng = np.random.default_rng(1)
    a, b = (rng.random(200) < 0.7).astype(float), (rng.random(200) < 0.5).astype(float)
    one = seed_bootstrap([a], [b])
    ref = evaluate.paired_bootstrap(a, b)
    assert abs(one[0] - ref[0]) < 1e-12 and abs(one[1] - ref[1]) < 0.015 and abs(one[2] - ref[2]) < 0.015
    # every problem alike: the spread is the seeds' alone (A's seeds 0.2 and 0.8 apart, B fixed)
    flat = seed_bootstrap([[0.2] * 5, [0.8] * 5], [[0.5] * 5])
    assert abs(flat[0]) < 1e-12 and abs(flat[1] + 0.3) < 1e-9 and abs(flat[2] - 0.3) < 1e-9


def test_seed_table_means_spreads_and_gates_on_a_hand_made_run():
    import statistics
    from results import seed_table
    rows = lambda xs: [{"greedy": x, "needs_search": i % 2 == 0, "n": 4, "c": 4 * x} for i, x in enumerate(xs)]
    accs = {"sft_dfs": [1, 1, 1, 0], "sft_dfs_seed1": [1, 0, 1, 1], "sft_dfs_seed2": [1, 1, 0, 1],
            "sft_solution": [0, 1, 0, 1], "sft_solution_seed1": [1, 0, 0, 0], "sft_solution_seed2": [0, 0, 0, 1]}
    per = {m: rows(x) for m, x in accs.items()}
    models = {m: {"kind": "trace" if "dfs" in m else "solution", "seed": int(m[-1]) if "seed" in m else 0,
                  "trained_tokens": 10, "gate": {"passed": m != "sft_dfs_seed2"},
                  "strata": {"all": {"greedy": sum(x) / 4}, "needs_search": {"greedy": (x[0] + x[2]) / 2},
                             "direct": {"greedy": (x[1] + x[3]) / 2}}} for m, x in accs.items()}
    t = seed_table(models, per, "dfs", 4)
    dfs = t["models"]["sft_dfs"]
    assert dfs["runs"] == ["sft_dfs", "sft_dfs_seed1", "sft_dfs_seed2"] and dfs["passed"] == [True, True, False]
    assert dfs["strata"]["all"]["per_seed"] == [0.75] * 3 and dfs["strata"]["all"]["sd"] == 0
    sol = t["models"]["sft_solution"]["strata"]["all"]
    assert abs(sol["mean"] - statistics.mean([0.5, 0.25, 0.25])) < 1e-12
    assert abs(sol["sd"] - statistics.stdev([0.5, 0.25, 0.25])) < 1e-12
    pair, = [p for p in t["pairs"] if p["b"] == "sft_solution"]
    # seed 2's DFS model did not pass the gate: the pair is judged on seeds 0 and 1 alone
    assert pair["seeds"] == [0, 1] and pair["left_out"] == [2] and pair["metric"] == "greedy"
    assert abs(pair["strata"]["all"]["diff"] - (0.75 - (0.5 + 0.25) / 2)) < 1e-12
    assert pair["strata"]["needs_search"]["n_problems"] == 2 and pair["strata"]["all"]["n_seeds"] == 2
    assert seed_table({m: e for m, e in models.items() if "seed" not in m[-6:-1]}, per, "dfs", 4) == {"models": {}, "pairs": []}
