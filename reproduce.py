"""
Reproduce: the whole Meta-CoT pipeline in one command, and the report that answers its question.

    python reproduce.py                      # CPU preset, both tasks, <= 20 minutes on 2 cores
    python reproduce.py --preset gpu         # one H100-class GPU, peer-comparable scale, <= 60 minutes

For each task the pipeline (1) generates problems and runs the symbolic searches, (2) trains a GPT on
solution-only data, (3) on A* traces, on MCTS traces and on a DFS/BFS mixture (SoS-style), (4) on
shuffled A* traces (the control: same tokens, no search order), (5) post-trains the best trace model
and the solution-only model with RL (GRPO, plus expert iteration on the trace model), (6) evaluates
everything against the symbolic searches at equal node budgets, and (7) writes `report.md` with
tables, pass@k curves, a compute-matched plot, boundary counts and a generated summary.

Every stage is cached: a finished stage leaves a marker holding the preset it ran with, so a re-run
skips it; a changed preset starts the stages over (their old outputs are removed, never resumed), and
an interrupted training resumes from its last checkpoint.
"""
import argparse
import json
import os
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field

import evaluate
import linearize
import search
import train_rl
import train_sft
from tasks import get_task, load_problems, write_jsonl


@dataclass
class Preset:
    """Everything one task's pipeline needs to know; see the README for how each was chosen."""
    generate: list            # search.py flags that set the problem size
    n_train: int              # training problems (every model sees the same ones)
    n_test: int               # held-out problems for the report
    n_val: int                # problems for model selection during training (not the test set)
    trace: list               # search.py trace flags (compact formats for small budgets)
    model: list               # train_sft.py model flags
    solution_steps: int       # SFT steps on solution-only data
    trace_steps: int          # SFT steps on A* traces and on the shuffled control (~ the same training
                              # tokens as solution_steps: trace sequences are a few times longer)
    control_steps: int        # steps for the extra trace formats (MCTS, DFS/BFS mixture)
    batch_size: int
    lr: float
    rl_steps: int
    rl_prompts: int
    rl_group: int
    rl_lr: float
    samples: int = 64         # samples per problem for pass@k (k up to this)
    budgets: list = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128])
    mcts_budget: int = 2000


PRESETS = {
    "cpu": {
        "maze": Preset(generate=["--height", "5", "--width-cells", "5"], n_train=4000, n_test=100, n_val=100,
                       trace=["--no-costs"], model=["--n-layer", "4", "--n-head", "4", "--n-embd", "128"],
                       solution_steps=1500, trace_steps=500, control_steps=80, batch_size=32, lr=3e-3,
                       rl_steps=6, rl_prompts=16, rl_group=8, rl_lr=5e-5, samples=16, budgets=[1, 2, 4, 8, 16, 32]),
        "countdown": Preset(generate=["--n-nums", "3", "--num-max", "9"], n_train=4000, n_test=100, n_val=100,
                            trace=["--no-costs"], model=["--n-layer", "4", "--n-head", "4", "--n-embd", "128"],
                            solution_steps=500, trace_steps=150, control_steps=40, batch_size=32, lr=3e-3,
                            rl_steps=4, rl_prompts=16, rl_group=8, rl_lr=5e-5, samples=16, budgets=[1, 2, 4, 8, 16, 32]),
    },
    # Designed by computation (README, "The GPU preset"): ~14M-parameter models, ~10 min of SFT per task at a
    # realistic 25% of an H100's bf16 peak, RL and evaluation sized so that decoding (latency-bound) fits.
    "gpu": {
        "maze": Preset(generate=["--height", "10", "--width-cells", "10"], n_train=100_000, n_test=200, n_val=200,
                       trace=[], model=["--n-layer", "8", "--n-head", "8", "--n-embd", "384"],
                       solution_steps=12000, trace_steps=6000, control_steps=3000, batch_size=128, lr=1e-3,
                       rl_steps=40, rl_prompts=32, rl_group=16, rl_lr=3e-5, budgets=[1, 2, 4, 8, 16, 32, 64, 128, 256]),
        "countdown": Preset(generate=["--n-nums", "4"], n_train=200_000, n_test=200, n_val=200,
                            trace=["--no-costs"], model=["--n-layer", "8", "--n-head", "8", "--n-embd", "384"],
                            solution_steps=12000, trace_steps=4000, control_steps=1500, batch_size=64, lr=1e-3,
                            rl_steps=40, rl_prompts=32, rl_group=16, rl_lr=3e-5,
                            budgets=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    },
}
# The same pipeline at toy size: the test suite runs it end to end (tests/test_reproduce.py), and
# benchmarks/gpu_smoke.sh runs the GPU one in a few minutes.
_SMOKE = dict(n_train=64, n_test=8, n_val=8, trace=["--no-costs"], solution_steps=20, trace_steps=20, control_steps=10, batch_size=16,
              lr=2e-3, rl_steps=2, rl_prompts=4, rl_group=4, rl_lr=1e-4, samples=4, budgets=[1, 4], mcts_budget=200)
PRESETS["smoke"] = {
    "maze": Preset(generate=["--height", "5", "--width-cells", "5"], model=["--n-layer", "1", "--n-head", "2", "--n-embd", "32"], **_SMOKE),
    "countdown": Preset(generate=["--n-nums", "3", "--num-max", "12", "--target-max", "40"],
                        model=["--n-layer", "1", "--n-head", "2", "--n-embd", "32"], **_SMOKE),
}
PRESETS["gpu-smoke"] = {task: Preset(**{**asdict(p), "n_train": 20_000, "n_test": 100, "n_val": 100, "solution_steps": 600,
                                        "trace_steps": 300, "control_steps": 100, "rl_steps": 5, "samples": 16})
                        for task, p in PRESETS["gpu"].items()}
TRACE_MODELS = ("astar", "mcts", "mix")


# ------------------------------------------------------------------------------------------------
# a tiny stage runner: cache by inputs, show progress and an ETA

class Pipeline:
    def __init__(self, out):
        self.out, self.stages = out, []

    def add(self, name, estimate_s, key, fn, output=None):
        self.stages.append((name, estimate_s, json.dumps(key, sort_keys=True, default=str), fn, output))

    def run(self):
        os.makedirs(os.path.join(self.out, ".stages"), exist_ok=True)
        t0, spent_est, spent = time.time(), 0.0, 0.0
        total_est = sum(s[1] for s in self.stages)
        for k, (name, est, key, fn, output) in enumerate(self.stages, 1):
            marker = os.path.join(self.out, ".stages", name.replace("/", "_") + ".json")
            if os.path.exists(marker):
                if json.load(open(marker)).get("key") == key:
                    print(f"[{k}/{len(self.stages)}] {name}: cached")
                    total_est -= est
                    continue
                # finished under other settings: start over rather than resume a stale checkpoint
                os.remove(marker)
                if output and os.path.exists(output):
                    shutil.rmtree(output)
            pace = spent / spent_est if spent_est else 1.0
            remaining = (total_est - spent_est) * pace
            print(f"\n[{k}/{len(self.stages)}] {name}  (elapsed {_clock(time.time() - t0)}, ETA {_clock(remaining)})", flush=True)
            start = time.time()
            fn()
            took = time.time() - start
            spent, spent_est = spent + took, spent_est + est
            with open(marker + ".tmp", "w") as f:
                json.dump({"key": key, "seconds": took}, f)
            os.replace(marker + ".tmp", marker)
        print(f"\nall {len(self.stages)} stages done in {_clock(time.time() - t0)}")


def _clock(seconds):
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


# ------------------------------------------------------------------------------------------------
# the stages of one task

def plan(pipe, task, preset, out, threads):
    d = os.path.join(out, task)
    data = os.path.join(d, "data")
    p = lambda *parts: os.path.join(d, *parts)
    key = {"task": task, **asdict(preset)}
    common = ["--threads", str(threads)] if threads else []

    def make_data():
        os.makedirs(data, exist_ok=True)
        gen = lambda n, split, seed, path: search.main(["--task", task, "--generate", str(n), "--split", split,
                                                        "--seed", str(seed), "--out", path, *preset.generate])
        gen(preset.n_train, "train", 1, p("data", "train.jsonl"))
        gen(preset.n_test, "test", 2, p("data", "test.jsonl"))
        # validation problems: the training distribution, but none of the training problems
        seen = {json.dumps(r, sort_keys=True) for r in map(json.loads, open(p("data", "train.jsonl")))}
        gen(preset.n_val * 2, "train", 3, p("data", "val_all.jsonl"))
        val = [r for r in map(json.loads, open(p("data", "val_all.jsonl"))) if json.dumps(r, sort_keys=True) not in seen]
        write_jsonl(p("data", "val.jsonl"), val[:preset.n_val])
        traces = lambda algo, name, *extra: search.main(["--task", task, "--algo", algo, "--problems", p("data", "train.jsonl"),
                                                         "--out", p("data", f"{name}.jsonl"), *preset.trace, *extra])
        traces("astar", "solution", "--format", "solution")
        traces("astar", "astar")
        traces("mcts", "mcts", "--budget", str(preset.mcts_budget))
        traces("astar", "shuffled", "--shuffle")
        traces("dfs", "dfs")
        traces("bfs", "bfs")
        # SoS-style mixture: each problem's trace comes from one strategy, alternating
        dfs_rows, bfs_rows = (list(map(json.loads, open(p("data", f"{a}.jsonl")))) for a in ("dfs", "bfs"))
        write_jsonl(p("data", "mix.jsonl"), [a if i % 2 == 0 else b for i, (a, b) in enumerate(zip(dfs_rows, bfs_rows))])

    pipe.add(f"{task}/data", 5, key, make_data, data)

    def sft(name, steps):
        def fn():
            train_sft.train(train_sft.parse_args(
                ["--task", task, "--data", p("data", f"{name}.jsonl"), "--val", p("data", "val.jsonl"),
                 "--out", p(f"sft_{name}"), "--max-steps", str(steps), "--batch-size", str(preset.batch_size),
                 "--lr", str(preset.lr), "--warmup", str(min(100, steps // 10)),
                 "--eval-every", str(steps if steps == preset.control_steps else max(1, steps // 2)),
                 "--eval-n", str(preset.n_val),
                 "--resume", *preset.model, *common]))
        return fn

    # Solution-only, A* and the shuffled control carry the conclusions. They get about the same training
    # COMPUTE (tokens), so solution-only, whose sequences are a few times shorter, takes more steps; the
    # A* model and its control take exactly the same. The other trace formats get a shorter look.
    # the ETA's first guess, in seconds per step as measured on the CPU preset; it recalibrates as stages finish
    for name, steps, per_step in (("solution", preset.solution_steps, 0.1), ("astar", preset.trace_steps, 0.4),
                                  ("shuffled", preset.trace_steps, 0.4), ("mcts", preset.control_steps, 0.6),
                                  ("mix", preset.control_steps, 0.5)):
        pipe.add(f"{task}/sft_{name}", steps * per_step, key, sft(name, steps), p(f"sft_{name}"))

    def best_trace_model():
        """The trace model with the best validation accuracy (never the test set)."""
        def last_val(name):
            rows = [r for r in map(json.loads, open(p(f"sft_{name}", "log.jsonl"))) if "val_acc" in r]
            return rows[-1]["val_acc"] if rows else 0.0
        return max(TRACE_MODELS, key=lambda name: (last_val(name), name == "astar"))

    def rl(name, init, algo):
        def fn():
            train_rl.train(train_rl.parse_args(
                ["--init", p(f"sft_{init() if callable(init) else init}", "ckpt.pt"), "--problems", p("data", "train.jsonl"),
                 "--val", p("data", "val.jsonl"), "--out", p(name), "--algo", algo, "--steps", str(preset.rl_steps),
                 "--prompts", str(preset.rl_prompts), "--group", str(preset.rl_group), "--lr", str(preset.rl_lr),
                 "--eval-every", str(preset.rl_steps), "--no-initial-eval", "--eval-n", str(preset.n_val),
                 "--eval-samples", "8",
                 "--resume", *common]))
            with open(p(name, "init.txt"), "w") as f:
                f.write(init() if callable(init) else init)
        return fn

    for name, init, algo in (("rl_grpo_trace", best_trace_model, "grpo"),
                             ("rl_ei_trace", best_trace_model, "expert-iteration"),
                             ("rl_grpo_solution", "solution", "grpo"),
                             ("rl_ei_solution", "solution", "expert-iteration")):
        pipe.add(f"{task}/{name}", 8 * preset.rl_steps, key, rl(name, init, algo), p(name))

    def evaluate_all():
        os.makedirs(p("eval"), exist_ok=True)
        for name in MODELS:
            if os.path.exists(p(name, "ckpt.pt")):
                ks = ",".join(str(k) for k in (1, 8, 16, 32, 64) if k <= preset.samples)
                evaluate.main(["--ckpt", p(name, "ckpt.pt"), "--problems", p("data", "test.jsonl"), "--n", str(preset.samples),
                               "--batch-size", "256", "--k", ks, "--out", p("eval", f"{name}.json"), *common])
        symbolic_sweep(task, p("data", "test.jsonl"), preset, p("eval", "symbolic.json"))

    pipe.add(f"{task}/evaluate", 100, {**key, "models": MODELS}, evaluate_all, p("eval"))


MODELS = ("sft_solution", "sft_astar", "sft_mcts", "sft_mix", "sft_shuffled", "rl_grpo_trace", "rl_ei_trace",
          "rl_grpo_solution", "rl_ei_solution")


def symbolic_sweep(task_name, problems_path, preset, out_path):
    """Each symbolic search at several node budgets: its solve rate and the length of the trace it
    writes (in the preset's format), i.e. its own compute-accuracy curve."""
    task_cls = get_task(task_name)
    problems = load_problems(problems_path, task_cls)[0]
    costs = "--no-costs" not in preset.trace
    res = {}
    for algo in ("astar", "dfs", "bfs", "mcts"):
        res[algo] = []
        for budget in preset.budgets + [None]:
            solved, tokens = 0, 0
            for i, problem in enumerate(problems):
                task = task_cls(problem)
                r = search.run_search(task, algo, budget if budget is not None else (preset.mcts_budget if algo == "mcts" else None), seed=i)
                solved += r.solved
                tokens += len(linearize.linearize(task, r, algo, task.answer(r.moves) if r.solved else None, costs=costs))
            res[algo].append({"budget": budget if budget is not None or algo != "mcts" else preset.mcts_budget,
                              "acc": solved / len(problems), "tokens": tokens / len(problems)})
    with open(out_path, "w") as f:
        json.dump(res, f)


# ------------------------------------------------------------------------------------------------
# the report, from the evaluation JSON alone

def _load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def _curve(res, ks):
    rows = res["per_problem"]
    return [statistics.fmean(evaluate.pass_at_k(r["n"], r["c"], k) for r in rows) for k in ks]


def _fmt_ci(mean, ci):
    return f"{mean:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def task_report(run_dir, task):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = os.path.join(run_dir, task)
    evals = {m: r for m in MODELS if (r := _load(os.path.join(d, "eval", f"{m}.json")))}
    if not evals:
        return ""
    sym = _load(os.path.join(d, "eval", "symbolic.json")) or {}
    lines = [f"## {task}", ""]
    n = next(iter(evals.values()))["n_samples"]
    ks_table = [k for k in (1, 8, 16, 32, 64) if k <= n]
    lines.append(f"{next(iter(evals.values()))['n_problems']} held-out problems; pass@k from n = {n} samples at "
                 "temperature 1; 95% bootstrap CIs over problems.\n")
    lines.append("| model | greedy acc | " + " | ".join(f"pass@{k}" for k in ks_table)
                 + " | Cover@0.5 | tokens (greedy) | legal-step rate | nodes |")
    lines.append("|---" * (6 + len(ks_table)) + "|")
    for m, r in evals.items():
        pk = r.get("pass_at_k", {})
        legal = "–" if r["legal_step_rate"] is None else f"{r['legal_step_rate']:.3f}"
        lines.append(f"| {m} | {_fmt_ci(r['greedy_acc'], r['greedy_acc_ci'])} | "
                     + " | ".join(_fmt_ci(pk[str(k)]["mean"], pk[str(k)]["ci"]) if str(k) in pk else "–" for k in ks_table)
                     + f" | {r.get('cover', {}).get('0.5', 0):.3f} | {r['mean_tokens']:.1f} | {legal} | {r['model_nodes_mean']:.1f} |")
    for algo, points in sym.items():
        full = points[-1]
        lines.append(f"| symbolic {algo} ({'unbounded' if algo != 'mcts' else 'node budget ' + str(full['budget'])}) | {full['acc']:.3f} | "
                     + " | ".join("–" for _ in ks_table) + f" | – | {full['tokens']:.1f} | 1.000 | – |")
    lines.append("")

    # pass@k curves
    ks = list(range(1, n + 1))
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, r in evals.items():
        if n:
            ax.plot(ks, _curve(r, ks), label=m, lw=1.5, ls="--" if m.startswith("rl") else "-")
    ax.set_xscale("log", base=2), ax.set_xlabel("k"), ax.set_ylabel("pass@k"), ax.set_ylim(0, 1.02)
    ax.set_title(f"{task}: pass@k"), ax.legend(fontsize=7)
    fig.tight_layout(), fig.savefig(os.path.join(run_dir, f"{task}_passk.png"), dpi=100), plt.close(fig)
    lines.append(f"![pass@k]({task}_passk.png)\n")

    # compute-matched: accuracy vs generated tokens per problem
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, r in evals.items():
        if n:
            kk = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= n]
            ax.plot([k * r["mean_sample_tokens"] for k in kk], _curve(r, kk), "o-", ms=3, lw=1, label=f"{m} (best of k)")
    for algo, points in sym.items():
        ax.plot([max(1, q["tokens"]) for q in points], [q["acc"] for q in points], "s:", ms=3, lw=1, label=f"{algo} (budgets)")
    ax.set_xscale("log"), ax.set_xlabel("generated tokens per problem"), ax.set_ylabel("accuracy"), ax.set_ylim(0, 1.02)
    ax.set_title(f"{task}: compute-matched accuracy"), ax.legend(fontsize=6)
    fig.tight_layout(), fig.savefig(os.path.join(run_dir, f"{task}_compute.png"), dpi=100), plt.close(fig)
    lines.append(f"![compute-matched]({task}_compute.png)\n")

    # boundary counts
    lines.append("**Boundary at k = %d** (a problem is solved if any of the samples is correct):\n" % n)
    lines.append("| comparison | solved only by A | only by B | pass@k difference A−B [95% CI] |")
    lines.append("|---|---|---|---|")
    pairs = [("rl_grpo_trace", _init_of(d, "rl_grpo_trace")), ("rl_ei_trace", _init_of(d, "rl_ei_trace")),
             ("rl_grpo_solution", "sft_solution"), ("rl_ei_solution", "sft_solution"),
             ("sft_astar", "sft_solution"), ("sft_astar", "sft_shuffled")]
    for a, b in pairs:
        if a in evals and b in evals and n:
            c = evaluate.compare(os.path.join(d, "eval", f"{a}.json"), os.path.join(d, "eval", f"{b}.json"), k=n)
            lines.append(f"| A = {a}, B = {b} | {c['only_a']} | {c['only_b']} | {c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] |")
    lines.append("")
    lines.append("| model | greedy-solved problems that no symbolic search (A*, DFS, BFS, MCTS) solves within the model's own node count |")
    lines.append("|---|---|")
    for m, r in evals.items():
        beyond, ci = r["solved_by_model_not_symbolic_at_same_nodes"], r["solved_by_model_not_symbolic_ci"]
        lines.append(f"| {m} | " + ("n/a: its text names no nodes |" if beyond is None else
                     f"{beyond} of {r['n_problems']} (rate 95% CI [{ci[0]:.2f}, {ci[1]:.2f}]) |"))
    lines.append("")

    # training curves
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for m in MODELS:
        log = os.path.join(d, m, "log.jsonl")
        if not os.path.exists(log):
            continue
        rows = [json.loads(line) for line in open(log)]
        if m.startswith("sft"):
            pts = [r for r in rows if "loss" in r]
            axes[0].plot([r["step"] for r in pts], [r["loss"] for r in pts], lw=1, label=m)
        else:
            pts = [r for r in rows if "reward" in r]
            axes[1].plot([r["step"] for r in pts], [r["reward"] for r in pts], lw=1, label=f"{m} reward")
            axes[1].plot([r["step"] for r in pts], [r["zero_var_groups"] for r in pts], lw=1, ls=":", label=f"{m} zero-var groups")
    axes[0].set_yscale("log"), axes[0].set_title("SFT loss"), axes[0].legend(fontsize=6), axes[0].set_xlabel("step")
    axes[1].set_title("RL reward / zero-variance groups"), axes[1].legend(fontsize=6), axes[1].set_xlabel("step")
    fig.tight_layout(), fig.savefig(os.path.join(run_dir, f"{task}_training.png"), dpi=100), plt.close(fig)
    lines.append(f"![training curves]({task}_training.png)\n")

    if task == "maze":
        lines += maze_picture(run_dir, d, evals)
    lines += summary(task, d, evals, sym, n)
    return "\n".join(lines)


def _init_of(d, rl_name):
    path = os.path.join(d, rl_name, "init.txt")
    return f"sft_{open(path).read().strip()}" if os.path.exists(path) else None


def maze_picture(run_dir, d, evals):
    """A held-out maze, the cells the best trace model's own greedy trace explored next to A*'s:
    the first maze it solved, or, if it solved none, the first on which its trace explored anything."""
    from tasks.maze import Maze, render_png
    import matplotlib.pyplot as plt
    name = max((m for m in evals if m.startswith("sft_") and m not in ("sft_solution", "sft_shuffled")),
               key=lambda m: evals[m]["greedy_acc"], default=None)
    if name is None:
        return []
    problems = load_problems(os.path.join(d, "data", "test.jsonl"), Maze)[0]
    rows = evals[name]["per_problem"]
    i = next((k for k, r in enumerate(rows) if r["greedy"] and r.get("explored")), None)
    if i is None:
        i = next((k for k, r in enumerate(rows) if r.get("explored")), None)
    if i is None:
        return [f"(the greedy traces of {name} named no legal cell, so there is no exploration picture)\n"]
    verdict = "solved" if rows[i]["greedy"] else "not solved"
    task = Maze(problems[i])
    ref = search.astar(task)
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
    model_path = rows[i].get("answer")
    render_png(problems[i], None, path=model_path, explored=[tuple(s) for s in rows[i]["explored"]],
               title=f"{name}: {len(rows[i]['explored'])} cells explored, {verdict}", ax=axes[0])
    render_png(problems[i], None, path=task.answer(ref.moves), explored=[ev[1].state for ev in ref.events if ev[0] == "close"],
               title=f"A*: {ref.nodes_expanded} cells expanded", ax=axes[1])
    fig.tight_layout(), fig.savefig(os.path.join(run_dir, "maze_explored.png"), dpi=100), plt.close(fig)
    return ["![model vs A* exploration](maze_explored.png)\n"]


def summary(task, d, evals, sym, n):
    """What this run shows and does not show, in sentences generated from the numbers."""
    out = [f"**What this {task} run shows.**"]
    def paired(a, b, k=None):
        if a in evals and b in evals:
            return evaluate.compare(os.path.join(d, "eval", f"{a}.json"), os.path.join(d, "eval", f"{b}.json"), k=k)
        return None

    def verdict(c, better, worse):
        lo, hi = c["ci95"]
        if lo > 0:
            return better
        if hi < 0:
            return worse
        return "no significant difference"

    if "sft_astar" in evals and "sft_solution" in evals:
        best = "sft_astar"  # the same problems and about the same training tokens as solution-only
        c = paired(best, "sft_solution")
        out.append(f"- Trace training vs solution-only (greedy; same problems, about the same training tokens): {best} "
                   f"{c['acc_a']:.3f} vs {c['acc_b']:.3f}, difference {c['diff']:+.3f} "
                   f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]: {verdict(c, 'the trace model is better', 'solution-only is better')}.")
        if "mean_sample_tokens" in evals[best] and n:
            # compute-matched: solution-only best-of-k with the tokens the trace model spends on one sample
            budget = evals[best]["mean_sample_tokens"]
            k = max(1, min(n, int(budget // max(1.0, evals["sft_solution"]["mean_sample_tokens"]))))
            out.append(f"- At matched generated tokens (~{budget:.0f} per problem), solution-only best-of-{k} "
                       f"(with a perfect verifier picking) reaches {_curve(evals['sft_solution'], [k])[0]:.3f} vs the "
                       f"trace model's pass@1 {_curve(evals[best], [1])[0]:.3f}.")
    c = paired("sft_astar", "sft_shuffled")
    if c:
        out.append(f"- Shuffled-trace control: A* order {c['acc_a']:.3f} vs shuffled {c['acc_b']:.3f} "
                   f"({c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]): "
                   f"{verdict(c, 'the order of the search matters', 'the scrambled order did better')}.")
    for rl_name in ("rl_grpo_trace", "rl_ei_trace", "rl_grpo_solution", "rl_ei_solution"):
        base = _init_of(d, rl_name)
        c1, ck = paired(rl_name, base, 1), (paired(rl_name, base, n) if n else None)
        if c1 and ck:
            left = "up (more problems solved at k = %d)" % n if ck["ci95"][0] > 0 else \
                   ("narrower at k = %d" % n if ck["ci95"][1] < 0 else "unchanged at k = %d" % n)
            out.append(f"- {rl_name} vs {base}: pass@1 {c1['acc_a']:.3f} vs {c1['acc_b']:.3f} "
                       f"({verdict(c1, 'improved', 'worse')}); the boundary is {left} "
                       f"(only RL {ck['only_a']}, only SFT {ck['only_b']}).")
            gap = [a - b for a, b in zip(_curve(evals[rl_name], range(1, n + 1)), _curve(evals[base], range(1, n + 1)))]
            signs = [(k, g > 0) for k, g in enumerate(gap, 1) if abs(g) > 1e-9]
            cross = next((k for (_, s0), (k, s1) in zip(signs, signs[1:]) if s0 != s1), None)
            if cross:
                ahead = "RL" if signs[0][1] else base
                out.append(f"  The pass@k curves cross at k = {cross}: {ahead} is ahead at small k, the other at large k.")
    best_any = max(evals, key=lambda m: evals[m]["greedy_acc"])
    out.append(f"- Best model: {best_any}, greedy accuracy {evals[best_any]['greedy_acc']:.3f}; "
               f"unbounded A* solves {sym.get('astar', [{'acc': float('nan')}])[-1]['acc']:.3f}.")
    out.append(f"\n**What it does not show.** One seed, {evals[best_any]['n_problems']} test problems and a small model "
               "trained for minutes: differences inside the CIs above are noise, and a result here says nothing about "
               "scale. Greedy accuracy of a symbolic search is not a property of the model; the matched-node comparison "
               "counts only the nodes a model's trace names, not the computation hidden in its weights.\n")
    return out


def write_report(run_dir):
    meta = _load(os.path.join(run_dir, "meta.json")) or {}
    parts = ["# nanosearch report", "",
             f"Preset `{meta.get('preset', '?')}`, written from the evaluation JSON in `{run_dir}`. "
             f"Pipeline wall time: {meta.get('wall_s', '?')} s on {meta.get('machine', '?')}.", ""]
    for task in ("countdown", "maze"):
        parts.append(task_report(run_dir, task))
    path = os.path.join(run_dir, "report.md")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(parts))
    os.replace(path + ".tmp", path)
    return f"wrote {path}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=list(PRESETS), default="cpu")
    p.add_argument("--task", choices=["countdown", "maze", "all"], default="all")
    p.add_argument("--out", default=None, help="run folder (default runs/<preset>)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    args = p.parse_args(argv)
    out = args.out or os.path.join("runs", args.preset)
    os.makedirs(out, exist_ok=True)
    pipe = Pipeline(out)
    for task in (["maze", "countdown"] if args.task == "all" else [args.task]):
        plan(pipe, task, PRESETS[args.preset][task], out, args.threads)
    pipe.run()
    import platform
    # the wall time of the work itself: the sum of the stages' own times, so a cached re-run keeps it
    stage_seconds = sum(json.load(open(os.path.join(out, ".stages", f)))["seconds"]
                        for f in os.listdir(os.path.join(out, ".stages")) if f.endswith(".json"))
    meta = {"preset": args.preset, "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
            f"{args.threads or os.cpu_count()}", "wall_s": round(stage_seconds)}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f)
    print(write_report(out))


if __name__ == "__main__":
    main()
