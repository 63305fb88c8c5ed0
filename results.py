"""
results.json: every number of a run, computed from its evaluation files and training logs.

reproduce.py's stages leave, per task, one evaluation file per model (`TASK/eval/NAME.json`, with its
per-problem records), the symbolic sweep (`eval/symbolic.json`) and each model's training log. This
chapter reads them and writes the numbers the report and the README quote: per model the learned
gate, the accuracy per stratum with its CI, the budget tables, the learning curve; per task the
symbolic searches. It writes nothing else and trains nothing, so it is not stage code: a change here
rewrites results.json (and the report) on the next `python reproduce.py`, without retraining.
"""
import json
import os
import platform

import budget
import evaluate
import sizes
from files import read_jsonl
from presets import RLRun, SFTRun
from tasks import get_task


def read_log(path):
    """A training log's rows ([] for a run that wrote none)."""
    return read_jsonl(path) if os.path.exists(path) else []



def stratum_numbers(res):
    return {"n": res["n_problems"], "greedy": res["greedy_acc"], "greedy_ci": res["greedy_acc_ci"],
            "pass_at": {k: v["mean"] for k, v in res.get("pass_at_k", {}).items()},
            "tokens": res["mean_tokens"], "legal_step_rate": res["legal_step_rate"], "answer_rate": res["answer_rate"]}


def task_results(d, preset):
    task_cls = get_task(os.path.basename(d))
    p = lambda *parts: os.path.join(d, *parts)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= preset.samples]
    models, any_rows = {}, None
    for run in preset.sft + preset.rl:
        path = p("eval", f"{run.name}.json")
        if not os.path.exists(path):
            skipped = p(run.name, "skipped.json")
            if os.path.exists(skipped):
                models[run.name] = {"kind": "rl", "init": run.init, "skipped": json.load(open(skipped))}
            continue
        res = json.load(open(path))
        rows = res["per_problem"]
        if isinstance(run, SFTRun):
            data_rows = read_jsonl(p("data", f"{run.data}.jsonl"))
            data_rate = evaluate.data_legal_rate(task_cls, data_rows)
            entry = {"kind": run.kind, "format": "solution" if run.kind == "solution" else run.data,
                     "train_problems": len(data_rows), "steps": run.steps}
        else:
            entry = {"kind": "rl", "format": models[run.init]["format"], "init": run.init, "algo": run.algo,
                     "steps": run.steps or preset.rl_steps, "budget": run.budget}
            data_rate = models[run.init]["gate"]["data_legal_step_rate"]
        strata = evaluate.by_stratum(rows, ks)
        log = read_log(p(run.name, "log.jsonl"))
        entry |= {"gate": evaluate.gate(strata["all"], data_rate),
                  "strata": {name: stratum_numbers(s) for name, s in strata.items()},
                  "budgets": budget.budget_table(rows, preset.token_budgets, ks=(1, preset.samples)),
                  "curve": [{k: r[k] for k in r if k in ("step", "trained_tokens", "val_acc", "val_legal_step_rate",
                                                         "val_answer_rate", "loss", "reward", "zero_var_groups",
                                                         "val_acc_within_budget", "entropy", "gen_len",
                                                         "legal_step_rate", "backtracks")}
                            for r in log if "val_acc" in r or "reward" in r or r.get("step", 0) % 50 == 0]}
        if preset.second_test and os.path.exists(p("eval", f"{run.name}.test2.json")):
            second = json.load(open(p("eval", f"{run.name}.test2.json")))
            entry["second_test"] = {"split": preset.second_test, "n": second["n_problems"],
                                    "greedy": second["greedy_acc"], "greedy_ci": second["greedy_acc_ci"]}
        if preset.sizes and os.path.exists(p("eval", f"{run.name}.sizes.json")):
            mine, solution = json.load(open(p("eval", f"{run.name}.sizes.json"))), p("eval", "sft_solution.sizes.json")
            entry["sizes"] = {side: c["strata"] for side, c in mine.items()}
            if os.path.exists(solution) and run.name != "sft_solution":
                entry["sizes_vs_solution"] = sizes.versus(mine, json.load(open(solution)))
        if isinstance(run, RLRun) and run.budget and os.path.exists(p("eval", f"{run.init}.json")):
            solution = p("eval", "sft_solution.json")
            entry["answer"] = budget.rl_answer(rows, json.load(open(p("eval", f"{run.init}.json")))["per_problem"],
                                               json.load(open(solution))["per_problem"] if os.path.exists(solution) else None,
                                               run.budget, preset.samples)
        models[run.name] = entry
        any_rows = rows
    sym = json.load(open(p("eval", "symbolic.json"))) if os.path.exists(p("eval", "symbolic.json")) else {}
    out = {"test_problems": {"needs_search": preset.n_test, "direct": preset.n_test}, "samples": preset.samples,
           "models": models, "symbolic": sym, "token_budgets": preset.token_budgets}
    if any_rows:
        out["symbolic_budgets"] = budget.symbolic_table(any_rows, preset.token_budgets)
    if preset.sizes:
        out["size_curve"] = {"sides": preset.sizes, "trained_sides": sizes.trained_sides(task_cls, preset.generate),
                             "per_stratum": preset.size_n}
    return out


def collect(out, preset_name, presets):
    """The whole results.json of the run folder `out`: one entry per task of `presets`."""
    return {"preset": preset_name, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "tasks": {task: task_results(os.path.join(out, task), preset) for task, preset in presets.items()}}
