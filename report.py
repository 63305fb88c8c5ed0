"""
The report: what a run found, written from its numbers alone.

    python report.py runs/cpu          # (re)writes runs/cpu/report.md and its figures

It reads `results.json` (written by reproduce.py) and the per-model evaluation files in
`TASK/eval/`, and nothing else: the tables, the figures and the sentences of the summary are all
computed here from those numbers, so regenerating a report gives the same text byte for byte.

A model that did not pass the learned gate (evaluate.py: it must emit answers and write its trace
language as legally as its training data) appears as "not learned", and no sentence of the summary
draws a conclusion from it. Comparisons are paired (the same test problems), with bootstrap CIs;
"needs search" and "direct" are the two strata of the test set.
"""
import argparse
import json
import os
import statistics

import evaluate
from files import atomic_write, publish, save_figure
from tasks import get_task


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


class TaskReport:
    """One task's section: tables, figures and sentences."""

    def __init__(self, run_dir, task, res):
        self.run_dir, self.task, self.res = run_dir, task, res
        self.models, self.n = res["models"], res["samples"]
        self.rows = {}
        for m in self.models:
            path = os.path.join(run_dir, task, "eval", f"{m}.json")
            if os.path.exists(path):
                self.rows[m] = json.load(open(path))["per_problem"]

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

    # --- tables ---------------------------------------------------------------------------------
    def gate_table(self):
        out = ["| model | kind | trained on | steps | answers emitted | legal-step rate | its data's legal-step rate | learned gate |",
               "|---|---|---|---|---|---|---|---|"]
        for m, e in self.models.items():
            if "gate" not in e:
                continue
            g = e["gate"]
            verdict = "passed" if g["passed"] else f"**not learned** (legal-step rate {_rate(g['legal_step_rate'])}, answers {g['answer_rate']:.2f})"
            trained = f"{e.get('train_problems', '–')} problems, {e['format']}" if e["kind"] != "rl" else f"RL from {e['init']}"
            out.append(f"| {m} | {e['kind']} | {trained} | {e['steps']} | {g['answer_rate']:.3f} | {_rate(g['legal_step_rate'])} "
                       f"| {_rate(g['data_legal_step_rate'])} | {verdict} |")
        return out + [""]

    def strata_table(self):
        ks = [str(k) for k in (1, self.n) if k <= self.n]
        head = " | ".join(f"{s} greedy" for s in evaluate.STRATA) + " | " + " | ".join(f"pass@{k} (all)" for k in dict.fromkeys(ks))
        out = [f"| model | {head} | pass@{self.n} (needs search) | tokens (greedy) |", "|---" * (6 + len(set(ks))) + "|"]
        for m, e in self.models.items():
            if "strata" not in e:
                continue
            st = e["strata"]
            if not e["gate"]["passed"]:
                out.append(f"| {m} | not learned (legal-step rate {_rate(e['gate']['legal_step_rate'])}) |"
                           + " – |" * (4 + len(set(ks))))
                continue
            cells = [_ci(st[s]["greedy"], st[s]["greedy_ci"]) for s in evaluate.STRATA]
            cells += [f"{st['all']['pass_at'].get(k, float('nan')):.3f}" for k in dict.fromkeys(ks)]
            cells += [f"{st['needs_search']['pass_at'].get(str(self.n), float('nan')):.3f}", f"{st['all']['tokens']:.1f}"]
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        for algo, points in self.res["symbolic"].items():
            full = points[-1]
            budget = "unbounded" if full["budget"] is None else f"node budget {full['budget']}"
            out.append(f"| symbolic {algo} ({budget}) | {full['acc']:.3f} | – | – |" + " – |" * len(set(ks)) + f" – | {full['tokens']:.1f} |")
        return out + [""]

    def second_test_table(self):
        """Greedy accuracy on a second held-out split (Countdown: SoS's held-out targets)."""
        rows = [(m, e["second_test"]) for m, e in self.models.items() if "second_test" in e]
        if not rows:
            return []
        out = [f"**Second held-out split: `{rows[0][1]['split']}`** ({rows[0][1]['n']} problems, greedy)", "",
               "| model | greedy |", "|---|---|"]
        for m, t in rows:
            out.append(f"| {m} | " + (_ci(t["greedy"], t["greedy_ci"]) if self.learned(m) else "not learned") + " |")
        return out + [""]

    def comparisons(self):
        """Paired comparisons that carry the conclusions, per stratum: trace vs solution-only and
        vs its controls, and the data-size sweep."""
        t = self.trace_model()
        pairs = []
        if t:
            pairs += [(t, "sft_solution"), (t, "sft_shuffled"), (t, "sft_swapped")]
            small = f"{t}_small"
            if small in self.models:
                pairs.append((small, "sft_solution_small"))
        out = ["| A vs B (greedy, paired) | all | needs search | direct |", "|---|---|---|---|"]
        for a, b in pairs:
            if a not in self.rows or b not in self.rows:
                continue
            if not (self.learned(a) and self.learned(b)):
                out.append(f"| {a} vs {b} | not compared: {' and '.join(m for m in (a, b) if not self.learned(m))} not learned | | |")
                continue
            out.append(f"| {a} vs {b} | " + " | ".join(_pair(self.paired(a, b, s)) for s in evaluate.STRATA) + " |")
        return out + [""]

    def rl_table(self):
        out = [f"| RL run | from | pass@1 before → after | pass@{self.n} before → after | solved at k = {self.n} only after RL | only before | pass@{self.n} difference [95% CI] |",
               "|---|---|---|---|---|---|---|"]
        for m, e in self.models.items():
            if e["kind"] != "rl":
                continue
            if "skipped" in e:
                out.append(f"| {m} | {e['init']} | skipped: validation greedy accuracy {e['skipped']['val_acc']} is outside "
                           f"{e['skipped']['range']} | | | | |")
                continue
            if m not in self.rows or e["init"] not in self.rows:
                continue
            c1, ck = self.paired(m, e["init"], k=1), self.paired(m, e["init"], k=self.n)
            out.append(f"| {m} | {e['init']} | {c1['acc_b']:.3f} → {c1['acc_a']:.3f} | {ck['acc_b']:.3f} → {ck['acc_a']:.3f} | "
                       f"{ck['only_a']} | {ck['only_b']} | {ck['diff']:+.3f} [{ck['ci95'][0]:+.3f}, {ck['ci95'][1]:+.3f}] |")
        return out + [""]

    # --- figures --------------------------------------------------------------------------------
    def figures(self):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        name = lambda kind: os.path.join(self.run_dir, f"{self.task}_{kind}.png")
        # learning curves: held-out (validation) accuracy and legal-step rate vs training tokens
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for k, (m, e) in enumerate(self.models.items()):  # one colour per model in both panels
            pts = [r for r in e.get("curve", []) if "val_acc" in r and "trained_tokens" in r]
            if pts:
                style = dict(ls="--" if e["kind"] == "control" else ":" if m.endswith("_small") else "-",
                             marker="o", ms=3, color=f"C{k % 10}", label=m)
                axes[0].plot([r["trained_tokens"] for r in pts], [r["val_acc"] for r in pts], **style)
                if pts[0].get("val_legal_step_rate") is not None:
                    axes[1].plot([r["trained_tokens"] for r in pts], [r["val_legal_step_rate"] for r in pts], **style)
        for ax, title in zip(axes, ("validation greedy accuracy", "validation legal-step rate")):
            ax.set_xscale("log"), ax.set_xlabel("trained tokens (the targets the loss was on)"), ax.set_ylim(0, 1.02)
            ax.set_title(title, fontsize=9)
            _legend(ax)
        fig.tight_layout(), save_figure(fig, name("learning"), dpi=100), plt.close(fig)
        # pass@k, all problems and the needs-search stratum
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        ks = list(range(1, self.n + 1))
        for ax, s in zip(axes, ("all", "needs_search")):
            for m in self.rows:
                if self.learned(m) and self.n:
                    rows = self.stratum(m, s)
                    ax.plot(ks, [statistics.fmean(evaluate.pass_at_k(r["n"], r["c"], k) for r in rows) for k in ks],
                            ls="--" if m.startswith("rl") else "-", lw=1.5, label=m)
            ax.set_xscale("log", base=2), ax.set_xlabel("k"), ax.set_ylabel("pass@k"), ax.set_ylim(0, 1.02)
            ax.set_title(f"{self.task}: pass@k ({s})", fontsize=9), _legend(ax)
        fig.tight_layout(), save_figure(fig, name("passk"), dpi=100), plt.close(fig)
        # compute-matched: accuracy vs generated tokens per problem
        fig, ax = plt.subplots(figsize=(6, 4))
        for m, e in self.models.items():
            if self.learned(m) and self.n:
                kk = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= self.n]
                rows, tok = self.rows[m], e["strata"]["all"]["tokens"]
                ax.plot([k * tok for k in kk], [statistics.fmean(evaluate.pass_at_k(r["n"], r["c"], k) for r in rows) for k in kk],
                        "o-", ms=3, lw=1, label=f"{m} (best of k)")
        for algo, points in self.res["symbolic"].items():
            ax.plot([max(1, q["tokens"]) for q in points], [q["acc"] for q in points], "s:", ms=3, lw=1, label=f"{algo} (budgets)")
        ax.set_xscale("log"), ax.set_xlabel("generated tokens per problem"), ax.set_ylabel("accuracy"), ax.set_ylim(0, 1.02)
        ax.set_title(f"{self.task}: compute-matched accuracy", fontsize=9), _legend(ax)
        fig.tight_layout(), save_figure(fig, name("compute"), dpi=100), plt.close(fig)
        out = [f"![learning curves]({self.task}_learning.png)\n", f"![pass@k]({self.task}_passk.png)\n",
               f"![compute-matched]({self.task}_compute.png)\n"]
        return out + self.exploration()

    def exploration(self):
        """The trace model's own greedy search next to symbolic DFS on held-out problems that need
        search, as a picture and an animation (tasks that can draw themselves)."""
        import matplotlib.pyplot as plt
        from matplotlib.animation import FuncAnimation, PillowWriter
        import search
        task_cls, m = get_task(self.task), self.trace_model()
        if not task_cls.can_render() or m is None:
            return []
        picks = [r for r in self.stratum(m, "needs_search") if r["greedy"]][:3]
        if not picks:
            return [f"({m} solved no test problem that needs search: no exploration picture)\n"]
        cases = []
        for r in picks:
            ref = search.dfs(task_cls(r["problem"]))
            ref_cells = [ev[1].state for ev in ref.events if ev[0] == "go"]
            cases.append((r, [tuple(s) for s in r["explored"]], ref_cells, task_cls(r["problem"]).answer(ref.moves)))
        fig, axes = plt.subplots(2, len(cases), figsize=(3.2 * len(cases), 6.4), squeeze=False)
        for j, (r, mine, ref_cells, ref_path) in enumerate(cases):
            task_cls.render(r["problem"], axes[0][j], r["answer"], mine, f"{m}: {len(mine)} states entered")
            task_cls.render(r["problem"], axes[1][j], ref_path, ref_cells, f"DFS: {len(ref_cells)} states entered")
        fig.tight_layout(), save_figure(fig, os.path.join(self.run_dir, f"{self.task}_explored.png"), dpi=90), plt.close(fig)
        r, mine, ref_cells, ref_path = cases[0]
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))
        frames = max(len(mine), len(ref_cells)) + 3

        def draw(t):
            for ax in axes:
                ax.clear()
            task_cls.render(r["problem"], axes[0], r["answer"] if t >= len(mine) else None, mine[:t + 1], f"{m} (its own trace)")
            task_cls.render(r["problem"], axes[1], ref_path if t >= len(ref_cells) else None, ref_cells[:t + 1], "symbolic DFS")
        gif = os.path.join(self.run_dir, f"{self.task}_search.gif")
        FuncAnimation(fig, draw, frames=frames).save(f"{gif}.tmp.gif", writer=PillowWriter(fps=3))
        publish(f"{gif}.tmp.gif", gif)
        plt.close(fig)
        return [f"![the model's own search next to DFS on held-out problems that need search]({self.task}_explored.png)\n",
                f"![animated]({self.task}_search.gif)\n"]

    # --- the summary ----------------------------------------------------------------------------
    def summary(self):
        out = [f"**What this {self.task} run shows.**"]
        unlearned = [m for m, e in self.models.items() if "gate" in e and not e["gate"]["passed"]]
        if unlearned:
            out.append(f"- Not learned (no conclusions drawn from them): {', '.join(unlearned)}.")
        t = self.trace_model()
        if t is None:
            out.append("- No full-data trace model passed the learned gate, so this run cannot compare trace "
                       "training with anything.")
        else:
            if self.learned("sft_solution"):
                for s in evaluate.STRATA:
                    c = self.paired(t, "sft_solution", s)
                    out.append(f"- {t} vs solution-only, {s.replace('_', ' ')} (greedy, n = {c['n']}): {_pair(c)}: "
                               f"{_verdict(c, 'the trace model is better', 'solution-only is better')}.")
            for control in ("sft_shuffled", "sft_swapped"):
                if control in self.rows and self.learned(control):
                    c = self.paired(t, control, "needs_search")
                    out.append(f"- {t} vs the {control[4:]}-trace control, needs search: {_pair(c)}: "
                               f"{_verdict(c, 'the search in the trace matters, not only its tokens', 'the control did better')}.")
            small = f"{t}_small"
            if self.learned(small) and self.learned("sft_solution_small"):
                c = self.paired(small, "sft_solution_small", "all")
                out.append(f"- With {self.models[small]['train_problems']} training problems: {small} vs sft_solution_small "
                           f"{_pair(c)}: {_verdict(c, 'traces win with less data', 'solution-only wins with less data')}.")
        for m, e in self.models.items():
            if e["kind"] != "rl" or m not in self.rows or e["init"] not in self.rows or not self.learned(e["init"]):
                continue
            c1, ck = self.paired(m, e["init"], k=1), self.paired(m, e["init"], k=self.n)
            way = ("up: RL solves problems the SFT model never did" if ck["ci95"][0] > 0 else
                   "narrower at large k" if ck["ci95"][1] < 0 else f"unchanged at k = {self.n}")
            out.append(f"- {m} vs {e['init']}: pass@1 {c1['acc_b']:.3f} → {c1['acc_a']:.3f} "
                       f"({_verdict(c1, 'improved', 'worse')}); pass@{self.n} {ck['acc_b']:.3f} → {ck['acc_a']:.3f}, "
                       f"the boundary is {way} (only after RL {ck['only_a']}, only before {ck['only_b']}).")
            gaps = [self.paired(m, e["init"], k=k)["diff"] for k in range(1, self.n + 1)]
            signs = [(k, g > 0) for k, g in enumerate(gaps, 1) if abs(g) > 1e-9]
            cross = next((k for (_, s0), (k, s1) in zip(signs, signs[1:]) if s0 != s1), None)
            if cross:
                out.append(f"  The pass@k curves cross at k = {cross}: {'RL' if signs[0][1] else 'SFT'} is ahead at small k.")
        out.append(f"\n**What it does not show.** One seed, {self.res['test_problems']['needs_search']} + "
                   f"{self.res['test_problems']['direct']} test problems and small models trained for minutes: "
                   "differences inside the CIs are noise, and nothing here speaks for larger scales.\n")
        return out

    def write(self):
        res = self.res
        lines = [f"## {self.task}", "",
                 f"Test set: {res['test_problems']['needs_search']} held-out problems that need search and "
                 f"{res['test_problems']['direct']} that a greedy walk solves; pass@k from n = {self.n} samples at "
                 "temperature 1; 95% bootstrap CIs over problems.", "", "**The learned gate**", ""]
        lines += self.gate_table() + ["**Accuracy per stratum** (greedy; models that failed the gate are not shown)", ""]
        lines += self.strata_table() + self.second_test_table() + ["**Paired comparisons**", ""] + self.comparisons()
        lines += ["**RL: before and after** (boundary = solved by at least one of the n samples)", ""] + self.rl_table()
        lines += self.figures() + self.summary()
        return "\n".join(lines)


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:  # (a panel with no learned model has nothing to name)
        ax.legend(fontsize=6)


def _timing(run_dir, results):
    path = os.path.join(run_dir, "timings.json")
    if not os.path.exists(path):
        return f", on {results['machine']}"
    return f". Pipeline time: {json.load(open(path))['wall_s']:.0f} s of stages on {results['machine']} (timings.json)"


def write_report(run_dir):
    results = json.load(open(os.path.join(run_dir, "results.json")))
    parts = ["# nanosearch report", "",
             f"Preset `{results['preset']}`, written by `python report.py {run_dir}` from `results.json` and the "
             f"evaluation files{_timing(run_dir, results)}.", ""]
    for task, res in results["tasks"].items():
        parts.append(TaskReport(run_dir, task, res).write())
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
