"""
Presets: every setting of the experiment, per task, in one place, each number with its reason.

A preset is a small dataclass per task: the problem size, the training data, the models (SFT runs
and RL runs from them), the test set's size and the evaluation's. `cpu` is the main job (25-32 minutes on
2 cores), `cpu-long` adds what does not fit there (every trace format, and the data-size frontier that
`cpu-frontier` runs alone), `cpu-sizes` trains one model for many maze sizes
and measures the size curve, `cpu-seeds` repeats the main job's headline models with two more
training seeds and trains solution-only to the trace model's tokens, `gpu` is the one-GPU version at the peers' scale
(sized by `reproduce.py --plan`), `smoke` and `gpu-smoke` are the same pipeline at toy size for the
tests and a short GPU slot. `--set FIELD=VALUE` changes one field from the command line (`override`).
How each number was chosen: docs/design.md (the pilots) and docs/gpu.md (the plan).
"""
import json
import shlex
from dataclasses import asdict, dataclass, field, replace

from tasks import registry


@dataclass
class SFTRun:
    name: str            # the run folder, e.g. sft_dfs
    kind: str            # solution | trace | control
    data: str            # the training file in data/ (without .jsonl)
    steps: int
    batch_size: int | None = None  # None: the preset's
    seed: int = 0        # added to the run's seed for its initialisation and batch order (the data stay the task's)
    evals: int | None = None       # validation points of its learning curve (None: the preset's)


@dataclass
class RLRun:
    name: str
    init: str            # the SFT run it starts from
    algo: str = "grpo"
    budget: int | None = None   # generated tokens per rollout; only an answer ended within them is rewarded
                                # (None: the context). Budgeted runs are judged within the budget too.
    rollout_tokens: int | None = None  # the rollouts' cap while training, when it differs from the budget
                                # (expert iteration learns shorter searches from samples a little over it)
    problems: str = "train"     # its prompts, a file in data/: train, or train_search (those that need search)
    steps: int | None = None    # None: the preset's rl_steps
    rounds: int = 1             # dynamic sampling: up to this many batches of prompts per step (train_rl --dynamic-rounds)
    flags: list = field(default_factory=list)  # further train_rl.py flags
    seed: int = 0               # added to the run's seed (an RL run of another training seed starts from its SFT run's)


@dataclass
class Preset:
    """One task's pipeline; how each number was chosen: docs/design.md (the pilot table)."""
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
    length_groups: int = 3  # train_sft --length-groups: each batch in groups of similar length (less padding)
    lr: float = 3e-3
    evals: int = 6       # validation points per SFT run (the learning curve)
    rl_steps: int = 20
    rl_prompts: int = 16
    rl_group: int = 8
    rl_lr: float = 5e-5
    samples: int = 16    # samples per test problem for pass@k
    budgets: list = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])  # node budgets of the symbolic sweep
    token_budgets: list = field(default_factory=lambda: [16, 24, 32, 40, 48, 64])  # generated tokens (budget.py)
    test_split: str = "test"
    second_test: str | None = None  # another held-out split, greedy only (Countdown: SoS's held-out targets)
    rl_range: tuple = (0.1, 0.9)    # RL starts only from models at the edge of competence (validation greedy accuracy)
    rl_micro_batch: int | None = None  # rollouts per forward/backward in the RL update (None: all at once)
    eval_batch: int = 256           # rows decoded together in evaluation
    decode_cap: float | None = None  # generate at most this many times the p99 length of the training traces
                                     # (None: up to the model's context, as on the CPU)
    dtype: str = "auto"             # train_sft/train_rl/evaluate --dtype (auto: bf16 where measured faster)
    sizes: list | None = None       # maze sides of the size curve (sizes.py): every model, greedy, on held-out mazes of each
    size_n: int = 50                # size-curve test mazes per stratum and side
    n_large: int = 0                # the large training set of the data-size frontier (data NAME_large): n_large
                                    # problems drawn as the training set is, so its first n_train ARE the training set

    def batch_of(self, run):
        """The batch size an SFT run trains with."""
        return run.batch_size or self.batch_size

    def data_of(self):
        """{model: the training data it learned from}; an RL run's is its SFT init's."""
        data = {run.name: run.data for run in self.sft}
        return data | {run.name: data.get(run.init) for run in self.rl}


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


# the training formats besides one search algorithm's own traces that one search of each problem
# writes (reproduce.format_traces), so that a data-size copy (NAME_large) of them can be made
ONE_SEARCH_FORMATS = ("solution", "astar_costs", "mcts_sim")


def base_data(data):
    """The training format a data-size copy holds (dfs_small, dfs_large -> dfs)."""
    return data.removesuffix("_small").removesuffix("_large")


def seeded(runs, seeds):
    """The runs again with training seeds 1..seeds-1, each named NAME_seedS; an RL run starts from its
    SFT run of the same seed. The data, the test set and the evaluation stay those of seed 0."""
    renamed = lambda run, s: dict(name=f"{run.name}_seed{s}", seed=s) | ({"init": f"{run.init}_seed{s}"} if isinstance(run, RLRun) else {})
    return [replace(run, **renamed(run, s)) for s in range(1, seeds) for run in runs]


def base_name(name):
    """The run a training-seed copy repeats (sft_dfs_seed2 -> sft_dfs); other names unchanged."""
    stem, _, s = name.rpartition("_seed")
    return stem if stem and s.isdigit() else name


# the DFS traces try the children in a random order at 30 % of the nodes (best first elsewhere): as
# accurate as best-first traces, and a policy with choices in it for RL (docs/design.md, stage 3)
_MAZE_CPU = dict(generate=["--height", "6", "--width-cells", "6"],
                 trace="dfs", trace_flags=["--no-costs", "--random-order", "0.3"], n_train=4000, n_small=1000, n_test=150, n_val=100,
                 model=["--n-layer", "4", "--n-head", "4", "--n-embd", "128"])
# countdown-3 from 1..50 has 117,617 problems (97,119 in the training split): 10,000 is a twelfth
_COUNTDOWN_CPU = dict(generate=["--n-nums", "3", "--num-max", "50", "--target-max", "100"], trace="dfs",
                      trace_flags=["--no-costs"], n_train=10_000, n_small=0, n_test=150, n_val=100,
                      model=["--n-layer", "4", "--n-head", "4", "--n-embd", "128"], test_split="test-seen",
                      second_test="test")
# The data-size frontier (issue 21): solution-only and DFS on 1,000, 4,000 and 16,000 mazes (the
# preset's training set is the first 4,000 of the 16,000, and the first 1,000 of it the small set).
# Steps grow with the data so that each model reaches its plateau without a long overfitting tail:
# solution-only's validation plateaus from ~1,300 steps on 4,000 mazes (docs/cpu-seeds) and was
# still rising at 2,500 steps on 20,000 (issue 21); the small DFS model peaked at ~1,700 steps on
# 1,000 mazes and then fell (docs/design.md, run B).
FRONTIER = [SFTRun("sft_solution_small", "solution", "solution_small", 1000),
            SFTRun("sft_dfs_small", "trace", "dfs_small", 1500),
            SFTRun("sft_solution_large", "solution", "solution_large", 4000),
            SFTRun("sft_dfs_large", "trace", "dfs_large", 3000)]
_GPU_MODEL = ["--n-layer", "8", "--n-head", "8", "--n-embd", "384"]
# Decoding dominates a GPU run (python reproduce.py --preset gpu --plan --assume-device h100): 16
# samples per problem (pass@16, as on the CPU), 1,024 rows per decoding batch, generation capped at
# 1.2x the p99 length of the model's training traces, and the RL update in micro-batches of 64.
_GPU_DECODE = dict(samples=16, eval_batch=1024, decode_cap=1.2, rl_micro_batch=64,
                   length_groups=1)  # (length groups were measured on CPUs only: a GPU keeps its one padded batch)
PRESETS = {
    "cpu": {
        # the data-size sweep does not fit in 20 minutes here: it runs in cpu-long (README, pilots).
        # 3,000 steps for the trace model and its controls: at 2,500 seed 0's DFS model missed the gate by
        # 0.004 (docs/cpu-seeds), at 3,000 it passed by 0.020 (docs/cpu-long).
        # RL from the trace model is expert iteration judged within a budget of 32 generated tokens (its
        # teacher solves 0.29 of the needs-search mazes there), on the training mazes that need search, a
        # verified answer counting only after legal clauses. Its rollouts run to 64 tokens, so that a
        # search a little too long for the budget still yields its shortest verified sample; 200 steps,
        # since from ~250 on it drops the search (docs/design.md, stage 3, second round of pilots). GRPO
        # from the trace model is left to the pilots: its clauses fell below the gate there and in this
        # run before (0.933). From solution-only, GRPO unbudgeted, as before.
        "maze": Preset(**_MAZE_CPU, sft=standard_runs("dfs", 3000, 1000), rl_steps=100, evals=5,
                       rl=[RLRun("rl_ei_dfs", "sft_dfs", "expert-iteration", budget=32, rollout_tokens=64,
                                 problems="train_search", steps=200, flags=["--legal-trace"]),
                           RLRun("rl_grpo_solution", "sft_solution")]),
        "countdown": Preset(**_COUNTDOWN_CPU, sft=standard_runs("dfs", 2000, 1500),
                            rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")]),
    },
    # issue 21: which search is best to learn from, and the data-size frontier. Every trace format of
    # the pipeline on the same 4,000 mazes, model and test set, each with a learning curve of 10
    # points, so that the steps it needs to pass the gate are read from its curve: DFS (3,000 steps:
    # at 2,500 one seed of three missed the gate by 0.004), A* without costs (52 words a trace, DFS's
    # ~30: 2,500) and with them (Searchformer's format, 137 words: 3,000), MCTS in tree order (4,000:
    # the pilot's model was at 0.939 at 3,000), MCTS per simulation (81 words) and SoS's DFS/BFS
    # mixture (2,500 each: within the budget, not the steps a pilot found); and the FRONTIER.
    # No controls and no RL here: the main job and cpu-seeds have them.
    "cpu-long": {
        "maze": Preset(**_MAZE_CPU, n_large=16_000, evals=10, rl=[], sft=[
            SFTRun("sft_solution", "solution", "solution", 2500), SFTRun("sft_dfs", "trace", "dfs", 3000),
            SFTRun("sft_astar", "trace", "astar", 2500), SFTRun("sft_astar_costs", "trace", "astar_costs", 3000),
            SFTRun("sft_mcts", "trace", "mcts", 4000), SFTRun("sft_mcts_sim", "trace", "mcts_sim", 2500),
            SFTRun("sft_mix", "trace", "mix", 2500)] + FRONTIER),
        "countdown": Preset(**_COUNTDOWN_CPU, sft=standard_runs("dfs", 4000, 3000, extra=[("mcts", 4000)]),
                            rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")], rl_steps=40),
    },
    # issue 20: one model for many maze sizes. Mazes of 4x4..8x8 mixed, each at its own offset in a
    # 12x12 canvas (maze-canvas: every cell token trained, so a larger maze needs no untrained word),
    # and the size curve on 4x4..12x12. The pilots (docs/design.md, "Maze sizes"): at 1,500 steps on
    # 4,000 mazes every canvas encoding was far from learned (legal-step rate 0.08-0.23), and the
    # first run's DFS model, 4,000 steps on 8,000 mazes, still gained 0.25 in its last 1,000 steps:
    # so 8,000 steps for the trace model and its controls, 4,000 for solution-only (it plateaued at
    # 3,500). fp32: on CPUs with native bf16 this model measures bf16 at 1.16-1.22x, on the auto
    # rule's 1.2x edge, where two runs could choose differently. The context holds a 12x12 DFS trace.
    "cpu-sizes": {
        "maze-canvas": Preset(generate=["--sizes", "4-8"], trace="dfs", trace_flags=["--no-costs", "--random-order", "0.3"],
                              n_train=8000, n_small=0, n_test=100, n_val=100,
                              model=["--n-layer", "4", "--n-head", "4", "--n-embd", "128", "--block-size", "512"],
                              sft=standard_runs("dfs", 8000, 4000), rl=[], evals=10, sizes=list(range(4, 13)), size_n=50,
                              dtype="fp32"),
    },
    # sized by computation (README, "The GPU preset"): Searchformer's A* format on 10x10 mazes next
    # to the compact DFS, Countdown-4 with SoS's rules on both splits, ~14M-parameter models
    "gpu": {
        "maze": Preset(generate=["--height", "10", "--width-cells", "10"], trace="dfs", trace_flags=["--no-costs"],
                       n_train=100_000, n_small=10_000, n_test=300, n_val=200, model=_GPU_MODEL,
                       sft=standard_runs("dfs", 6000, 6000, small=True, extra=[("mcts", 6000)]),
                       rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")],
                       batch_size=128, lr=1e-3, rl_steps=40, rl_prompts=32, rl_group=16, rl_lr=3e-5, **_GPU_DECODE,
                       budgets=[1, 2, 4, 8, 16, 32, 64, 128, 256]),
        "countdown": Preset(generate=["--n-nums", "4"], trace="dfs", trace_flags=["--no-costs"], n_train=100_000,
                            n_small=0, n_test=300, n_val=200, model=_GPU_MODEL, sft=standard_runs("dfs", 5000, 3000),
                            rl=[RLRun("rl_grpo_dfs", "sft_dfs"), RLRun("rl_grpo_solution", "sft_solution")],
                            batch_size=64, lr=1e-3, rl_steps=25, rl_prompts=32, rl_group=16, rl_lr=3e-5, **_GPU_DECODE,
                            budgets=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    },
}
# The same pipeline at toy size, for every registered task (each declares its own toy problem size):
# the test suite runs it end to end (tests/test_reproduce.py).
_SMOKE = dict(trace="dfs", trace_flags=["--no-costs"], n_train=64, n_small=32, n_test=4, n_val=8,
              model=["--n-layer", "1", "--n-head", "2", "--n-embd", "32"],
              sft=standard_runs("dfs", 20, 20, small=True, extra=[("mcts", 10)]),
              rl=[RLRun("rl_grpo_dfs", "sft_dfs", budget=24, problems="train_search", rounds=2, flags=["--legal-trace"])],
              batch_size=16, lr=2e-3, evals=2, rl_steps=2, rl_prompts=4, rl_group=4, rl_lr=1e-4, samples=4, budgets=[1, 4],
              token_budgets=[8, 24], rl_range=(0.0, 1.0))  # RL runs, whatever SFT learned
# (the sizes pilot's other encodings: maze-canvas runs the same pipeline code, and the test
# suite's time is kept for what differs)
PILOT_ONLY = ("maze-canvas-rc", "maze-canvas-sum", "maze-canvas-open")
PRESETS["smoke"] = {name: Preset(generate=cls.tiny, second_test=cls.splits[1] if len(cls.splits) > 2 else None, **_SMOKE)
                    for name, cls in registry().items() if name not in PILOT_ONLY}
# the canvas: the size curve too, and only the runs its size curve reads (the rest is maze's pipeline)
PRESETS["smoke"]["maze-canvas"] = replace(PRESETS["smoke"]["maze-canvas"], sizes=[4, 6], size_n=2,
                                          sft=standard_runs("dfs", 20, 20), n_small=0)
# the GPU preset's shapes at a few minutes (benchmarks/gpu_smoke.sh): every stage runs, learning is not the point
PRESETS["gpu-smoke"] = {task: replace(p, n_train=5000, n_small=1000, n_test=50, n_val=50, rl_steps=3, samples=4, evals=2,
                                      rl_range=(0.0, 1.0), sft=[replace(r, steps=max(20, r.steps // 30)) for r in p.sft])
                        for task, p in PRESETS["gpu"].items()}

# issue 23: the headline models with training seeds 0, 1 and 2 (the same data, test set and
# evaluation; seed 0's models were the cpu preset's when it ran), and solution-only trained to the trace model's
# training tokens: 8,270 steps, at 308.5 trained tokens a step against the DFS model's 1,020 (docs/cpu:
# 308,520 and 2,550,900 tokens), with a learning curve fine enough to show where it peaks. Left out,
# to keep the run near 80 minutes on 2 cores: the shuffled control (below solution-only, so no headline
# rests on it) and rl_grpo_dfs (not learned at seed 0: its seeds could conclude nothing).
# The runs are the cpu preset's as they were then, so that the preset still describes docs/cpu-seeds:
# 2,500 steps for the trace model and the swapped control, expert iteration's rollouts capped at the budget.
_CPU = PRESETS["cpu"]["maze"]
_HEADLINE = [r for r in standard_runs("dfs", 2500, 1000) if r.name != "sft_shuffled"]
_HEADLINE_RL = [RLRun("rl_ei_dfs", "sft_dfs", "expert-iteration", budget=32, problems="train_search", steps=200,
                      flags=["--legal-trace"]), RLRun("rl_grpo_solution", "sft_solution")]
PRESETS["cpu-seeds"] = {"maze": replace(
    _CPU, sft=_HEADLINE + [SFTRun("sft_solution_matched", "solution", "solution", 8270, evals=25)] + seeded(_HEADLINE, 3),
    rl=_HEADLINE_RL + seeded(_HEADLINE_RL, 3))}

# issue 21's frontier alone (about 40 minutes on a 2-core AMD EPYC): cpu-long's solution-only and DFS
# runs on 1,000, 4,000 and 16,000 mazes, the same data and steps, without the other trace formats
_LONG = PRESETS["cpu-long"]["maze"]
PRESETS["cpu-frontier"] = {"maze": replace(_LONG, sft=[r for r in _LONG.sft if base_data(r.data) in ("solution", "dfs")])}

# issue 21, third pass: Meta-CoT's two formats given the data their curves asked for, beside DFS and
# A* without costs, which passed on 16,000 mazes in the second pass (about 50 minutes here). A* without
# costs fit its 4,000 mazes (loss 0.018) while its validation legal-step rate stalled at 0.92-0.94:
# memorized, not learned; on 4x the mazes it passed. MCTS in tree order did not pass at 6,000 steps
# on 4,000 mazes (0.841) but did at 4,000 steps on 16,000 (a pilot, margin +0.004; its validation
# flat at 0.965-0.968 from step 3,200): 5,000 steps, the schedule stretched for a margin. A* with
# costs (137 words a trace) was flat at 0.79-0.87 over its last 1,500 steps on 4,000 mazes: the same
# remedy, with 4,000 steps, what fits beside the other three in one lane. In fp32: `auto` measured
# bf16 at 1.13-1.22x on a CPU with native bf16, on the edge of its 1.2x rule (docs/design.md).
# The longest stage first: the stages start in this order, two at a time, so A* with costs (~39 min)
# runs beside the other three (~42) instead of after two of them.
PRESETS["cpu-formats"] = {"maze": replace(_LONG, dtype="fp32", sft=[
    SFTRun("sft_astar_costs_large", "trace", "astar_costs_large", 4000), SFTRun("sft_dfs", "trace", "dfs", 3000),
    SFTRun("sft_mcts_large", "trace", "mcts_large", 5000), SFTRun("sft_astar_large", "trace", "astar_large", 3000)])}


def override(preset, assignments):
    """The preset with FIELD=VALUE assignments applied (--set): text fields take the text, lists of flags
    are split like a shell line, other values read as JSON (numbers, lists, null). The lists of runs
    are not settable."""
    for item in assignments:
        name, eq, text = item.partition("=")
        settable = [f for f in asdict(preset) if f not in ("sft", "rl")]
        if not eq or name not in settable:
            raise SystemExit(f"error: --set {item}: expected FIELD=VALUE with FIELD one of {', '.join(settable)}")
        old = getattr(preset, name)
        try:
            if isinstance(old, str):
                value = text
            elif isinstance(old, list) and all(isinstance(x, str) for x in old):
                value = shlex.split(text)
            else:
                value = json.loads(text)
        except (ValueError, json.JSONDecodeError) as e:
            raise SystemExit(f"error: --set {item}: {e}") from None
        if old is not None and not (isinstance(value, type(old)) or isinstance(old, (float, tuple)) and isinstance(value, (int, list))):
            raise SystemExit(f"error: --set {item}: {name} takes a {type(old).__name__}, like {json.dumps(old)}")
        preset = replace(preset, **{name: tuple(value) if isinstance(old, tuple) else value})
    return preset
