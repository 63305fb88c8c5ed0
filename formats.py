"""
Which search is best to learn from, and how much data solution-only needs to catch up.

Meta-CoT proposes linearized MCTS or A* as the traces to learn from; Stream of Search used DFS and
BFS; Searchformer A* with its costs. Trained on the same mazes, with the same model and test set, the
formats differ in what they cost and what they buy:

- what a trace costs: its length (mean and p90 tokens), and the steps and training tokens its model
  needed to pass the learned gate, read from the learning curve (`time_to_gate`; the report turns
  steps into seconds with the stage's time, which results.json leaves out so that two runs match). A model that
  never passed shows where its curve says it would (`steps_to_gate`: a line through its last two
  validation points; an extrapolation, and labelled so);
- what it buys: greedy accuracy and pass@k per stratum, tokens per solved problem, how many states
  the model enters against its own teacher on the same problems, and the paired difference against
  the DFS model.

The data-size frontier asks the question a fair baseline needs: solution-only trained on more mazes
(each model trained to its plateau), at what multiple of the data does it reach the trace model?
Searchformer reports about 10x. `frontier` pairs every size with the trace model at the preset's
training size, problem by problem.

Plain functions over a run's results (results.py) and per-problem records (evaluate.py); the report
renders them with `format_lines` and `frontier_lines`.
"""
import math

import numpy as np

import budget
import evaluate
from presets import base_data

# the symbolic search each trace format imitates: its states entered are compared with the model's
TEACHER = {"dfs": "dfs", "bfs": "bfs", "astar": "astar", "astar_costs": "astar", "mcts": "mcts", "mcts_sim": "mcts"}


def _gate_at(r, data_rate):
    return evaluate.gate({"legal_step_rate": r.get("val_legal_step_rate"), "answer_rate": r.get("val_answer_rate") or 0.0},
                         data_rate)


def time_to_gate(curve, data_rate):
    """The first validation point at which the learned gate holds (answers, and clauses as legal as the
    data's, evaluate.gate): {step, trained_tokens}. None if no point passes."""
    for r in curve:
        if r.get("val_acc") is not None and _gate_at(r, data_rate)["passed"]:
            return {"step": r["step"], "trained_tokens": r.get("trained_tokens")}
    return None


def steps_to_gate(curve, data_rate):
    """For a model whose curve never passed: the step at which the line through its last two validation
    points reaches the gate's threshold (the weaker of answers and relative legal-step rate). None when
    that line is not rising, or the curve has fewer than two points."""
    points = [r for r in curve if r.get("val_acc") is not None]
    if len(points) < 2:
        return None

    def score(r):  # the weaker of the two numbers the gate requires
        g = _gate_at(r, data_rate)
        rel = g["relative_legal_step_rate"]
        return g["answer_rate"] if data_rate is None else min(g["answer_rate"], rel if rel is not None else 0.0)

    (s0, y0), (s1, y1) = [(r["step"], score(r)) for r in points[-2:]]
    if y1 >= evaluate.GATE:  # (passes at its last point: time_to_gate has it)
        return s1
    if y1 <= y0 or s1 <= s0:
        return None
    return int(math.ceil(round(s1 + (evaluate.GATE - y1) * (s1 - s0) / (y1 - y0), 6)))  # (0.80 -> 0.85 is not 4001)


def trace_tokens(rows):
    """Mean and p90 generated tokens of a training file's traces (its words and the end token)."""
    n = [len(r["trace"].split()) + 1 for r in rows]
    return {"mean": float(np.mean(n)), "p90": float(np.percentile(n, 90))} if n else None


def _mean(xs):
    return float(np.mean(xs)) if xs else None


def paired(ra, rb):
    """Two models' records of the same test problems, checked to be in the same order (they are
    compared problem by problem)."""
    if [r["problem"] for r in ra] != [r["problem"] for r in rb]:
        raise ValueError("the two evaluations are not of the same test problems in the same order")
    return ra, rb


def format_row(e, rows, dfs_rows, samples):
    """One trace model's column of the format table, from its results entry and per-problem records,
    and the DFS model's records (None for the DFS model itself)."""
    needs = [r for r in rows if evaluate.STRATA["needs_search"](r)]
    solved = [r for r in needs if r["greedy"]]
    teacher = TEACHER.get(base_data(e.get("data", e["format"])))
    row = {"data": e.get("data", e["format"]), "learned": e["gate"]["passed"], "trace_tokens": e.get("trace_tokens"),
           "to_gate": time_to_gate(e["curve"], e["gate"]["data_legal_step_rate"]),
           "steps_to_gate": steps_to_gate(e["curve"], e["gate"]["data_legal_step_rate"]),
           "trained_tokens": e.get("trained_tokens"), "steps": e["steps"],
           "greedy": {s: e["strata"][s]["greedy"] for s in ("needs_search", "direct", "all")},
           "pass_at_n": e["strata"]["needs_search"]["pass_at"].get(str(samples)),
           "legal_step_rate": e["gate"]["legal_step_rate"],
           "tokens_per_solved": budget.tokens_per_solved(needs),  # every token spent over the mazes solved
           "teacher": teacher,
           # on the needs-search mazes the model solved: the states it entered, and its teacher's
           "states": _mean([r["nodes"] for r in solved]),
           "teacher_states": _mean([r["sym_nodes"][teacher] for r in solved]) if teacher and solved and
           all(teacher in r.get("sym_nodes", {}) for r in solved) else None}
    if dfs_rows is not None:
        paired(rows, dfs_rows)
        row["vs_dfs"] = {s: evaluate.compare_rows([r for r in rows if f(r)], [r for r in dfs_rows if f(r)])
                         for s, f in evaluate.STRATA.items()}
    return row


def formats(models, rows, trace, samples):
    """The format table: every seed-0 trace model but the frontier's data-size copies (of solution-only
    and of the preset's trace model; another format on more data is a row of its own),
    the preset's trace model first; each against it. Empty when the run trains one format."""
    frontier_copy = lambda data: data.endswith(("_small", "_large")) and base_data(data) in ("solution", trace)
    names = [m for m, e in models.items() if e["kind"] == "trace" and m in rows and not e.get("seed", 0)
             and not frontier_copy(e.get("data", ""))]
    first = f"sft_{trace}"
    if len(names) < 2 or first not in names:
        return {}
    names = [first] + sorted(n for n in names if n != first)
    return {m: format_row(models[m], rows[m], None if m == first else rows[first], samples) for m in names}


def frontier(models, rows, trace):
    """The data-size frontier: solution-only and the trace model at each training size (seed 0; the
    data NAME, NAME_small, NAME_large), each size's trace-minus-solution pair, and each solution-only
    size against the trace model at the preset's size (needs search: does more data catch up?).
    Empty unless a kind was trained at more than one size."""
    def sizes(data):
        found = {}
        for m, e in models.items():
            if m in rows and not e.get("seed", 0) and e.get("data") in (data, f"{data}_small", f"{data}_large"):
                found[e["train_problems"]] = m
        return {str(n): found[n] for n in sorted(found)}  # (keys as results.json will hold them)
    sol, tr = sizes("solution"), sizes(trace)
    if max(len(sol), len(tr)) < 2:
        return {}
    point = lambda m: {"model": m, "learned": models[m]["gate"]["passed"], "train_flops": models[m].get("train_flops"),
                       "trained_tokens": models[m].get("trained_tokens"),
                       "needs_search": models[m]["strata"]["needs_search"]["greedy"],
                       "needs_search_ci": models[m]["strata"]["needs_search"]["greedy_ci"],
                       "all": models[m]["strata"]["all"]["greedy"]}
    needs = lambda m: [r for r in paired(rows[m], rows[f"sft_{trace}"] if f"sft_{trace}" in rows else rows[m])[0]
                       if evaluate.STRATA["needs_search"](r)]
    out = {"solution": {n: point(m) for n, m in sol.items()}, "trace": {n: point(m) for n, m in tr.items()},
           "same_size": {n: evaluate.compare_rows(needs(tr[n]), needs(sol[n])) for n in sol if n in tr},
           "reference": None, "catch_up": {}}
    ref = f"sft_{trace}"
    if ref in rows and models[ref].get("data") == trace:
        n_ref = models[ref]["train_problems"]
        out["reference"] = {"model": ref, "train_problems": n_ref}
        out["catch_up"] = {n: evaluate.compare_rows(needs(m), needs(ref)) | {"multiple": int(n) / n_ref} for n, m in sol.items()}
    return out


# ------------------------------------------------------------------------------------------------
# the report's tables

def _n(x, f="{:.3f}"):
    return "–" if x is None else f.format(x)


def _diff(c):
    return f"{c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]"


def format_lines(table, samples, stage_s=None):
    """The format table; stage_s {model: seconds of its training stage} (timings.json) turns the step at
    which the gate first held into seconds, at the stage's average pace."""
    if not table:
        return []
    stage_s = stage_s or {}
    out = ["| model | trace tokens: mean / p90 | gate first held at: step, trained tokens, ~stage seconds | steps | greedy: needs "
           f"search / direct | pass@{samples} needs search | legal-step rate | tokens per solved (needs search) | states "
           "entered / its teacher's | needs search − DFS |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m, r in table.items():
        t = r["trace_tokens"]
        g = r["to_gate"]
        if not g and r["learned"]:  # (passed on the test set and at its end, though no validation point showed it)
            gate = "learned, no validation point passed"
        elif g:
            secs = stage_s.get(m) and stage_s[m] * g["step"] / r["steps"]
            gate = f"{g['step']}, {_n(g['trained_tokens'] and g['trained_tokens'] / 1e6, '{:.2f}M')}, {_n(secs, '{:.0f} s')}"
        else:
            where = r["steps_to_gate"]
            gate = "**not learned**" + (f" (its last two points reach the gate at ~{where} steps)" if where else
                                         " (its curve is not rising toward the gate)")
        if g and not r["learned"]:
            gate += " **but not learned at the end**"
        teacher = "dfs, best first" if r["teacher"] == "dfs" else r["teacher"] or "–"  # (the symbolic searches run at their defaults)
        states = f"{_n(r['states'], '{:.1f}')} / {_n(r['teacher_states'], '{:.1f}')} ({teacher})"
        vs = _diff(r["vs_dfs"]["needs_search"]) if "vs_dfs" in r and r["learned"] and table[next(iter(table))]["learned"] else "–"
        out.append(f"| {m} | {_n(t and t['mean'], '{:.1f}')} / {_n(t and t['p90'], '{:.0f}')} | {gate} | {r['steps']} | "
                   f"{r['greedy']['needs_search']:.3f} / {r['greedy']['direct']:.3f} | {_n(r['pass_at_n'])} | "
                   f"{_n(r['legal_step_rate'])} | {_n(r['tokens_per_solved'], '{:.1f}')} | {states} | {vs} |")
    return out + ["", "A model not learned at the end is shown with its numbers but compared with nothing (–).", ""]


def frontier_lines(fr):
    if not fr:
        return []
    sizes = sorted(set(fr["solution"]) | set(fr["trace"]), key=int)
    ref = fr["reference"]
    out = ["| training problems | solution-only: needs search [CI] | trace model: needs search [CI] | trace − solution-only, "
           "same data | solution-only − " + (f"{ref['model']} ({ref['train_problems']:,} problems)" if ref else "–") +
           " | training FLOPs: solution-only / trace |", "|---|---|---|---|---|---|"]

    def cell(p):
        if p is None:
            return "–"
        s = f"{p['needs_search']:.3f} [{p['needs_search_ci'][0]:.2f}, {p['needs_search_ci'][1]:.2f}]"
        return s if p["learned"] else f"{s} **not learned**"
    for n in sizes:
        s, t = fr["solution"].get(n), fr["trace"].get(n)
        both = s and t and s["learned"] and t["learned"]
        same = _diff(fr["same_size"][n]) if n in fr["same_size"] and both else "–"
        up = fr["catch_up"].get(n)
        ref_ok = ref and fr["trace"].get(str(ref["train_problems"]), {}).get("learned")
        catch = f"{_diff(up)} ({up['multiple']:g}x the data)" if up and s and s["learned"] and ref_ok else "–"
        flops = f"{_n(s and s['train_flops'], '{:.1e}')} / {_n(t and t['train_flops'], '{:.1e}')}"
        out.append(f"| {int(n):,} | {cell(s)} | {cell(t)} | {same} | {catch} | {flops} |")
    return out + [""]
