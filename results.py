"""
results.json: every number of a run, computed from its evaluation files and training logs.

reproduce.py's stages leave, per task, one evaluation file per model (`TASK/eval/NAME.json`, with its
per-problem records), the symbolic sweep (`eval/symbolic.json`) and each model's training log. This
chapter reads them and writes every number the report and the README quote: per model the learned
gate with its margin, the accuracy per stratum with its CI, the budget tables, the learning curve,
trained tokens and FLOPs, RL against its start (pass@1, pass@n, boundary counts); per task the paired
comparisons (equal data, equal tokens, the controls), the symbolic searches, the format table and
the data-size frontier (formats.py) and, where a model was trained with several seeds, the seed
table with a CI over seeds and problems. It trains nothing, so
it is not stage code: `python report.py RUN --recompute` rewrites results.json and the report after a
change here, without retraining.
"""
import json
import os
import platform

import numpy as np

import budget
import checkpoint
import evaluate
import formats
import sizes
from files import read_jsonl
from model import cpu_has_bf16
from presets import RLRun, SFTRun, base_name
from tasks import get_task


def read_log(path):
    """A training log's rows ([] for a run that wrote none)."""
    return read_jsonl(path) if os.path.exists(path) else []


def last(rows, key):
    """The last value of `key` in a log (None if it never appears)."""
    vals = [r[key] for r in rows if r.get(key) is not None]
    return vals[-1] if vals else None


# ------------------------------------------------------------------------------------------------
# the learned gate, with a margin

def gate_with_margin(test_gate, log, data_rate):
    """The learned gate (evaluate.gate) on the test set AND at the final validation point of the
    learning curve: a model passes only if both hold, so that a pass does not rest on one noisy
    number. `margin` is how far the weaker of the two is above the threshold (negative: below).
    A model gated on its answers alone (evaluate.gate's rule: solution-only data, or data whose
    clauses are almost never legal) has its margin on the answer rate."""
    final = evaluate.gate({"legal_step_rate": last(log, "val_legal_step_rate"),
                           "answer_rate": last(log, "val_answer_rate") or test_gate["answer_rate"]}, data_rate)
    key = "relative_legal_step_rate" if final["rule"] == "legal steps" else "answer_rate"
    both = [g[key] for g in (test_gate, final) if g[key] is not None]
    has_val = any(r.get("val_acc") is not None for r in log)
    return test_gate | {"passed": bool(test_gate["passed"] and (final["passed"] or not has_val)), "rule": final["rule"],
                        "final_validation": {k: final[k] for k in ("legal_step_rate", "answer_rate", "relative_legal_step_rate")},
                        "margin": round(min(both) - evaluate.GATE, 4) if both else None}


# ------------------------------------------------------------------------------------------------
# paired comparisons, RL before and after, training seeds

def _compare(ra, rb, k=None):
    return {s: evaluate.compare_rows([r for r in ra if f(r)], [r for r in rb if f(r)], k) for s, f in evaluate.STRATA.items()}


def learned(models, name):
    return name in models and models[name].get("gate", {}).get("passed", False)


def comparisons(models, rows):
    """The paired comparisons the conclusions rest on, per stratum (greedy): the trace model against
    solution-only (equal data), solution-only trained to its tokens (equal compute), and its two
    controls (equal tokens, no search); the data-size sweep's pair. A pair with a model that did not
    pass the gate is listed as not compared."""
    out = []
    for t in [m for m, e in models.items() if e["kind"] == "trace" and m in rows]:
        seed = models[t].get("seed", 0)
        size = next((x for x in ("_small", "_large") if t.endswith(x)), "")  # a data-size copy meets its own size
        others = [f"sft_solution{size}"] if size else ["sft_solution", "sft_solution_matched", "sft_swapped", "sft_shuffled"]
        for b in [partner(models, b, seed) for b in others]:
            if b in rows:
                out.append({"a": t, "b": b, "learned": learned(models, t) and learned(models, b),
                            "strata": _compare(rows[t], rows[b])})
    return out


def partner(models, name, seed):
    """The run of `name` with the same training seed (NAME_seedS), or `name` itself where it has one seed."""
    return f"{name}_seed{seed}" if seed and f"{name}_seed{seed}" in models else name


def rl_versus(rows, init_rows, n):
    """An RL model against its start on the same problems: pass@1 and pass@n (the boundary: solved
    by at least one of n samples), per stratum, with the problems only one of the two solves."""
    return {"pass@1": _compare(rows, init_rows, 1), f"pass@{n}": _compare(rows, init_rows, n)}


def seed_bootstrap(acc_a, acc_b, iters=10_000, seed=0):
    """The mean over training seeds of A's accuracy minus B's, with a 95% CI that resamples both the
    seeds (of each model, independently) and the test problems (paired: one draw of problems for
    both). acc_a: [seeds][problems] 0/1 (or any score); acc_b likewise, on the same problems."""
    a, b = np.asarray(acc_a, float), np.asarray(acc_b, float)
    rng = np.random.default_rng(seed)
    sa = rng.integers(0, len(a), size=(iters, len(a)))
    sb = rng.integers(0, len(b), size=(iters, len(b)))
    probs = rng.integers(0, a.shape[1], size=(iters, a.shape[1]))
    diffs = np.empty(iters)
    for i in range(iters):  # seeds drawn, then problems: the mean of the drawn seeds on the drawn problems
        diffs[i] = a[sa[i]][:, probs[i]].mean() - b[sb[i]][:, probs[i]].mean()
    return float(a.mean() - b.mean()), float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def _scores(rows, metric):
    """Per test problem, the score a headline number averages: "greedy"; "within B" (greedy accuracy
    within B generated tokens, for RL under a budget); or "pass@n" (solved by one of n samples)."""
    if metric == "greedy":
        return [r["greedy"] for r in rows]
    if metric.startswith("greedy within B = "):
        return budget.greedy_within(rows, int(metric.rsplit(" ", 1)[1]))
    return [float(r["c"] > 0) for r in rows]


def _metric(e, samples):
    """The metric a pair is judged by, from its model A: greedy; within its budget for budgeted RL;
    the boundary (pass@n) for other RL."""
    if e["kind"] != "rl":
        return "greedy"
    return f"greedy within B = {e['budget']}" if e.get("budget") else f"pass@{samples}"


def seed_table(models, rows, trace, samples):
    """Per model that has training-seed copies (NAME_seedS): each seed's greedy accuracy per stratum
    and gate, their mean and spread. For the headline pairs (the trace model against solution-only
    and against the swapped control, each RL run against its start, seed s against seed s), the mean
    difference over seeds with a CI over seeds and problems. Empty for a run with one seed per model."""
    groups = {}
    for m, e in models.items():
        if m in rows and "seed" in e:
            groups.setdefault(base_name(m), []).append(m)
    groups = {b: ms for b, ms in groups.items() if len(ms) > 1}
    out = {"models": {}, "pairs": []}
    for b, ms in groups.items():
        per = {s: [models[m]["strata"][s]["greedy"] for m in ms] for s in evaluate.STRATA}
        out["models"][b] = {"seeds": [models[m]["seed"] for m in ms], "runs": ms,
                            "passed": [learned(models, m) for m in ms],
                            "trained_tokens": models[ms[0]]["trained_tokens"],
                            "init_tokens": models[models[ms[0]]["init"]]["trained_tokens"] if "init" in models[ms[0]] else None,
                            "strata": {s: {"per_seed": v, "mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)),
                                           "min": min(v), "max": max(v)} for s, v in per.items()}}
    pairs = [(f"sft_{trace}", "sft_solution"), (f"sft_{trace}", "sft_swapped")]
    pairs += [(b, models[b]["init"]) for b in groups if models[b]["kind"] == "rl"]
    for a, b in pairs:
        if a not in groups or b not in groups or len(groups[a]) != len(groups[b]):
            continue
        metric = _metric(models[a], samples)
        # seed s of A against seed s of B, over the seeds where both passed the gate: each seed is a model
        both = [(x, y) for x, y in zip(groups[a], groups[b]) if learned(models, x) and learned(models, y)]
        entry = {"a": a, "b": b, "metric": metric, "seeds": [models[x]["seed"] for x, _ in both],
                 "left_out": [models[x]["seed"] for x, y in zip(groups[a], groups[b]) if (x, y) not in both],
                 "strata": {}}
        for s, f in evaluate.STRATA.items():
            keep = [f(r) for r in rows[groups[a][0]]]
            score = lambda runs: [[x for x, k in zip(_scores(rows[run], metric), keep) if k] for run in runs]
            if both:
                diff, lo, hi = seed_bootstrap(score([x for x, _ in both]), score([y for _, y in both]))
                entry["strata"][s] = {"diff": diff, "ci95": [lo, hi], "n_seeds": len(both), "n_problems": sum(keep)}
        out["pairs"].append(entry)
    return out


def stratum_numbers(res):
    return {"n": res["n_problems"], "greedy": res["greedy_acc"], "greedy_ci": res["greedy_acc_ci"],
            "pass_at": {k: v["mean"] for k, v in res.get("pass_at_k", {}).items()},
            "tokens": res["mean_tokens"], "legal_step_rate": res["legal_step_rate"], "answer_rate": res["answer_rate"]}


def task_results(d, preset):
    task_cls = get_task(os.path.basename(d))
    p = lambda *parts: os.path.join(d, *parts)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= preset.samples]
    models, per_problem, any_rows = {}, {}, None
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
            entry = {"kind": run.kind, "format": "solution" if run.kind == "solution" else run.data, "data": run.data,
                     "train_problems": len(data_rows), "steps": run.steps, "trace_tokens": formats.trace_tokens(data_rows)}
        else:
            entry = {"kind": "rl", "format": models[run.init]["format"], "init": run.init, "algo": run.algo,
                     "steps": run.steps or preset.rl_steps, "budget": run.budget}
            data_rate = models[run.init]["gate"]["data_legal_step_rate"]
        strata = evaluate.by_stratum(rows, ks)
        log = read_log(p(run.name, "log.jsonl"))
        # an RL log's counts per step (a step without signal back-propagates nothing); None in a log from before them
        rl_sum = lambda key: sum(r.get(key, 0) for r in log if "gen_tokens" in r) if any("gen_tokens" in r for r in log) else None
        entry |= {"seed": run.seed, "trained_tokens": last(log, "trained_tokens") if isinstance(run, SFTRun) else rl_sum("rl_tokens"),
                  "gate": gate_with_margin(evaluate.gate(strata["all"], data_rate), log, data_rate),
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
            walks = [budget.walk_tokens(task_cls(r["problem"]), costs="--no-costs" not in preset.trace_flags) for r in rows]
            entry["answer"] = budget.rl_answer(rows, json.load(open(p("eval", f"{run.init}.json")))["per_problem"],
                                               json.load(open(solution))["per_problem"] if os.path.exists(solution) else None,
                                               run.budget, preset.samples, walks=walks)
        if isinstance(run, RLRun):  # RL also decodes: 2 FLOPs per parameter and generated token
            entry["generated_tokens"] = rl_sum("gen_tokens")
        if entry["trained_tokens"] is not None:  # 6 FLOPs per parameter and token (forward and backward)
            params = checkpoint.load(p(run.name, "ckpt.pt"))[0].num_params()
            entry["train_flops"] = params * (6 * entry["trained_tokens"] + 2 * (entry.get("generated_tokens") or 0))
        models[run.name] = entry
        per_problem[run.name] = rows
        any_rows = rows
    sym = json.load(open(p("eval", "symbolic.json"))) if os.path.exists(p("eval", "symbolic.json")) else {}
    for name, e in models.items():
        if e["kind"] == "rl" and name in per_problem and e["init"] in per_problem:
            e["vs_init"] = rl_versus(per_problem[name], per_problem[e["init"]], preset.samples)
    out = {"test_problems": {"needs_search": preset.n_test, "direct": preset.n_test}, "samples": preset.samples,
           "models": models, "symbolic": sym, "token_budgets": preset.token_budgets,
           "comparisons": comparisons(models, per_problem), "seeds": seed_table(models, per_problem, preset.trace, preset.samples),
           "formats": formats.formats(models, per_problem, preset.trace, preset.samples),
           "frontier": formats.frontier(models, per_problem, preset.trace)}
    if any_rows:
        out["symbolic_budgets"] = budget.symbolic_table(any_rows, preset.token_budgets)
    if preset.sizes:
        out["size_curve"] = {"sides": preset.sizes, "trained_sides": sizes.trained_sides(task_cls, preset.generate),
                             "per_stratum": preset.size_n}
    return out


def machine(cpuinfo="/proc/cpuinfo"):
    """The machine, as far as a run's last bits depend on it: two CPUs with other kernels (native bf16
    or not, other vector units) train the same seed to different numbers (docs/design.md, issue 21)."""
    try:
        with open(cpuinfo) as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = ""
    bf16 = "native bf16" if cpu_has_bf16(cpuinfo) else "no native bf16"
    return f"{platform.machine()}{' ' + name if name else ''}, {os.cpu_count()} cores, {bf16}"


def collect(out, preset_name, presets, machine_name=None):
    """The whole results.json of the run folder `out`: one entry per task of `presets`."""
    return {"preset": preset_name, "machine": machine_name or machine(),
            "tasks": {task: task_results(os.path.join(out, task), preset) for task, preset in presets.items()}}


def rewrite(run_dir, preset_name=None):
    """Recompute run_dir/results.json from the run's evaluation files and logs (after a change to this
    file), without retraining; the preset is the one its results.json names unless given."""
    from presets import PRESETS
    path = os.path.join(run_dir, "results.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    name = preset_name or old.get("preset")
    if name not in PRESETS:
        raise SystemExit(f"error: {path}: no preset to read the run with: pass --preset ({', '.join(PRESETS)})")
    tasks = list(old.get("tasks", {})) or [t for t in PRESETS[name] if os.path.isdir(os.path.join(run_dir, t))]
    # the run's machine, not this one: a rewrite recomputes numbers, it reruns nothing
    evaluate.save_json(path, collect(run_dir, name, {t: PRESETS[name][t] for t in tasks}, old.get("machine", "unknown")))
    return f"wrote {path}"
