"""
The report: what a run found, written from its numbers alone.

    python report.py runs/cpu          # (re)writes runs/cpu/report.md and its figures

It reads `results.json` (written by reproduce.py) and the per-model evaluation files in
`TASK/eval/`, and nothing else: the tables, the figures and the sentences of the summary are all
computed here from those numbers, so regenerating a report gives the same text byte for byte.

A model that did not pass the learned gate (evaluate.py: it must emit answers and write its trace
language as legally as its training data) appears as "not learned", and no sentence of the summary
draws a conclusion from it. Comparisons are paired (the same test problems), with bootstrap CIs;
"needs search" and "direct" are the two strata of the test set. One function per section; the
figures are plots.py's.
"""
import argparse
import json
import os
from dataclasses import dataclass, field

import evaluate
import plots
from files import atomic_write


def last(rows, key):
    """The last value of `key` in a log (None if it never appears)."""
    vals = [r[key] for r in rows if r.get(key) is not None]
    return vals[-1] if vals else None


def _ci(mean, ci):
    return f"{mean:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _rate(x):
    return "–" if x is None else f"{x:.3f}"


def _verdict(c, better, worse):
    lo, hi = c["ci95"]
    return better if lo > 0 else worse if hi < 0 else "no significant difference"


def _pair(c):
    return f"{c['acc_a']:.3f} vs {c['acc_b']:.3f}, {c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]"


@dataclass
class Section:
    """One task's results and the per-problem records of its evaluations: what every table,
    sentence and figure of its section is computed from."""
    run_dir: str
    task: str
    res: dict
    rows: dict = field(default_factory=dict)  # model -> per-problem records of its test evaluation

    def __post_init__(self):
        for m in self.models:
            path = os.path.join(self.run_dir, self.task, "eval", f"{m}.json")
            if os.path.exists(path):
                self.rows[m] = json.load(open(path))["per_problem"]

    @property
    def models(self):
        return self.res["models"]

    @property
    def n(self):
        return self.res["samples"]

    def learned(self, m):
        return m in self.rows and self.models[m]["gate"]["passed"]

    def stratum(self, m, name):
        return [r for r in self.rows[m] if evaluate.STRATA[name](r)]

    def paired(self, a, b, name="all", k=None):
        return evaluate.compare_rows(self.stratum(a, name), self.stratum(b, name), k)

    def trace_model(self):
        """The best learned full-data trace model (by validation accuracy, never the test set)."""
        cands = [m for m, e in self.models.items() if e["kind"] == "trace" and not m.endswith("_small") and self.learned(m)]
        return max(cands, key=lambda m: (last(self.models[m]["curve"], "val_acc") or 0, m), default=None)


# ------------------------------------------------------------------------------------------------
# tables

def gate_table(sec):
    out = ["| model | kind | trained on | steps | answers emitted | legal-step rate | its data's legal-step rate | learned gate |",
           "|---|---|---|---|---|---|---|---|"]
    for m, e in sec.models.items():
        if "gate" not in e:
            continue
        g = e["gate"]
        verdict = "passed" if g["passed"] else f"**not learned** (legal-step rate {_rate(g['legal_step_rate'])}, answers {g['answer_rate']:.2f})"
        trained = f"{e.get('train_problems', '–')} problems, {e['format']}" if e["kind"] != "rl" else f"RL from {e['init']}"
        out.append(f"| {m} | {e['kind']} | {trained} | {e['steps']} | {g['answer_rate']:.3f} | {_rate(g['legal_step_rate'])} "
                   f"| {_rate(g['data_legal_step_rate'])} | {verdict} |")
    return out + [""]


def strata_table(sec):
    n, ks = sec.n, list(dict.fromkeys(str(k) for k in (1, sec.n) if k <= sec.n))
    head = " | ".join(f"{s} greedy" for s in evaluate.STRATA) + " | " + " | ".join(f"pass@{k} (all)" for k in ks)
    out = [f"| model | {head} | pass@{n} (needs search) | tokens (greedy) |", "|---" * (6 + len(ks)) + "|"]
    for m, e in sec.models.items():
        if "strata" not in e:
            continue
        st = e["strata"]
        if not e["gate"]["passed"]:
            out.append(f"| {m} | not learned (legal-step rate {_rate(e['gate']['legal_step_rate'])}) |" + " – |" * (4 + len(ks)))
            continue
        cells = [_ci(st[s]["greedy"], st[s]["greedy_ci"]) for s in evaluate.STRATA]
        cells += [f"{st['all']['pass_at'].get(k, float('nan')):.3f}" for k in ks]
        cells += [f"{st['needs_search']['pass_at'].get(str(n), float('nan')):.3f}", f"{st['all']['tokens']:.1f}"]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    for algo, points in sec.res["symbolic"].items():
        full = points[-1]
        budget = "unbounded" if full["budget"] is None else f"node budget {full['budget']}"
        out.append(f"| symbolic {algo} ({budget}) | {full['acc']:.3f} | – | – |" + " – |" * len(ks) + f" – | {full['tokens']:.1f} |")
    return out + [""]


def budget_table(sec):
    """Needs-search accuracy within each token budget: every learned model greedily (solution-only
    also with the best of B tokens of samples), every symbolic search."""
    budgets = sec.res.get("token_budgets")
    if not budgets:
        return []
    out = ["| needs search, within B tokens | " + " | ".join(f"B = {b}" for b in budgets) + " |",
           "|---" * (len(budgets) + 1) + "|"]
    for m, e in sec.models.items():
        if "budgets" not in e or not sec.learned(m):
            continue
        cell = lambda b, what: e["budgets"][str(b)]["needs_search"][what]
        out.append(f"| {m} (greedy) | " + " | ".join(_ci(cell(b, "greedy")["mean"], cell(b, "greedy")["ci"]) for b in budgets) + " |")
        if e["kind"] == "solution" and "best_of_tokens" in e["budgets"][str(budgets[0])]["needs_search"]:
            out.append(f"| {m} (best of B tokens of samples) | "
                       + " | ".join(f"{cell(b, 'best_of_tokens')['mean']:.3f}" for b in budgets) + " |")
    sym = sec.res.get("symbolic_budgets", {})
    for algo in sym.get(str(budgets[0]), {}).get("needs_search", {}):
        name = "any symbolic search" if algo == "any" else f"symbolic {algo}"
        out.append(f"| {name} | " + " | ".join(f"{sym[str(b)]['needs_search'][algo]:.3f}" for b in budgets) + " |")
    return out + [""]


def second_test_table(sec):
    """Greedy accuracy on a second held-out split (Countdown: SoS's held-out targets)."""
    rows = [(m, e["second_test"]) for m, e in sec.models.items() if "second_test" in e]
    if not rows:
        return []
    out = [f"**Second held-out split: `{rows[0][1]['split']}`** ({rows[0][1]['n']} problems, greedy)", "",
           "| model | greedy |", "|---|---|"]
    for m, t in rows:
        out.append(f"| {m} | " + (_ci(t["greedy"], t["greedy_ci"]) if sec.learned(m) else "not learned") + " |")
    return out + [""]


def comparisons(sec):
    """Paired comparisons that carry the conclusions, per stratum: trace vs solution-only and vs its
    controls, and the data-size sweep."""
    t, pairs = sec.trace_model(), []
    if t:
        pairs += [(t, "sft_solution"), (t, "sft_shuffled"), (t, "sft_swapped")]
        if f"{t}_small" in sec.models:
            pairs.append((f"{t}_small", "sft_solution_small"))
    out = ["| A vs B (greedy, paired) | all | needs search | direct |", "|---|---|---|---|"]
    for a, b in pairs:
        if a not in sec.rows or b not in sec.rows:
            continue
        if not (sec.learned(a) and sec.learned(b)):
            out.append(f"| {a} vs {b} | not compared: {' and '.join(m for m in (a, b) if not sec.learned(m))} not learned | | |")
            continue
        out.append(f"| {a} vs {b} | " + " | ".join(_pair(sec.paired(a, b, s)) for s in evaluate.STRATA) + " |")
    return out + [""]


def rl_table(sec):
    n = sec.n
    out = [f"| RL run | from | pass@1 before → after | pass@{n} before → after | solved at k = {n} only after RL | only before | pass@{n} difference [95% CI] |",
           "|---|---|---|---|---|---|---|"]
    for m, e in sec.models.items():
        if e["kind"] != "rl":
            continue
        if "skipped" in e:
            out.append(f"| {m} | {e['init']} | skipped: validation greedy accuracy {e['skipped']['val_acc']} is outside "
                       f"{e['skipped']['range']} | | | | |")
            continue
        if m not in sec.rows or e["init"] not in sec.rows:
            continue
        c1, ck = sec.paired(m, e["init"], k=1), sec.paired(m, e["init"], k=n)
        out.append(f"| {m} | {e['init']} | {c1['acc_b']:.3f} → {c1['acc_a']:.3f} | {ck['acc_b']:.3f} → {ck['acc_a']:.3f} | "
                   f"{ck['only_a']} | {ck['only_b']} | {ck['diff']:+.3f} [{ck['ci95'][0]:+.3f}, {ck['ci95'][1]:+.3f}] |")
    return out + [""]


def _budgeted_runs(sec):
    return [(m, e) for m, e in sec.models.items() if e["kind"] == "rl" and "answer" in e and sec.learned(m)
            and sec.learned(e["init"])]


def rl_budget_table(sec, stratum="needs_search"):
    """RL under a token budget, before (its supervised start) and after, on one stratum."""
    out = []
    for m, e in _budgeted_runs(sec):
        a, b = e["answer"][stratum], e["answer"]["budget"]
        up, ss = a["up"], a["still_searching"]
        out += [f"**{m}** (from {e['init']}, reward 1 for a verified answer within B = {b} tokens), "
                f"{stratum.replace('_', ' ')} ({len(sec.stratum(m, stratum))} problems):", "",
                "| | before RL | after RL | difference [95% CI] |", "|---|---|---|---|",
                f"| greedy within B = {b} | {_diff_row(a['within'])} |",
                f"| greedy, unbounded | {_diff_row(a['unbounded'])} |",
                f"| pass@{e['answer']['k']} within B | {_diff_row(a['pass_within'])} |",
                f"| tokens per solved problem within B | {_left_row(a['left_within'])} |",
                f"| tokens per solved problem, unbounded | {_left_row(a['left_unbounded'])} |",
                f"| legal-step rate (greedy, unbounded) | {_rate(ss['start']['legal_step_rate'])} | {_rate(ss['rl']['legal_step_rate'])} | |",
                f"| backtracks per problem | {ss['start']['backtracks']:.2f} | {ss['rl']['backtracks']:.2f} | |",
                f"| states entered per solved problem (DFS on the same: {_num(ss['rl']['teacher_states'])}) | "
                f"{_num(ss['start']['states'])} | {_num(ss['rl']['states'])} | |", ""]
        if up:
            out += [f"Up: problems solved greedily within B by {m} and by none of: {e['init']} with {up['k']} samples of "
                    f"B tokens (it solves {up['start_solved']}), any symbolic search within B ({up['symbolic_solved']}), "
                    f"solution-only sampling within B tokens ({up['solution_solved']}): **{up['count']} of {up['n']}**, "
                    f"{_ci(up['share']['mean'], up['share']['ci'])}. Teacher (symbolic DFS) tokens per solved problem: "
                    f"{_num(a['teacher_tokens_per_solved']['within'])} within B, {_num(a['teacher_tokens_per_solved']['unbounded'])} unbounded.", ""]
    return out


def rl_verdict(e, stratum="needs_search"):
    """"left", "up", "both", "dropped the search" or "no change", from the CIs (rules in the README)."""
    a = e["answer"][stratum]
    ss, lw, lu = a["still_searching"], a["left_within"], a["left_unbounded"]
    not_worse = a["within"]["ci"][1] >= 0
    left = not_worse and any(x["ci"] is not None and x["ci"][1] < 0 for x in (lw, lu))
    up = a["up"] is not None and a["up"]["share"]["ci"][0] > 0
    dropped = ss["start"]["backtracks"] >= 0.5 and ss["rl"]["backtracks"] < 0.1 * ss["start"]["backtracks"]
    way = "both" if left and up else "left" if left else "up" if up else "no change"
    return f"dropped the search ({way})" if dropped else way


def size_table(sec):
    """Greedy accuracy per maze side: needs search / direct (legal-step rate), every model."""
    sc = sec.res.get("size_curve")
    if not sc:
        return []
    trained = set(sc["trained_sides"])
    head = " | ".join(f"{s}x{s}{' (trained)' if s in trained else ''}" for s in sc["sides"])
    out = [f"**Maze size** ({sc['per_stratum']} held-out mazes per stratum and side; each cell: greedy accuracy on "
           "needs search / direct (legal-step rate, all))", "", f"| model | {head} |", "|---" * (1 + len(sc["sides"])) + "|"]
    for m, e in sec.models.items():
        if "sizes" not in e:
            continue
        if not sec.learned(m):
            out.append(f"| {m} | not learned |" + " – |" * (len(sc["sides"]) - 1))
            continue
        cells = [f"{p['needs_search']['greedy']:.2f} / {p['direct']['greedy']:.2f} ({_rate(p['all']['legal_step_rate'])})"
                 for p in (e["sizes"][str(s)] for s in sc["sides"])]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return out + [""]


def size_summary(sec, t):
    """The size targets of issue 20, for the trace model t: inside the trained sides, and two cells larger."""
    sc = sec.res.get("size_curve")
    if not sc or t is None or "sizes" not in sec.models[t]:
        return []
    e, trained = sec.models[t], sc["trained_sides"]
    inside = [e["sizes"][str(s)]["all"] for s in trained if str(s) in e["sizes"]]
    worst, legal = min(p["greedy"] for p in inside), min(p["legal_step_rate"] or 0 for p in inside)
    out = [f"- {t} on the trained sides {min(trained)}..{max(trained)}: greedy at least {worst:.3f}, legal-step rate at "
           f"least {legal:.3f} (targets 0.90 and 0.95: {'met' if worst >= 0.9 and legal >= 0.95 else 'missed'})."]
    far = str(max(trained) + 2)
    if far in e["sizes"]:
        p, vs = e["sizes"][far], e.get("sizes_vs_solution", {}).get(far)
        line = f"- {t} on {far}x{far} mazes, two cells larger per side than any trained: greedy {p['all']['greedy']:.3f}"
        if vs and sec.learned("sft_solution"):
            line += (f"; against solution-only on needs search {vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}]"
                     f" (targets 0.50 and +0.20: {'met' if p['all']['greedy'] >= 0.5 and vs['diff'] >= 0.2 else 'missed'})")
        out.append(line + ".")
    return out


# ------------------------------------------------------------------------------------------------
# the summary

def summary(sec):
    out = [f"**What this {sec.task} run shows.**"]
    unlearned = [m for m, e in sec.models.items() if "gate" in e and not e["gate"]["passed"]]
    if unlearned:
        out.append(f"- Not learned (no conclusions drawn from them): {', '.join(unlearned)}.")
    t = sec.trace_model()
    if t is None:
        out.append("- No full-data trace model passed the learned gate, so this run cannot compare trace "
                   "training with anything.")
    else:
        if sec.learned("sft_solution"):
            for s in evaluate.STRATA:
                c = sec.paired(t, "sft_solution", s)
                out.append(f"- {t} vs solution-only, {s.replace('_', ' ')} (greedy, n = {c['n']}): {_pair(c)}: "
                           f"{_verdict(c, 'the trace model is better', 'solution-only is better')}.")
        for control in ("sft_shuffled", "sft_swapped"):
            if control in sec.rows and sec.learned(control):
                c = sec.paired(t, control, "needs_search")
                out.append(f"- {t} vs the {control[4:]}-trace control, needs search: {_pair(c)}: "
                           f"{_verdict(c, 'the search in the trace matters, not only its tokens', 'the control did better')}.")
        small = f"{t}_small"
        if sec.learned(small) and sec.learned("sft_solution_small"):
            c = sec.paired(small, "sft_solution_small", "all")
            out.append(f"- With {sec.models[small]['train_problems']} training problems: {small} vs sft_solution_small "
                       f"{_pair(c)}: {_verdict(c, 'traces win with less data', 'solution-only wins with less data')}.")
        out += size_summary(sec, t)
    for m, e in sec.models.items():
        if e["kind"] != "rl" or "answer" in e or m not in sec.rows or e["init"] not in sec.rows or not sec.learned(e["init"]):
            continue
        c1, ck = sec.paired(m, e["init"], k=1), sec.paired(m, e["init"], k=sec.n)
        way = ("up: RL solves problems the SFT model never did" if ck["ci95"][0] > 0 else
               "narrower at large k" if ck["ci95"][1] < 0 else f"unchanged at k = {sec.n}")
        out.append(f"- {m} vs {e['init']}: pass@1 {c1['acc_b']:.3f} → {c1['acc_a']:.3f} "
                   f"({_verdict(c1, 'improved', 'worse')}); pass@{sec.n} {ck['acc_b']:.3f} → {ck['acc_a']:.3f}, "
                   f"the boundary is {way} (only after RL {ck['only_a']}, only before {ck['only_b']}).")
    for m, e in _budgeted_runs(sec):
        a, b = e["answer"]["needs_search"], e["answer"]["budget"]
        lw, up = a["left_within"], a["up"]
        out.append(f"- {m}, RL from {e['init']} under a budget of {b} tokens, needs search: **{rl_verdict(e)}**. Within "
                   f"B: {a['within']['b']:.3f} → {a['within']['a']:.3f} ({_verdict(_as_compare(a['within']), 'better', 'worse')}); "
                   f"unbounded: {a['unbounded']['b']:.3f} → {a['unbounded']['a']:.3f} "
                   f"({_verdict(_as_compare(a['unbounded']), 'better', 'worse')}); tokens per solved problem within B "
                   f"{_num(lw['b'])} → {_num(lw['a'])}" + (f" ({100 * lw['change']:+.0f} %)" if lw['change'] is not None else "")
                   + (f"; solved by it alone within B: {up['count']} of {up['n']}" if up else "") + ".")
    out.append(f"\n**What it does not show.** One seed, {sec.res['test_problems']['needs_search']} + "
               f"{sec.res['test_problems']['direct']} test problems and small models trained for minutes: "
               "differences inside the CIs are noise, and nothing here speaks for larger scales.\n")
    return out


def section(sec):
    res = sec.res
    lines = [f"## {sec.task}", "",
             f"Test set: {res['test_problems']['needs_search']} held-out problems that need search and "
             f"{res['test_problems']['direct']} that a greedy walk solves; pass@k from n = {sec.n} samples at "
             "temperature 1; 95% bootstrap CIs over problems.", "", "**The learned gate**", ""]
    lines += gate_table(sec) + ["**Accuracy per stratum** (greedy; models that failed the gate are not shown)", ""]
    lines += strata_table(sec) + second_test_table(sec) + ["**Paired comparisons**", ""] + comparisons(sec)
    budgets = budget_table(sec)
    if budgets:
        lines += ["**Accuracy within a budget of generated tokens** (needs search; an output that has not ended "
                  "within B tokens is wrong)", ""] + budgets
    if any(e["kind"] == "rl" for e in sec.models.values()):
        lines += ["**RL: before and after** (boundary = solved by at least one of the n samples)", ""] + rl_table(sec)
    lines += rl_budget_table(sec) + size_table(sec) + plots.all_figures(sec) + summary(sec)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------

def _as_compare(p):
    return {"ci95": p["ci"]}


def _diff_row(p):
    return f"{p['b']:.3f} | {p['a']:.3f} | {p['diff']:+.3f} [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]"


def _left_row(x):
    change = "–" if x["change"] is None else f"{100 * x['change']:+.1f} % [{100 * x['ci'][0]:+.1f}, {100 * x['ci'][1]:+.1f}]"
    return f"{_num(x['b'])} | {_num(x['a'])} | {change}"


def _num(x):
    return "–" if x is None else f"{x:.1f}"


def _timing(run_dir, results):
    path = os.path.join(run_dir, "timings.json")
    if not os.path.exists(path):
        return f", on {results['machine']}"
    t = json.load(open(path))
    if "stage_s" not in t:  # (a run from before stages ran side by side: its wall time was their sum)
        return f". Pipeline time: {t['wall_s']:.0f} s of stages on {results['machine']} (timings.json)"
    return (f". Pipeline time: {t['wall_s']:.0f} s of wall time, {t['stage_s']:.0f} s of stages, {t['jobs']} at a time, "
            f"on {results['machine']} (timings.json)")


def write_report(run_dir):
    results = json.load(open(os.path.join(run_dir, "results.json")))
    parts = ["# nanosearch report", "",
             f"Preset `{results['preset']}`, written by `python report.py {run_dir}` from `results.json` and the "
             f"evaluation files{_timing(run_dir, results)}.", ""]
    for task, res in results["tasks"].items():
        parts.append(section(Section(run_dir, task, res)))
    path = os.path.join(run_dir, "report.md")
    with atomic_write(path) as f:
        f.write("\n".join(parts))
    return f"wrote {path}"


def main(argv=None):
    p = argparse.ArgumentParser(description="(Re)write RUN_DIR/report.md and its figures from RUN_DIR/results.json.")
    p.add_argument("run_dir", help="a folder written by reproduce.py (e.g. runs/cpu)")
    args = p.parse_args(argv)
    if not os.path.exists(os.path.join(args.run_dir, "results.json")):
        raise SystemExit(f"error: {args.run_dir}/results.json does not exist: run reproduce.py first")
    print(write_report(args.run_dir))


if __name__ == "__main__":
    main()
