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
import formats
import plots
from files import atomic_write
import results
from results import last  # noqa: F401 (reproduce.py reads report.last)
from summary import _num, _pair, summary


def _ci(mean, ci):
    return f"{mean:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _rate(x):
    return "–" if x is None else f"{x:.3f}"


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

    def comparison(self, a, b, stratum):
        """One paired comparison of results.json (None if the run has none or a model did not learn)."""
        found = [c for c in self.res.get("comparisons", []) if c["a"] == a and c["b"] == b and c["learned"]]
        return found[0]["strata"][stratum] if found else None

    def budgeted_runs(self):
        """The learned RL runs under a token budget that started from a learned model."""
        return [(m, e) for m, e in self.models.items() if e["kind"] == "rl" and "answer" in e and self.learned(m)
                and self.learned(e["init"])]

    def trace_model(self):
        """The learned full-data trace model of the lowest training seed (then the best validation
        accuracy, never the test set)."""
        cands = [m for m, e in self.models.items() if e["kind"] == "trace" and not m.endswith(("_small", "_large")) and self.learned(m)]
        return max(cands, key=lambda m: (-self.models[m].get("seed", 0), last(self.models[m]["curve"], "val_acc") or 0, m),
                   default=None)

    def partner(self, name, of):
        """`name`'s run with the training seed of the run `of` (results.partner)."""
        return results.partner(self.models, name, self.models[of].get("seed", 0))


# ------------------------------------------------------------------------------------------------
# tables

def _tokens(x):
    return "–" if x is None else f"{x / 1e6:.2f}M"


def _gate_cell(g):
    """The verdict, the rule it was judged by and its margin (results.gate_with_margin)."""
    if "margin" not in g:  # (a results.json from before the gate had a margin)
        return "passed" if g["passed"] else "**not learned**"
    margin = "" if g["margin"] is None else f", margin {g['margin']:+.3f}"
    rule = {"answers": "answers only", "legal steps": "legal steps, test and final validation"}.get(
        g["rule"], f"answers only: its data's clauses are {_rate(g['data_legal_step_rate'])} legal, no test of a search")
    return ("passed" if g["passed"] else "**not learned**") + f" ({rule}{margin})"


def gate_table(sec):
    out = ["| model | kind | trained on | steps | trained tokens (FLOPs) | answers emitted | legal-step rate: test / final validation "
           "| its data's | learned gate |", "|---|---|---|---|---|---|---|---|---|"]
    for m, e in sec.models.items():
        if "gate" not in e:
            continue
        g = e["gate"]
        final = g.get("final_validation", {}).get("legal_step_rate")
        trained = f"{e.get('train_problems', '–')} problems, {e['format']}" if e["kind"] != "rl" else f"RL from {e['init']}"
        flops = f" ({e['train_flops']:.1e})" if e.get("train_flops") else ""
        out.append(f"| {m} | {e['kind']} | {trained} | {e['steps']} | {_tokens(e.get('trained_tokens'))}{flops} | "
                   f"{g['answer_rate']:.3f} | {_rate(g['legal_step_rate'])} / {_rate(final)} | "
                   f"{_rate(g['data_legal_step_rate'])} | {_gate_cell(g)} |")
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
    """The paired comparisons that carry the conclusions (results.comparisons), per stratum, with
    each model's trained tokens: equal data (solution-only), equal tokens (solution-only trained to
    the trace model's tokens, the two controls), and the data-size sweep."""
    out = ["| A vs B (greedy, paired) | trained tokens A / B | all | needs search | direct |", "|---|---|---|---|---|"]
    for c in sec.res.get("comparisons", []):
        a, b = c["a"], c["b"]
        tokens = f"{_tokens(sec.models[a].get('trained_tokens'))} / {_tokens(sec.models[b].get('trained_tokens'))}"
        if not c["learned"]:
            out.append(f"| {a} vs {b} | {tokens} | not compared: {' and '.join(m for m in (a, b) if not sec.learned(m))} "
                       "not learned | | |")
            continue
        out.append(f"| {a} vs {b} | {tokens} | " + " | ".join(_pair(c["strata"][s]) for s in evaluate.STRATA) + " |")
    return out + [""]


def seed_table(sec):
    """Each model with training-seed copies: its seeds' greedy accuracy, mean ± sd; then the headline
    pairs' mean differences with a CI over seeds and problems (results.seed_table)."""
    seeds = sec.res.get("seeds") or {}
    if not seeds.get("models"):
        return []
    out = ["| model | trained tokens | seeds passing the gate | needs search: per seed | mean ± sd | direct: mean ± sd |",
           "|---|---|---|---|---|---|"]
    for m, t in seeds["models"].items():
        ns, d = t["strata"]["needs_search"], t["strata"]["direct"]
        tokens = _tokens(t["trained_tokens"])  # an RL run's: its start's, then its own update's
        if t.get("init_tokens") is not None and t["trained_tokens"] is not None:
            tokens = f"{_tokens(t['init_tokens'])} + {tokens} RL"
        out.append(f"| {m} | {tokens} | {sum(t['passed'])} of {len(t['passed'])} | "
                   + ", ".join(f"{x:.3f}" for x in ns["per_seed"]) + f" | {ns['mean']:.3f} ± {ns['sd']:.3f} | "
                   f"{d['mean']:.3f} ± {d['sd']:.3f} |")
    out += ["", "| A − B, mean over seeds (seed s with seed s) | metric | seeds (left out: a model not learned) | all | "
            "needs search | direct |", "|---|---|---|---|---|---|"]
    for p in seeds["pairs"]:
        cell = lambda x: f"{x['diff']:+.3f} [{x['ci95'][0]:+.3f}, {x['ci95'][1]:+.3f}]"
        used = ", ".join(map(str, p["seeds"])) + (f" (left out: {', '.join(map(str, p['left_out']))})" if p["left_out"] else "")
        cells = [cell(p["strata"][s]) for s in evaluate.STRATA] if p["seeds"] else ["not compared"] * 3
        out.append(f"| {p['a']} − {p['b']} | {p['metric']} | {used or 'none'} | " + " | ".join(cells) + " |")
    return out + ["", "(95% CIs resample the training seeds of each model and the test problems.)", ""]


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
        if "vs_init" not in e:
            continue
        if not (sec.learned(m) and sec.learned(e["init"])):
            out.append(f"| {m} | {e['init']} | not compared: {' and '.join(x for x in (m, e['init']) if not sec.learned(x))} "
                       "not learned | | | | |")
            continue
        c1, ck = e["vs_init"]["pass@1"]["all"], e["vs_init"][f"pass@{n}"]["all"]
        out.append(f"| {m} | {e['init']} | {c1['acc_b']:.3f} → {c1['acc_a']:.3f} | {ck['acc_b']:.3f} → {ck['acc_a']:.3f} | "
                   f"{ck['only_a']} | {ck['only_b']} | {ck['diff']:+.3f} [{ck['ci95'][0]:+.3f}, {ck['ci95'][1]:+.3f}] |")
    return out + [""]


def rl_budget_table(sec, stratum="needs_search"):
    """RL under a token budget, before (its supervised start) and after, on one stratum."""
    out = []
    for m, e in sec.budgeted_runs():
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
        if a.get("ceilings"):
            c = a["ceilings"]
            out += [f"The ceilings of this format: a model that writes the search but never backs up (depth-first "
                    f"straight along a shortest path, then the answer) would solve {_rate(c['within'])} within B, "
                    f"{_rate(c['up'])} up (its walk fits and no rival solves the problem) and spend "
                    f"{_pct(c['left_unbounded'])} tokens per solved problem unbounded against {e['init']}.", ""]
    return out


def _pct(x):
    return "–" if x is None else f"{100 * x:+.1f} %"


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


# ------------------------------------------------------------------------------------------------
# the summary


def _stage_seconds(sec):
    """{model: seconds its stage took} from the run's timings.json (empty without one)."""
    path = os.path.join(sec.run_dir, "timings.json")
    stages = json.load(open(path)).get("stages", {}) if os.path.exists(path) else {}
    return {k.split("/", 1)[1]: v for k, v in stages.items() if k.startswith(f"{sec.task}/")}


def section(sec):
    res = sec.res
    lines = [f"## {sec.task}", "",
             f"Test set: {res['test_problems']['needs_search']} held-out problems that need search and "
             f"{res['test_problems']['direct']} that a greedy walk solves; pass@k from n = {sec.n} samples at "
             "temperature 1; 95% bootstrap CIs over problems.", "", "**The learned gate**", ""]
    lines += gate_table(sec) + ["**Accuracy per stratum** (greedy; models that failed the gate are not shown)", ""]
    lines += strata_table(sec) + second_test_table(sec) + ["**Paired comparisons**", ""] + comparisons(sec)
    seeds = seed_table(sec)
    if seeds:
        lines += ["**Training seeds** (greedy accuracy on the same test problems)", ""] + seeds
    if res.get("formats"):
        lines += ["**Which search to learn from** (every trace format on the same mazes, model and test set; paired "
                  "against the DFS model)", ""] + formats.format_lines(res["formats"], sec.n, _stage_seconds(sec))
    if res.get("frontier"):
        lines += ["**The data-size frontier** (greedy accuracy on the needs-search test mazes; each model trained to its "
                  "plateau; paired differences with 95% CIs)", ""] + formats.frontier_lines(res["frontier"])
    budgets = budget_table(sec)
    if budgets:
        lines += ["**Accuracy within a budget of generated tokens** (needs search; an output that has not ended "
                  "within B tokens is wrong)", ""] + budgets
    if any(e["kind"] == "rl" for e in sec.models.values()):
        lines += ["**RL: before and after** (boundary = solved by at least one of the n samples)", ""] + rl_table(sec)
    lines += rl_budget_table(sec) + size_table(sec) + plots.all_figures(sec) + summary(sec)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------

def _diff_row(p):
    return f"{p['b']:.3f} | {p['a']:.3f} | {p['diff']:+.3f} [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]"


def _left_row(x):
    change = "–" if x["change"] is None else f"{100 * x['change']:+.1f} % [{100 * x['ci'][0]:+.1f}, {100 * x['ci'][1]:+.1f}]"
    return f"{_num(x['b'])} | {_num(x['a'])} | {change}"


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
    p.add_argument("--recompute", action="store_true",
                   help="first rewrite results.json from the run's evaluation files and logs (after a change to results.py)")
    p.add_argument("--preset", default=None, help="with --recompute: the preset the run used (default: its results.json's)")
    args = p.parse_args(argv)
    if args.recompute:
        print(results.rewrite(args.run_dir, args.preset))
    if not os.path.exists(os.path.join(args.run_dir, "results.json")):
        raise SystemExit(f"error: {args.run_dir}/results.json does not exist: run reproduce.py first")
    print(write_report(args.run_dir))


if __name__ == "__main__":
    main()
