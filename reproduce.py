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

Every stage is cached and checked (stages.py): a finished stage leaves a marker with the settings it
ran with (the code version included) and the size and hash of each file it wrote, so a re-run skips
it, redoes it if a file was damaged, and an interrupted training resumes from its last checkpoint.
Killed anywhere and started again, the run ends with the same results.json, byte for byte. A run
folder is never overwritten with other settings: reproduce.py refuses and names the differences (use
--out for a new folder, or --overwrite to redo the changed stages in place). Before the first stage a
preflight checks, in seconds, each stage's settings against a sample of its data and the machine.
"""
import argparse
import glob
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from functools import partial

import budget
import checkpoint
import evaluate
import linearize
import preflight
import report
import search
import sizes
import train_rl
import train_sft
from distributed import set_threads
from files import read_jsonl
from model import pick_device
from presets import ONE_SEARCH_FORMATS, PRESETS, Preset, base_data, override
from results import collect
from stages import Pipeline
from tasks import get_task, load_problems, registry, write_jsonl




# ------------------------------------------------------------------------------------------------
# the stages of one task

def stratified_test(task_cls, preset, generate, path):
    """preset.n_test problems that need search and as many that do not, drawn in rounds from the
    held-out split (a fixed seed per round), in the order they were drawn."""
    def draw(seed):
        generate(max(50, 2 * preset.n_test), preset.test_split, seed, f"{path}.round")
        rows = read_jsonl(f"{path}.round")
        os.remove(f"{path}.round")
        return rows
    write_jsonl(path, sizes.stratified(task_cls, preset.n_test, draw))


NOT_STAGE_CODE = {"report.py", "results.py", "summary.py", "preflight.py"}  # results.json and the report are rewritten
# on every run; the preflight writes nothing


def code_version():
    """A hash of the Python files the stages run: a stage made by other code is another stage."""
    root = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(root, "*.py")) + glob.glob(os.path.join(root, "tasks", "*.py"))):
        if os.path.basename(path) not in NOT_STAGE_CODE:
            digest.update(os.path.relpath(path, root).encode() + b"\0" + open(path, "rb").read())
    return digest.hexdigest()[:12]


def sft_argv(task, preset, run, folder, seed):
    """train_sft.py's flags for one of the preset's SFT runs; folder: the task's run folder."""
    p = lambda *parts: os.path.join(folder, *parts)
    every = str(math.ceil(run.steps / (run.evals or preset.evals)))
    return ["--task", task, "--data", p("data", f"{run.data}.jsonl"), "--val", p("data", "val.jsonl"),
            "--out", p(run.name), "--max-steps", str(run.steps), "--batch-size", str(preset.batch_of(run)),
            "--length-groups", str(preset.length_groups), "--lr", str(preset.lr), "--warmup", str(min(100, run.steps // 10)),
            "--seed", str(seed + run.seed), "--eval-every", every, "--eval-n", str(preset.n_val), "--ckpt-every", every, "--resume",
            "--quiet", *preset.model]


@dataclass
class Job:
    """What every stage of one task needs (picklable: with --jobs > 1 a stage runs in its own process)."""
    task: str
    preset: Preset
    dir: str             # the task's folder in the run folder
    seed: int
    common: list         # flags every script gets: threads, device, precision
    jobs: int = 1        # models the evaluation decodes at once, one process each

    def p(self, *parts):
        return os.path.join(self.dir, *parts)


def generate(job, n, split, s, path):
    search.main(["--task", job.task, "--generate", str(n), "--split", split, "--seed", str(job.seed * 1000 + s),
                 "--out", path, *job.preset.generate])


def traces(job, algo, name, *extra, problems="train.jsonl"):
    search.main(["--task", job.task, "--algo", algo, "--problems", job.p("data", problems), "--seed", str(job.seed),
                 "--out", job.p("data", f"{name}.jsonl"), *job.preset.trace_flags, *extra])


def format_traces(job, base, name, problems="train.jsonl"):
    """Data `name` in the training format `base` (solution, a search algorithm, astar_costs, mcts_sim)."""
    if base == "astar_costs":  # Searchformer's A* format: the g and h costs kept, so not the preset's trace flags
        search.main(["--task", job.task, "--algo", "astar", "--problems", job.p("data", problems), "--seed",
                     str(job.seed), "--out", job.p("data", f"{name}.jsonl")])
    elif base in ONE_SEARCH_FORMATS or base in search.ALGOS:  # mcts_sim: each simulation walks from the root
        algo, extra = {"solution": ("astar", ["--format", "solution"]), "mcts_sim": ("mcts", ["--format", "mcts-sim"])}.get(base, (base, []))
        traces(job, algo, name, *extra, problems=problems)
    else:
        raise SystemExit(f"{job.task}/data: {name}: no way to write the format {base!r} from {problems}")


def make_data(job):
    preset, p, task_cls = job.preset, job.p, get_task(job.task)
    os.makedirs(p("data"), exist_ok=True)
    generate(job, preset.n_train, "train", 1, p("data", "train.jsonl"))
    stratified_test(task_cls, preset, lambda *a: generate(job, *a), p("data", "test.jsonl"))
    if preset.second_test:
        generate(job, 2 * preset.n_test, preset.second_test, 4, p("data", "test2.jsonl"))
    large = [run.data for run in preset.sft if run.data.endswith("_large")]
    if large:  # the frontier's large set, drawn as the training set is: its first n_train are the training set
        generate(job, preset.n_large, "train", 1, p("data", "train_large.jsonl"))
        if read_jsonl(p("data", "train_large.jsonl"))[:preset.n_train] != read_jsonl(p("data", "train.jsonl")):
            raise SystemExit(f"{job.task}/data: the large training set does not begin with the training set")
    # validation problems: the training distribution, but none of the training problems
    seen = {json.dumps(r, sort_keys=True) for r in read_jsonl(p("data", "train_large.jsonl" if large else "train.jsonl"))}
    generate(job, preset.n_val * 2, "train", 3, p("data", "val_all.jsonl"))
    val = [r for r in read_jsonl(p("data", "val_all.jsonl")) if json.dumps(r, sort_keys=True) not in seen]
    write_jsonl(p("data", "val.jsonl"), val[:preset.n_val])
    if any(run.problems == "train_search" for run in preset.rl):  # RL prompts where a search is needed,
        search_only = lambda rows: [r for r in rows if search.needs_search(task_cls(r))]  # and their validation
        write_jsonl(p("data", "train_search.jsonl"), search_only(read_jsonl(p("data", "train.jsonl"))))
        generate(job, preset.n_val * 8, "train", 5, p("data", "val_more.jsonl"))
        more = [r for r in read_jsonl(p("data", "val_more.jsonl")) if json.dumps(r, sort_keys=True) not in seen]
        write_jsonl(p("data", "val_search.jsonl"), search_only(more)[:preset.n_val])
    wanted = {base_data(run.data) for run in preset.sft}
    for data in ["solution", preset.trace, *sorted(wanted & {*ONE_SEARCH_FORMATS, *search.ALGOS} - {"solution", preset.trace})]:
        format_traces(job, data, data)
    if "shuffled" in wanted:
        traces(job, preset.trace, "shuffled", "--shuffle")
    if "swapped" in wanted:
        write_jsonl(p("data", "swapped.jsonl"), linearize.swap_traces(read_jsonl(p("data", f"{preset.trace}.jsonl")), job.seed))
    if "mix" in wanted:  # SoS-style: each problem's trace comes from one strategy, alternating
        traces(job, "dfs", "mix_dfs")
        traces(job, "bfs", "mix_bfs")
        pairs = zip(read_jsonl(p("data", "mix_dfs.jsonl")), read_jsonl(p("data", "mix_bfs.jsonl")))
        write_jsonl(p("data", "mix.jsonl"), [a if i % 2 == 0 else b for i, (a, b) in enumerate(pairs)])
    for data in sorted(set(large)):  # the same search and flags as the data it enlarges
        format_traces(job, base_data(data), data, problems="train_large.jsonl")
    for run in preset.sft:
        if run.data.endswith("_small"):
            write_jsonl(p("data", f"{run.data}.jsonl"), read_jsonl(p("data", f"{run.data.removesuffix('_small')}.jsonl"))[:preset.n_small])
    if preset.sizes:  # the size curve's held-out mazes, one file per side
        sizes.write_size_tests(task_cls, preset.sizes, preset.size_n, p("data"), job.seed)


def run_sft(job, run):
    train_sft.train(train_sft.parse_args(sft_argv(job.task, job.preset, run, job.dir, job.seed) + job.common))


def decode_cap(job, data):
    """--max-new-tokens for a model trained on `data` (nothing without a decode_cap)."""
    if job.preset.decode_cap is None:
        return []
    lengths = sorted(len(r["trace"].split()) + 1 for r in read_jsonl(job.p("data", f"{data}.jsonl")))
    return ["--max-new-tokens", str(math.ceil(job.preset.decode_cap * lengths[int(0.99 * (len(lengths) - 1))]))]


def run_rl(job, run):
    preset, p = job.preset, job.p
    val = p("data", "val_search.jsonl" if run.problems == "train_search" else "val.jsonl")
    steps = run.steps or preset.rl_steps
    # RL starts only at the edge of competence: validation greedy accuracy (within the budget) in rl_range
    acc = competence(p(run.init, "ckpt.pt"), val, run.budget) if run.budget else \
        report.last(read_jsonl(p(run.init, "log.jsonl")), "val_acc")
    os.makedirs(p(run.name), exist_ok=True)
    lo, hi = preset.rl_range
    if acc is None or not lo <= acc <= hi:
        evaluate.save_json(p(run.name, "skipped.json"), {"init": run.init, "val_acc": acc, "range": [lo, hi]})
        print(f"{run.name}: skipped, {run.init} has validation greedy accuracy {acc} outside [{lo}, {hi}]")
        return
    cap = ["--max-new-tokens", str(run.rollout_tokens or run.budget), "--budget", str(run.budget)] if run.budget else \
        decode_cap(job, preset.data_of()[run.name])
    train_rl.train(train_rl.parse_args(
        ["--init", p(run.init, "ckpt.pt"), "--problems", p("data", f"{run.problems}.jsonl"), "--val", val,
         "--out", p(run.name), "--algo", run.algo, "--steps", str(steps), "--seed", str(job.seed + run.seed),
         "--prompts", str(preset.rl_prompts), "--group", str(preset.rl_group), "--lr", str(preset.rl_lr),
         "--eval-every", str(max(1, steps // 4)), "--eval-n", str(preset.n_val), "--eval-samples", "4",
         "--dynamic-rounds", str(run.rounds), "--resume", "--quiet", *cap, *run.flags, *job.common]
        + (["--micro-batch", str(preset.rl_micro_batch)] if preset.rl_micro_batch else [])))


def evaluate_one(job, name):
    """One model on the test set (and the second test split), as evaluate.py would."""
    preset, p = job.preset, job.p
    ks = ",".join(str(k) for k in (1, 2, 4, 8, 16, 32, 64) if k <= preset.samples)
    cap, batch = decode_cap(job, preset.data_of()[name]), str(preset.eval_batch)
    evaluate.main(["--ckpt", p(name, "ckpt.pt"), "--problems", p("data", "test.jsonl"), "--n", str(preset.samples),
                   "--batch-size", batch, "--k", ks, "--seed", str(job.seed), "--out", p("eval", f"{name}.json"),
                   *cap, *job.common] + ([] if "--no-costs" in preset.trace_flags else ["--costs"])
                  + (["--checks"] if "--checks" in preset.trace_flags else []))
    if preset.second_test:
        evaluate.main(["--ckpt", p(name, "ckpt.pt"), "--problems", p("data", "test2.jsonl"), "--n", "0",
                       "--batch-size", batch, "--algos", "", "--out", p("eval", f"{name}.test2.json"), *cap, *job.common])
    if preset.sizes:
        evaluate.save_json(p("eval", f"{name}.sizes.json"), sizes.curve(
            p(name, "ckpt.pt"), {side: p("data", f"size{side}.jsonl") for side in preset.sizes}, preset.eval_batch))


def evaluate_all(job):
    """Every trained model (job.jobs at a time, one process each), then the symbolic sweep."""
    os.makedirs(job.p("eval"), exist_ok=True)
    names = [r.name for r in job.preset.sft + job.preset.rl if os.path.exists(job.p(r.name, "ckpt.pt"))]
    if job.jobs > 1:
        import multiprocessing
        with multiprocessing.get_context("spawn").Pool(job.jobs) as pool:
            pool.starmap(evaluate_one, [(job, name) for name in names])
    else:
        for name in names:
            evaluate_one(job, name)
    task_cls = get_task(job.task)
    problems = load_problems(job.p("data", "test.jsonl"), task_cls)[0]
    evaluate.save_json(job.p("eval", "symbolic.json"), budget.symbolic_sweep(
        task_cls, problems, job.preset.budgets, costs="--no-costs" not in job.preset.trace_flags,
        checks="--checks" in job.preset.trace_flags))


def add_stages(pipe, task, preset, out, threads=None, seed=0, device=None, jobs=1):
    """The task's stages: data, each SFT run (after the data), each RL run (after its start), the
    evaluation (after everything). With jobs > 1 each stage runs with `threads` threads."""
    key = {"task": task, "seed": seed, "code": code_version(), **asdict(preset)}
    common = (["--threads", str(threads)] if threads else []) + (["--device", device] if device else []) + \
        ["--dtype", preset.dtype]
    job = Job(task, preset, os.path.join(out, task), seed, common, jobs)
    first = f"{task}/data"
    pipe.add(first, 10, key, partial(make_data, job), job.p("data"), after=[s.name for s in pipe.stages])
    for run in preset.sft:
        pipe.add(f"{task}/{run.name}", run.steps * 0.14, key, partial(run_sft, job, run), job.p(run.name), after=[first])
    for run in preset.rl:
        pipe.add(f"{task}/{run.name}", (run.steps or preset.rl_steps) * 2.0, key, partial(run_rl, job, run),
                 job.p(run.name), after=[first, f"{task}/{run.init}"])
    pipe.add(f"{task}/evaluate", 120, key, partial(evaluate_all, job), job.p("eval"))


def competence(ckpt, problems, tokens):
    """Greedy accuracy of a checkpoint on a problem file within a budget of generated tokens."""
    model, vocab, task_cls = checkpoint.load(ckpt)
    rows = evaluate.evaluate(model, vocab, task_cls, load_problems(problems, task_cls)[0], n=0, algos=(),
                             batch_size=256, dtype="fp32")["per_problem"]
    return round(sum(budget.greedy_within(rows, tokens)) / max(1, len(rows)), 4)


def write_results(out, preset_name, presets, pipe, jobs=1):
    """results.json holds only what the run computed, so that two runs of the same settings on one
    machine write it byte for byte alike; the wall-clock times go to timings.json."""
    results = collect(out, preset_name, presets)
    # wall_s: this invocation's stages (a resumed run's covers only what it redid); stage_s: their sum.
    # A rerun that found every stage cached keeps the times of the run that made them.
    stages = pipe.seconds()
    if pipe.ran or not os.path.exists(os.path.join(out, "timings.json")):
        evaluate.save_json(os.path.join(out, "timings.json"), {
            "wall_s": round(pipe.wall_s, 1), "stage_s": round(sum(stages.values()), 1), "jobs": jobs, "stages": stages,
            "planned_s": pipe.estimates(), "planned_wall_s": round(pipe.makespan(jobs), 1)})
    evaluate.save_json(os.path.join(out, "results.json"), results)
    return results


def model_shape(task, preset):
    """The preset's model flags as numbers (the trainer's defaults where it is silent)."""
    a = train_sft.parse_args(["--task", task, "--data", "-", "--out", "-", *preset.model])
    return a.n_layer, a.n_head, a.n_embd, a.block_size


def run_preflight(presets, out, device, seed):
    """preflight.check for each task; exits naming every problem found."""
    errors = []
    for task, preset in presets.items():
        found, summary = preflight.check(task, preset, model_shape(task, preset), out, device, seed)
        errors += found
        if summary:
            print(summary)
    if errors:
        raise SystemExit("error: preflight found settings that would fail (nothing was run):\n  " + "\n  ".join(errors))


def parallelism(device, jobs=None, threads=None):
    """(stages at once, threads per stage): on a CPU, one stage per core on one thread each unless
    asked otherwise; on a GPU, one stage at a time."""
    cores = os.cpu_count() or 1
    jobs = jobs or (cores if device == "cpu" else 1)
    return jobs, threads or (max(1, cores // jobs) if jobs > 1 else None)


def timed_plan(presets, device, seed, threads=None, jobs=1):
    """The plan, with rates timed on this machine in seconds (preflight.measure: `jobs` stages side by
    side on `threads` threads each), and its device."""
    set_threads(device, threads)
    stages, dev = [], None
    for task, preset in presets.items():
        dev, found = preflight.estimate(task, preset, model_shape(task, preset), device, seed, jobs)
        stages += found
    return stages, dev


def show_plan(presets, device_kind, seed, device, threads=None, jobs=None):
    """Each stage's tokens, FLOPs, peak memory and time: timed here, or on another device's assumed rates."""
    if device_kind is None:
        jobs, threads = parallelism(device, jobs, threads)
        stages, dev = timed_plan(presets, device, seed, threads, jobs)
        dev.name += f", {jobs} stage(s) at a time"
        if jobs > 1:  # the stages in the order the pipeline runs them, `jobs` at once
            pipe = Pipeline(os.devnull)
            for task, preset in presets.items():
                add_stages(pipe, task, preset, os.devnull, threads, seed, None, jobs)
            pipe.set_estimates({name: secs for name, *_, secs in stages})
            print(f"with {jobs} stages at a time: about {pipe.makespan(jobs) / 60:.0f} min of wall time")
    else:
        dev = preflight.DEVICES[device_kind]
        stages = [s for task, preset in presets.items() for s in preflight.plan(task, preset, model_shape(task, preset), dev, seed)]
    preflight.print_plan(stages, dev)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="examples:\n  python reproduce.py\n  python reproduce.py --task countdown\n"
                                       "  python reproduce.py --preset cpu-long --out runs/long\n"
                                       "  python reproduce.py --set n_train=2000 --out runs/cpu-2000",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default="cpu")
    p.add_argument("--task", default=None, help=f"one task ({', '.join(t for t in registry() if t in PRESETS['cpu'])}) "
                   "or all (default: maze on the cpu presets, all on the others)")
    p.add_argument("--out", default=None, help="run folder (default runs/<preset>, or runs/<preset>-<task>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per stage (default: the cores, shared out among --jobs)")
    p.add_argument("--jobs", type=int, default=None,
                   help="stages run at once, one process each (default: 1 on a GPU; on a CPU, its cores: each stage "
                        "then runs on 1 thread, which also makes the bytes independent of the core count)")
    p.add_argument("--device", default=None, help="cuda | mps | cpu (default: the best available)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change one preset setting, e.g. n_train=2000, lr=1e-3, model='--n-layer 2 --block-size 256' "
                        "(repeatable)")
    p.add_argument("--plan", action="store_true",
                   help="print each stage's tokens, FLOPs, peak memory and time estimate, then exit without running")
    p.add_argument("--assume-device", choices=list(preflight.DEVICES), default=None,
                   help="with --plan: plan on this device's assumed rates (default: rates timed here, in seconds)")
    p.add_argument("--overwrite", action="store_true",
                   help="redo the stages whose settings changed, in place (their old outputs are removed)")
    args = p.parse_args(argv)
    presets = PRESETS[args.preset]
    default = list(presets)[:1] if args.preset.startswith("cpu") else list(presets)
    tasks = default if args.task is None else (list(presets) if args.task == "all" else [args.task])
    if any(t not in presets for t in tasks):
        p.error(f"--task: the {args.preset} preset has {', '.join(presets)} (or all)")
    suffix = "" if args.task is None or args.task == "all" else f"-{args.task}"
    out = args.out or os.path.join("runs", args.preset + (suffix if tasks != default else ""))
    chosen = {task: override(presets[task], args.set) for task in tasks}
    if args.plan:
        return show_plan(chosen, args.assume_device, args.seed, args.device or pick_device(), args.threads, args.jobs)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise SystemExit(f"error: cannot create the run folder {out}: {e.strerror}") from None
    device = args.device or pick_device()
    jobs, threads = parallelism(device, args.jobs, args.threads)
    pipe = Pipeline(out, args.overwrite)
    for task, preset in chosen.items():
        add_stages(pipe, task, preset, out, threads, args.seed, args.device, jobs)
    pipe.check()  # a refusal first: it costs nothing and changes nothing
    if not all(os.path.exists(pipe.marker(stage.name)) for stage in pipe.stages):
        run_preflight(chosen, out, device, args.seed)
        stages, dev = timed_plan(chosen, device, args.seed, threads, jobs)
        pipe.set_estimates({name: secs for name, *_, secs in stages})
        print(f"plan: {pipe.makespan(jobs) / 60:.1f} min, {jobs} stage(s) at a time, on {dev.name}")
    pipe.run(jobs)
    write_results(out, args.preset, chosen, pipe, jobs)
    print(report.write_report(out))


if __name__ == "__main__":
    main()
