"""
Reproduce: the whole Meta-CoT experiment in one command.

    python reproduce.py                          # CPU preset: mazes, <= 20 minutes on 2 cores
    python reproduce.py --task countdown         # CPU preset: Countdown, a second run
    python reproduce.py --preset cpu-long        # adds MCTS and DFS/BFS-mixture trace models
    python reproduce.py --preset gpu             # one GPU, the peers' scale

The experiment asks whether a small GPT trained on linearized search traces learns to search, and
whether RL on top expands what it solves. For each task the pipeline

1. generates problems: training problems, validation problems, and a held-out test set STRATIFIED
   into problems that need search (depth-first search must back up at least once) and problems a
   greedy walk solves directly -- trace training can only show its worth on the first kind;
2. writes the training data: solution-only, the trace of one search algorithm, and two controls
   with the same tokens but no search in them: the same clauses shuffled, and another problem's
   trace in front of the right answer ("swapped"); a smaller training set for the data-size sweep;
3. trains a GPT from scratch on each (SFT), evaluating on validation problems as it goes (the
   learning curves);
4. runs RL (GRPO) from the models at the edge of their competence;
5. evaluates every model on the test set (greedy accuracy, pass@k, legal-step rate, per stratum)
   and the symbolic searches at several node budgets, and applies the learned gate;
6. writes `results.json`, and `report.py` turns it into `report.md` and its figures.

Every stage is cached: a finished stage leaves a marker with the settings it ran with, so a re-run
skips it and an interrupted training resumes from its last checkpoint. A run folder is never
overwritten with other settings: reproduce.py refuses and names the differences (use --out for a
new folder, or --overwrite to redo the changed stages in place).
"""
import argparse
import json
import math
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field, replace

import evaluate
import linearize
import report
import search
import train_rl
import train_sft
from tasks import get_task, load_problems, registry, write_jsonl


@dataclass
class SFTRun:
    name: str            # the run folder, e.g. sft_dfs
    kind: str            # solution | trace | control
    data: str            # the training file in data/ (without .jsonl)
    steps: int


@dataclass
class RLRun:
    name: str
    init: str            # the SFT run it starts from
    algo: str = "grpo"


@dataclass
class Preset:
    """One task's pipeline; see the README for how each number was chosen (pilot table)."""
    generate: list       # search.py flags that set the problem size
    trace: str           # the search algorithm the trace models imitate
    trace_flags: list    # search.py trace flags (e.g. --no-costs)
    n_train: int         # training problems (every model sees the same ones)
    n_small: int         # the small training set of the data-size sweep (its first n_small problems)
    n_test: int          # held-out problems PER STRATUM (needs search / direct)
    n_val: int           # validation problems (learning curves, RL selection; never the test set)
    model: list          # train_sft.py model flags
    sft: list            # SFTRun
    rl: list             # RLRun
    batch_size: int = 32
    lr: float = 3e-3
    evals: int = 6       # validation points per SFT run (the learning curve)
    rl_steps: int = 20
    rl_prompts: int = 16
    rl_group: int = 8
    rl_lr: float = 5e-5
    samples: int = 16    # samples per test problem for pass@k
    budgets: list = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])
    test_split: str = "test"
    second_test: str | None = None  # another held-out split, greedy only (Countdown: SoS's held-out targets)


def standard_runs(trace, steps, solution_steps, small=False, extra=()):
    """Solution-only, the trace model, its two controls (same steps), the data-size sweep (if small:
    both kinds again on the preset's n_small problems, with the same steps: less data, same compute)
    and extra trace formats [(data, steps)]."""
    runs = [SFTRun("sft_solution", "solution", "solution", solution_steps), SFTRun(f"sft_{trace}", "trace", trace, steps),
            SFTRun("sft_shuffled", "control", "shuffled", steps), SFTRun("sft_swapped", "control", "swapped", steps)]
    if small:
        runs += [SFTRun("sft_solution_small", "solution", "solution_small", solution_steps),
                 SFTRun(f"sft_{trace}_small", "trace", f"{trace}_small", steps)]
    return runs + [SFTRun(f"sft_{data}", "trace", data, n) for data, n in extra]


_MAZE_CPU = dict(generate=["--height", "6", "--width-cells", "6"],
                 trace="dfs", trace_flags=["--no-costs"], n_train=4000, n_small=1000, n_test=150, n_val=100,
                 model=["--n-layer", "4", "--n-head", "4", "--n-embd", "128"])
# countdown-3 from 1..50 has 117,617 problems (97,119 in the training split): 10,000 is a twelfth
_COUNTDOWN_CPU = dict(generate=["--n-nums", "3", "--num-max", "50", "--target-max", "100"], trace="dfs",
                      trace_flags=["--no-costs"], n_train=10_000, n_small=0, n_test=150, n_val=100,
                      model=["--n-layer", "4", "--n-head", "4", "--n-embd", "128"], test_split="test-seen",
                      second_test="test")
_GPU_MODEL = ["--n-layer", "8", "--n-head", "8", "--n-embd", "384"]
PRESETS = {
    "cpu": {
        # the data-size sweep does not fit in 20 minutes here: it runs in cpu-long (README, pilots)
        "maze": Preset(**_MAZE_CPU, sft=standard_runs("dfs", 2500, 1000), rl_steps=100, evals=5,
                       rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")]),
        "countdown": Preset(**_COUNTDOWN_CPU, sft=standard_runs("dfs", 2000, 1500),
                            rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")]),
    },
    # the CPU design plus the Meta-CoT proposal (MCTS traces) and SoS's DFS/BFS mixture, trained long
    # enough to pass the learned gate
    "cpu-long": {
        "maze": Preset(**_MAZE_CPU, sft=standard_runs("dfs", 2500, 1000, small=True,
                                                      extra=[("astar", 2500), ("mcts", 4000), ("mix", 2500)]),
                       rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution"),
                           RLRun("rl_ei_dfs", "sft_dfs", "expert-iteration")], rl_steps=100),
        "countdown": Preset(**_COUNTDOWN_CPU, sft=standard_runs("dfs", 4000, 3000, extra=[("mcts", 4000)]),
                            rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")], rl_steps=40),
    },
    # sized by computation (README, "The GPU preset"): Searchformer's A* format on 10x10 mazes next
    # to the compact DFS, Countdown-4 with SoS's rules on both splits, ~14M-parameter models
    "gpu": {
        "maze": Preset(generate=["--height", "10", "--width-cells", "10"], trace="dfs", trace_flags=["--no-costs"],
                       n_train=100_000, n_small=10_000, n_test=300, n_val=200, model=_GPU_MODEL,
                       sft=standard_runs("dfs", 6000, 6000, small=True, extra=[("astar_costs", 6000), ("mcts", 6000)]),
                       rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")],
                       batch_size=128, lr=1e-3, rl_steps=60, rl_prompts=32, rl_group=16, rl_lr=3e-5, samples=64,
                       budgets=[1, 2, 4, 8, 16, 32, 64, 128, 256]),
        "countdown": Preset(generate=["--n-nums", "4"], trace="dfs", trace_flags=["--no-costs"], n_train=200_000,
                            n_small=0, n_test=300, n_val=200, model=_GPU_MODEL,
                            sft=standard_runs("dfs", 6000, 6000, extra=[("mcts", 4000)]),
                            rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")],
                            batch_size=64, lr=1e-3, rl_steps=60, rl_prompts=32, rl_group=16, rl_lr=3e-5, samples=64,
                            budgets=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    },
}
# The same pipeline at toy size, for every registered task (each declares its own toy problem size):
# the test suite runs it end to end (tests/test_reproduce.py).
_SMOKE = dict(trace="dfs", trace_flags=["--no-costs"], n_train=64, n_small=32, n_test=4, n_val=8,
              model=["--n-layer", "1", "--n-head", "2", "--n-embd", "32"],
              sft=standard_runs("dfs", 20, 20, small=True, extra=[("mcts", 10)]),
              rl=[RLRun("rl_grpo_dfs", "sft_dfs")], batch_size=16, lr=2e-3, evals=2, rl_steps=2, rl_prompts=4,
              rl_group=4, rl_lr=1e-4, samples=4, budgets=[1, 4])
PRESETS["smoke"] = {name: Preset(generate=cls.tiny, second_test=cls.splits[1] if len(cls.splits) > 2 else None, **_SMOKE)
                    for name, cls in registry().items()}
# the GPU preset shortened to a few minutes, for benchmarks/gpu_smoke.sh
PRESETS["gpu-smoke"] = {task: replace(p, n_train=20_000, n_small=2000, n_test=50, n_val=100, rl_steps=5, samples=16,
                                      sft=[replace(r, steps=max(10, r.steps // 20)) for r in p.sft])
                        for task, p in PRESETS["gpu"].items()}
RL_RANGE = (0.1, 0.9)  # RL starts only from models at the edge of competence (validation greedy accuracy)


# ------------------------------------------------------------------------------------------------
# a tiny stage runner: cache by settings, never overwrite another run, show progress and an ETA

class Pipeline:
    def __init__(self, out, overwrite=False):
        self.out, self.overwrite, self.stages = out, overwrite, []

    def add(self, name, estimate_s, key, fn, output):
        """`output`: the folder the stage writes; --overwrite removes it before redoing the stage."""
        self.stages.append((name, estimate_s, json.loads(json.dumps(key, sort_keys=True, default=str)), fn, output))

    def marker(self, name):
        return os.path.join(self.out, ".stages", name.replace("/", "_") + ".json")

    def check(self):
        """Refuse, before anything runs, to redo a finished stage under other settings."""
        for name, _, key, _, _ in self.stages:
            path = self.marker(name)
            if os.path.exists(path) and not self.overwrite:
                old = json.load(open(path)).get("key")
                if old != key:
                    diff = ", ".join(f"{k}: {old.get(k)} -> {key.get(k)}" for k in sorted(set(old) | set(key))
                                     if old.get(k) != key.get(k))
                    raise SystemExit(f"error: {self.out} holds a finished stage {name} made with other settings "
                                     f"({diff}). Nothing was changed. Use --out NEW_FOLDER for a new run, or "
                                     f"--overwrite to redo the changed stages in this folder.")

    def run(self):
        os.makedirs(os.path.join(self.out, ".stages"), exist_ok=True)
        self.check()
        t0, spent_est, spent = time.time(), 0.0, 0.0
        total_est = sum(s[1] for s in self.stages)
        for k, (name, est, key, fn, output) in enumerate(self.stages, 1):
            marker = self.marker(name)
            if os.path.exists(marker):
                if json.load(open(marker)).get("key") == key:
                    print(f"[{k}/{len(self.stages)}] {name}: cached")
                    total_est -= est
                    continue
                # only with --overwrite (check() refused otherwise): the user asked for it to be redone,
                # and a resumed checkpoint of other settings must not leak into the new run
                print(f"[{k}/{len(self.stages)}] {name}: made with other settings; --overwrite removes {output}")
                os.remove(marker)
                shutil.rmtree(output, ignore_errors=True)
            pace = spent / spent_est if spent_est else 1.0
            print(f"\n[{k}/{len(self.stages)}] {name}  (elapsed {_clock(time.time() - t0)}, "
                  f"ETA {_clock((total_est - spent_est) * pace)})", flush=True)
            start = time.time()
            fn()
            took = time.time() - start
            spent, spent_est = spent + took, spent_est + est
            evaluate.save_json(marker, {"key": key, "seconds": took})
        print(f"\nall {len(self.stages)} stages done in {_clock(time.time() - t0)}")

    def seconds(self):
        return sum(json.load(open(self.marker(s[0])))["seconds"] for s in self.stages)


def _clock(seconds):
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def read_rows(path):
    return [json.loads(line) for line in open(path)]


# ------------------------------------------------------------------------------------------------
# the stages of one task

def stratified_test(task_cls, preset, generate, path):
    """preset.n_test problems that need search and as many that do not, drawn in rounds from the
    held-out split (a fixed seed per round), in the order they were drawn."""
    chosen, counts, seed = [], {True: 0, False: 0}, 100
    while min(counts.values()) < preset.n_test:
        tmp = f"{path}.round"
        generate(max(50, 2 * preset.n_test), preset.test_split, seed, tmp)
        for problem in read_rows(tmp):
            kind = search.needs_search(task_cls(problem))
            if counts[kind] < preset.n_test:
                counts[kind] += 1
                chosen.append(problem)
        os.remove(tmp)
        seed += 1
        if seed > 200:
            raise SystemExit(f"error: could not draw {preset.n_test} problems of each stratum; change the sizes")
    write_jsonl(path, chosen)


def plan(pipe, task, preset, out, threads, seed=0):
    task_cls = get_task(task)
    d = os.path.join(out, task)
    p = lambda *parts: os.path.join(d, *parts)
    key = {"task": task, "seed": seed, **asdict(preset)}
    common = ["--threads", str(threads)] if threads else []

    def generate(n, split, s, path):
        search.main(["--task", task, "--generate", str(n), "--split", split, "--seed", str(seed * 1000 + s),
                     "--out", path, *preset.generate])

    def traces(algo, name, *extra):
        search.main(["--task", task, "--algo", algo, "--problems", p("data", "train.jsonl"), "--seed", str(seed),
                     "--out", p("data", f"{name}.jsonl"), *preset.trace_flags, *extra])

    def make_data():
        os.makedirs(p("data"), exist_ok=True)
        generate(preset.n_train, "train", 1, p("data", "train.jsonl"))
        stratified_test(task_cls, preset, generate, p("data", "test.jsonl"))
        if preset.second_test:
            generate(2 * preset.n_test, preset.second_test, 4, p("data", "test2.jsonl"))
        # validation problems: the training distribution, but none of the training problems
        seen = {json.dumps(r, sort_keys=True) for r in read_rows(p("data", "train.jsonl"))}
        generate(preset.n_val * 2, "train", 3, p("data", "val_all.jsonl"))
        val = [r for r in read_rows(p("data", "val_all.jsonl")) if json.dumps(r, sort_keys=True) not in seen]
        write_jsonl(p("data", "val.jsonl"), val[:preset.n_val])
        wanted = {run.data.removesuffix("_small") for run in preset.sft}
        traces("astar", "solution", "--format", "solution")
        traces(preset.trace, preset.trace)
        for algo in sorted(wanted & set(search.ALGOS) - {preset.trace}):
            traces(algo, algo)
        if "astar_costs" in wanted:  # Searchformer's A* format: the g and h costs kept in every clause
            search.main(["--task", task, "--algo", "astar", "--problems", p("data", "train.jsonl"), "--seed", str(seed),
                         "--out", p("data", "astar_costs.jsonl")])
        if "shuffled" in wanted:
            traces(preset.trace, "shuffled", "--shuffle")
        if "swapped" in wanted:
            write_jsonl(p("data", "swapped.jsonl"), linearize.swap_traces(read_rows(p("data", f"{preset.trace}.jsonl")), seed))
        if "mix" in wanted:  # SoS-style: each problem's trace comes from one strategy, alternating
            traces("dfs", "mix_dfs")
            traces("bfs", "mix_bfs")
            pairs = zip(read_rows(p("data", "mix_dfs.jsonl")), read_rows(p("data", "mix_bfs.jsonl")))
            write_jsonl(p("data", "mix.jsonl"), [a if i % 2 == 0 else b for i, (a, b) in enumerate(pairs)])
        for run in preset.sft:
            if run.data.endswith("_small"):
                write_jsonl(p("data", f"{run.data}.jsonl"), read_rows(p("data", f"{run.data.removesuffix('_small')}.jsonl"))[:preset.n_small])

    pipe.add(f"{task}/data", 10, key, make_data, p("data"))

    def sft(run):
        def fn():
            train_sft.train(train_sft.parse_args(
                ["--task", task, "--data", p("data", f"{run.data}.jsonl"), "--val", p("data", "val.jsonl"),
                 "--out", p(run.name), "--max-steps", str(run.steps), "--batch-size", str(preset.batch_size),
                 "--lr", str(preset.lr), "--warmup", str(min(100, run.steps // 10)), "--seed", str(seed),
                 "--eval-every", str(math.ceil(run.steps / preset.evals)), "--eval-n", str(preset.n_val),
                 "--ckpt-every", str(math.ceil(run.steps / preset.evals)), "--resume", "--quiet", *preset.model, *common]))
        return fn

    for run in preset.sft:  # the ETA's first guess: seconds per step measured on the CPU preset
        pipe.add(f"{task}/{run.name}", run.steps * (0.08 if run.kind == "solution" else 0.14), key, sft(run), p(run.name))

    def rl(run):
        def fn():
            acc = report.last(read_log(p(run.init, "log.jsonl")), "val_acc")
            os.makedirs(p(run.name), exist_ok=True)
            if acc is None or not RL_RANGE[0] <= acc <= RL_RANGE[1]:
                evaluate.save_json(p(run.name, "skipped.json"), {"init": run.init, "val_acc": acc, "range": RL_RANGE})
                print(f"{run.name}: skipped, {run.init} has validation greedy accuracy {acc} outside {RL_RANGE}")
                return
            train_rl.train(train_rl.parse_args(
                ["--init", p(run.init, "ckpt.pt"), "--problems", p("data", "train.jsonl"), "--val", p("data", "val.jsonl"),
                 "--out", p(run.name), "--algo", run.algo, "--steps", str(preset.rl_steps), "--seed", str(seed),
                 "--prompts", str(preset.rl_prompts), "--group", str(preset.rl_group), "--lr", str(preset.rl_lr),
                 "--eval-every", str(max(1, preset.rl_steps // 4)), "--eval-n", str(preset.n_val), "--eval-samples", "4",
                 "--resume", "--quiet", *common]))
        return fn

    for run in preset.rl:
        pipe.add(f"{task}/{run.name}", preset.rl_steps * 2.0, key, rl(run), p(run.name))

    def evaluate_all():
        os.makedirs(p("eval"), exist_ok=True)
        ks = ",".join(str(k) for k in (1, 2, 4, 8, 16, 32, 64) if k <= preset.samples)
        for name in [r.name for r in preset.sft] + [r.name for r in preset.rl]:
            if os.path.exists(p(name, "ckpt.pt")):
                evaluate.main(["--ckpt", p(name, "ckpt.pt"), "--problems", p("data", "test.jsonl"), "--n", str(preset.samples),
                               "--batch-size", "256", "--k", ks, "--seed", str(seed), "--out", p("eval", f"{name}.json"), *common])
                if preset.second_test:
                    evaluate.main(["--ckpt", p(name, "ckpt.pt"), "--problems", p("data", "test2.jsonl"), "--n", "0",
                                   "--batch-size", "256", "--algos", "", "--out", p("eval", f"{name}.test2.json"), *common])
        problems = load_problems(p("data", "test.jsonl"), task_cls)[0]
        evaluate.save_json(p("eval", "symbolic.json"), evaluate.symbolic_sweep(
            task_cls, problems, preset.budgets, costs="--no-costs" not in preset.trace_flags))

    pipe.add(f"{task}/evaluate", 120, key, evaluate_all, p("eval"))


def read_log(path):
    return read_rows(path) if os.path.exists(path) else []


# ------------------------------------------------------------------------------------------------
# results.json: every number the report shows, from the evaluation files and the training logs

def stratum_numbers(res):
    return {"n": res["n_problems"], "greedy": res["greedy_acc"], "greedy_ci": res["greedy_acc_ci"],
            "pass_at": {k: v["mean"] for k, v in res.get("pass_at_k", {}).items()},
            "tokens": res["mean_tokens"], "legal_step_rate": res["legal_step_rate"], "answer_rate": res["answer_rate"]}


def task_results(d, preset):
    task_cls = get_task(os.path.basename(d))
    p = lambda *parts: os.path.join(d, *parts)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= preset.samples]
    models = {}
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
            data_rows = read_rows(p("data", f"{run.data}.jsonl"))
            data_rate = evaluate.data_legal_rate(task_cls, data_rows)
            entry = {"kind": run.kind, "format": "solution" if run.kind == "solution" else run.data,
                     "train_problems": len(data_rows), "steps": run.steps}
        else:
            entry = {"kind": "rl", "format": models[run.init]["format"], "init": run.init, "algo": run.algo,
                     "steps": preset.rl_steps}
            data_rate = models[run.init]["gate"]["data_legal_step_rate"]
        strata = evaluate.by_stratum(rows, ks)
        log = read_log(p(run.name, "log.jsonl"))
        entry |= {"gate": evaluate.gate(strata["all"], data_rate),
                  "strata": {name: stratum_numbers(s) for name, s in strata.items()},
                  "curve": [{k: r[k] for k in r if k in ("step", "trained_tokens", "val_acc", "val_legal_step_rate",
                                                         "val_answer_rate", "loss", "reward", "zero_var_groups")}
                            for r in log if "val_acc" in r or "reward" in r or r.get("step", 0) % 50 == 0]}
        if preset.second_test and os.path.exists(p("eval", f"{run.name}.test2.json")):
            second = json.load(open(p("eval", f"{run.name}.test2.json")))
            entry["second_test"] = {"split": preset.second_test, "n": second["n_problems"],
                                    "greedy": second["greedy_acc"], "greedy_ci": second["greedy_acc_ci"]}
        models[run.name] = entry
    sym = json.load(open(p("eval", "symbolic.json"))) if os.path.exists(p("eval", "symbolic.json")) else {}
    return {"test_problems": {"needs_search": preset.n_test, "direct": preset.n_test}, "samples": preset.samples,
            "models": models, "symbolic": sym}


def write_results(out, preset_name, tasks, pipe):
    results = {"preset": preset_name, "wall_s": round(pipe.seconds(), 1),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "tasks": {task: task_results(os.path.join(out, task), PRESETS[preset_name][task]) for task in tasks}}
    evaluate.save_json(os.path.join(out, "results.json"), results)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="examples:\n  python reproduce.py\n  python reproduce.py --task countdown\n"
                                       "  python reproduce.py --preset cpu-long --out runs/long",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default="cpu")
    p.add_argument("--task", default=None, help=f"one task ({', '.join(t for t in registry() if t in PRESETS['cpu'])}) "
                   "or all (default: maze on the cpu presets, all on the others)")
    p.add_argument("--out", default=None, help="run folder (default runs/<preset>, or runs/<preset>-<task>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="redo stages whose settings changed, in place")
    args = p.parse_args(argv)
    presets = PRESETS[args.preset]
    default = ["maze"] if args.preset.startswith("cpu") else list(presets)
    tasks = default if args.task is None else (list(presets) if args.task == "all" else [args.task])
    if any(t not in presets for t in tasks):
        p.error(f"--task: the {args.preset} preset has {', '.join(presets)} (or all)")
    suffix = "" if args.task is None or args.task == "all" else f"-{args.task}"
    out = args.out or os.path.join("runs", args.preset + (suffix if tasks != default else ""))
    os.makedirs(out, exist_ok=True)
    pipe = Pipeline(out, args.overwrite)
    for task in tasks:
        plan(pipe, task, presets[task], out, args.threads, args.seed)
    pipe.run()
    write_results(out, args.preset, tasks, pipe)
    print(report.write_report(out))


if __name__ == "__main__":
    main()
