"""
Plots: the report's figures, one function each, drawn from a run's numbers alone.

Each function takes a `Section` (report.py: one task's results and per-problem evaluation records),
writes one PNG (or GIF) next to the report, and returns the markdown lines that show it:

- learning curves: validation accuracy and legal-step rate of every model as it trains, against the
  tokens it was trained on;
- pass@k of every learned model, on all problems and on those that need search;
- accuracy against generated tokens: every learned model held to token budgets (greedy, and
  solution-only's best of B tokens), every symbolic search within the same budgets. Up or left is
  read off this one figure;
- accuracy and legal-step rate against the maze side, for a preset with a size curve (sizes.py);
- the trace model's own search next to symbolic DFS on held-out problems that need search, and an RL
  model's next to its supervised start's and DFS's where they differ (tasks that can draw
  themselves).
"""
import os
import statistics

import evaluate
from files import publish, save_figure
import linearize
import search
from tasks import get_task


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:  # (a panel with no learned model has nothing to name)
        ax.legend(fontsize=6)


def _path(sec, kind, ext="png"):
    return os.path.join(sec.run_dir, f"{sec.task}_{kind}.{ext}")


def learning(sec):
    """Validation greedy accuracy and legal-step rate against trained tokens, one colour per model."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, (m, e) in enumerate(sec.models.items()):
        pts = [r for r in e.get("curve", []) if "val_acc" in r and "trained_tokens" in r]
        if pts:
            style = dict(ls="--" if e["kind"] == "control" else ":" if m.endswith(("_small", "_large")) else "-",
                         marker="o", ms=3, color=f"C{k % 10}", label=m)
            axes[0].plot([r["trained_tokens"] for r in pts], [r["val_acc"] for r in pts], **style)
            if pts[0].get("val_legal_step_rate") is not None:
                axes[1].plot([r["trained_tokens"] for r in pts], [r["val_legal_step_rate"] for r in pts], **style)
    for ax, title in zip(axes, ("validation greedy accuracy", "validation legal-step rate")):
        ax.set_xscale("log"), ax.set_xlabel("trained tokens (the targets the loss was on)"), ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=9)
        _legend(ax)
    fig.tight_layout(), save_figure(fig, _path(sec, "learning"), dpi=100), plt.close(fig)
    return [f"![learning curves]({sec.task}_learning.png)\n"]


def pass_at_k(sec):
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ks = list(range(1, sec.n + 1))
    for ax, s in zip(axes, ("all", "needs_search")):
        for m in sec.rows:
            if sec.learned(m) and sec.n:
                rows = sec.stratum(m, s)
                ax.plot(ks, [statistics.fmean(evaluate.pass_at_k(r["n"], r["c"], k) for r in rows) for k in ks],
                        ls="--" if m.startswith("rl") else "-", lw=1.5, label=m)
        ax.set_xscale("log", base=2), ax.set_xlabel("k"), ax.set_ylabel("pass@k"), ax.set_ylim(0, 1.02)
        ax.set_title(f"{sec.task}: pass@k ({s})", fontsize=9), _legend(ax)
    fig.tight_layout(), save_figure(fig, _path(sec, "passk"), dpi=100), plt.close(fig)
    return [f"![pass@k]({sec.task}_passk.png)\n"]


def accuracy_vs_tokens(sec):
    """Needs-search accuracy against the budget B of generated tokens: each learned model greedily
    within B (and solution-only with the best of B tokens of samples), each symbolic search within B."""
    plt = _pyplot()
    budgets = sec.res.get("token_budgets", [])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for k, (m, e) in enumerate(sec.models.items()):
        if not sec.learned(m) or "budgets" not in e or e["kind"] == "control":
            continue
        color = f"C{k % 10}"
        ax.plot(budgets, [e["budgets"][str(b)]["needs_search"]["greedy"]["mean"] for b in budgets], "o-", ms=3,
                color=color, label=f"{m} (greedy)")
        if e["kind"] == "solution" and "best_of_tokens" in e["budgets"][str(budgets[0])]["needs_search"]:
            ax.plot(budgets, [e["budgets"][str(b)]["needs_search"]["best_of_tokens"]["mean"] for b in budgets], "o--",
                    ms=3, color=color, label=f"{m} (best of B tokens of samples)")
    for algo in sec.res.get("symbolic_budgets", {}).get(str(budgets[0]), {}).get("needs_search", {}) if budgets else []:
        if algo != "any":
            ax.plot(budgets, [sec.res["symbolic_budgets"][str(b)]["needs_search"][algo] for b in budgets], "s:", ms=3,
                    lw=1, label=f"symbolic {algo}")
    ax.set_xlabel("budget B: generated tokens per problem (an output not ended within B is wrong)")
    ax.set_ylabel("accuracy (needs search)"), ax.set_ylim(0, 1.02)
    ax.set_title(f"{sec.task}: accuracy against generated tokens, needs-search problems", fontsize=9), _legend(ax)
    fig.tight_layout(), save_figure(fig, _path(sec, "compute"), dpi=100), plt.close(fig)
    return [f"![accuracy against generated tokens]({sec.task}_compute.png)\n"]


def size_curve(sec):
    """Greedy accuracy (needs search, direct) and legal-step rate against the maze side, every learned
    model, the trained sides shaded."""
    sc = sec.res.get("size_curve")
    if not sc:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    sides = sc["sides"]
    for k, (m, e) in enumerate(sec.models.items()):
        if "sizes" not in e or not sec.learned(m):
            continue
        pts = [e["sizes"][str(s)] for s in sides]
        style = dict(color=f"C{k % 10}", marker="o", ms=3, ls="--" if e["kind"] == "control" else "-")
        axes[0].plot(sides, [p["needs_search"]["greedy"] for p in pts], label=f"{m} (needs search)", **style)
        axes[0].plot(sides, [p["direct"]["greedy"] for p in pts], color=style["color"], marker="x", ms=3, ls=":", lw=1)
        if pts[0]["all"]["legal_step_rate"] is not None:
            axes[1].plot(sides, [p["all"]["legal_step_rate"] for p in pts], label=m, **style)
    for ax, title in zip(axes, ("greedy accuracy (solid: needs search, dotted: direct)", "legal-step rate (all)")):
        ax.axvspan(min(sc["trained_sides"]) - 0.5, max(sc["trained_sides"]) + 0.5, color="0.9", label="trained sides")
        ax.set_xlabel("maze side (cells)"), ax.set_ylim(0, 1.02), ax.set_xticks(sides)
        ax.set_title(f"{sec.task}: {title}", fontsize=9), _legend(ax)
    fig.tight_layout(), save_figure(fig, _path(sec, "sizes"), dpi=100), plt.close(fig)
    return [f"![accuracy against maze size]({sec.task}_sizes.png)\n"]


def frontier(sec):
    """The data-size frontier: needs-search greedy accuracy (95 % CI) of solution-only and the trace
    model against training problems and against training FLOPs; a model not learned is hollow."""
    fr = sec.res.get("frontier")
    if not fr:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, kind in enumerate(("solution", "trace")):
        pts = sorted((int(n), p) for n, p in fr[kind].items())
        for ax, x in zip(axes, ([n for n, _ in pts], [p["train_flops"] for _, p in pts])):
            if None in x:
                continue
            y = [p["needs_search"] for _, p in pts]
            err = [[max(0.0, v - p["needs_search_ci"][0]) for v, (_, p) in zip(y, pts)],
                   [max(0.0, p["needs_search_ci"][1] - v) for v, (_, p) in zip(y, pts)]]
            ax.errorbar(x, y, yerr=err, color=f"C{k}", lw=1, capsize=2, label=kind if kind == "solution" else "trace model")
            for xi, yi, (_, p) in zip(x, y, pts):
                ax.plot([xi], [yi], "o", color=f"C{k}", mfc=f"C{k}" if p["learned"] else "none", ms=5)
    for ax, label in zip(axes, ("training problems", "training FLOPs")):
        ax.set_xscale("log"), ax.set_xlabel(label), ax.set_ylim(0, 1.02), _legend(ax)
        ax.set_title(f"{sec.task}: needs-search accuracy against {label} (hollow: not learned)", fontsize=9)
    fig.tight_layout(), save_figure(fig, _path(sec, "frontier"), dpi=100), plt.close(fig)
    return [f"![the data-size frontier]({sec.task}_frontier.png)\n"]


def _teacher_search(task_cls, problem, algo):
    """A symbolic search's states entered, in order (as parse reads its own trace), and its path."""
    task = task_cls(problem)
    found = search.run_search(task, algo)
    answer = task.answer(found.moves) if found.solved else None
    parsed = linearize.parse(task, linearize.linearize(task, found, algo, answer, costs=False))
    return [tuple(s) for s in parsed.explored], answer


def exploration(sec):
    """The trace model's own greedy search next to symbolic DFS on held-out problems that need
    search, as a picture and an animation."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    plt = _pyplot()
    task_cls, m = get_task(sec.task), sec.trace_model()
    if not task_cls.can_render() or m is None:
        return []
    picks = [r for r in sec.stratum(m, "needs_search") if r["greedy"]][:3]
    if not picks:
        return [f"({m} solved no test problem that needs search: no exploration picture)\n"]
    cases = [(r, [tuple(s) for s in r["explored"]], *_teacher_search(task_cls, r["problem"], "dfs")) for r in picks]
    fig, axes = plt.subplots(2, len(cases), figsize=(3.2 * len(cases), 6.4), squeeze=False)
    for j, (r, mine, ref_cells, ref_path) in enumerate(cases):
        task_cls.render(r["problem"], axes[0][j], r["answer"], mine, f"{m}: {len(mine)} states entered")
        task_cls.render(r["problem"], axes[1][j], ref_path, ref_cells, f"DFS: {len(ref_cells)} states entered")
    fig.tight_layout(), save_figure(fig, _path(sec, "explored"), dpi=90), plt.close(fig)
    r, mine, ref_cells, ref_path = cases[0]
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))

    def draw(t):
        for ax in axes:
            ax.clear()
        task_cls.render(r["problem"], axes[0], r["answer"] if t >= len(mine) else None, mine[:t + 1], f"{m} (its own trace)")
        task_cls.render(r["problem"], axes[1], ref_path if t >= len(ref_cells) else None, ref_cells[:t + 1], "symbolic DFS")
    gif = _path(sec, "search", "gif")
    FuncAnimation(fig, draw, frames=max(len(mine), len(ref_cells)) + 3).save(f"{gif}.tmp.gif", writer=PillowWriter(fps=3))
    publish(f"{gif}.tmp.gif", gif)
    plt.close(fig)
    return [f"![the model's own search next to DFS on held-out problems that need search]({sec.task}_explored.png)\n",
            f"![animated]({sec.task}_search.gif)\n"]


def format_searches(sec):
    """One needs-search test maze that every learned trace format's model solved: each model's own
    search above its teacher's (the symbolic search it imitated, at its defaults; the DFS/BFS mixture
    has no single teacher)."""
    table, task_cls = sec.res.get("formats") or {}, get_task(sec.task)
    learned = [m for m in table if sec.learned(m)]
    if not task_cls.can_render() or not learned:
        return []
    rows = [sec.rows[m] for m in learned]
    both = [i for i, r in enumerate(rows[0]) if evaluate.STRATA["needs_search"](r) and all(rs[i]["greedy"] for rs in rows)]
    if not both:
        return ["(no needs-search test maze solved by every learned format: no picture of their searches)\n"]
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(learned), figsize=(3.2 * len(learned), 6.4), squeeze=False)
    for j, m in enumerate(learned):
        r = sec.rows[m][both[0]]
        mine = [tuple(s) for s in r["explored"]]
        task_cls.render(r["problem"], axes[0][j], r["answer"], mine, f"{m}: {len(mine)} states entered")
        algo = table[m]["teacher"]
        if algo:
            cells, path = _teacher_search(task_cls, r["problem"], algo)
            task_cls.render(r["problem"], axes[1][j], path, cells, f"symbolic {algo}: {len(cells)} states entered")
        else:
            axes[1][j].axis("off"), axes[1][j].text(0.5, 0.5, "no single teacher\n(half DFS, half BFS traces)", ha="center")
    fig.tight_layout(), save_figure(fig, _path(sec, "formats"), dpi=90), plt.close(fig)
    return [f"![each learned format's model searching one needs-search maze, above its teacher]({sec.task}_formats.png)\n"]


def rl_searches(sec):
    """For each budgeted RL run: on a few needs-search problems where it and its supervised start
    searched differently, the RL model's search, its start's and symbolic DFS's (states entered,
    shaded by order; the path on top)."""
    plt = _pyplot()
    task_cls, out = get_task(sec.task), []
    for m, e in sec.models.items():
        if e["kind"] != "rl" or not e.get("budget") or m not in sec.rows or e["init"] not in sec.rows:
            continue
        pairs = [(a, b) for a, b in zip(sec.rows[m], sec.rows[e["init"]]) if a["needs_search"] and a["explored"] != b["explored"]]
        pairs = sorted(pairs, key=lambda p: (-p[0]["greedy"], len(p[0]["explored"]) - len(p[1]["explored"])))[:3]
        if not task_cls.can_render() or not pairs:
            continue
        fig, axes = plt.subplots(3, len(pairs), figsize=(3.2 * len(pairs), 9.4), squeeze=False)
        for j, (a, b) in enumerate(pairs):
            cells, path = _teacher_search(task_cls, a["problem"], "dfs")
            for i, (rec, name) in enumerate(((a, m), (b, e["init"]))):
                verdict = f"solved in {rec['tokens']} tokens" if rec["greedy"] else "not solved"
                task_cls.render(rec["problem"], axes[i][j], rec["answer"] if rec["greedy"] else None,
                                [tuple(s) for s in rec["explored"]], f"{name}: {len(rec['explored'])} states, {verdict}")
            task_cls.render(a["problem"], axes[2][j], path, cells, f"DFS: {len(cells)} states, "
                            f"{a['sym_tokens'].get('dfs')} tokens")
        fig.tight_layout(), save_figure(fig, _path(sec, f"{m}_searches"), dpi=90), plt.close(fig)
        out.append(f"![{m}, its supervised start and DFS on needs-search problems where the two models differ]"
                   f"({sec.task}_{m}_searches.png)\n")
    return out


def all_figures(sec):
    return learning(sec) + pass_at_k(sec) + accuracy_vs_tokens(sec) + size_curve(sec) + frontier(sec) + format_searches(sec) + exploration(sec) + rl_searches(sec)
