"""
Preflight: find, in seconds, the setting that would stop a long run an hour in.

A pipeline stage meets its data only when it runs: a trace longer than the model's context, a token
the vocabulary lacks, a batch bigger than the memory, a disk that fills up with checkpoints. Each of
these would be found late and cost the stages before it. So before the first stage, the pipeline
draws a few dozen problems exactly as the real data will be drawn, writes every training format for
them, and checks each stage's settings against that sample and against the machine:

- every sampled sequence fits the context (`--block-size`, when the preset sets one) and every token
  is in the task's vocabulary;
- the largest batch of each stage (SFT, the RL update, evaluation's decoding) fits the free memory,
  by an estimate of its activations, weights and optimizer state;
- the planned outputs (data, checkpoints, evaluations) fit the free disk;
- the chosen device exists.

A sample can only under-state the longest sequence, so a failure is certain and a pass is likely;
the SFT trainer checks the whole file again (train_sft.check_fits). The memory figures are estimates
(within a factor of about two), so only a batch estimated at more than the free memory fails.

The same sample makes the plan (`reproduce.py --plan`): each stage's tokens, FLOPs, peak memory and
time on a device, from rates measured on that device or, until someone measures them, assumed (the
table DEVICES says which). A padded batch costs its longest row, and a trained model decodes about
as far as its traces go, so both are estimated from the sample's lengths, not from the context.
"""
import contextlib
import io
import math
import os
import random
import shutil
import tempfile
from dataclasses import dataclass

import torch

import linearize
import search
from model import DTYPES
from presets import ONE_SEARCH_FORMATS, base_data
from tasks import get_task, read_jsonl

SAMPLE = 40  # problems: enough to see the long traces of a format, few enough to write in a second


def data_flags(name, trace, trace_flags):
    """search.py flags that write the training format `name` (see reproduce.add_stages' make_data)."""
    name = base_data(name)
    if name == "solution":
        return [["--algo", "astar", "--format", "solution"]]
    if name == "astar_costs":
        return [["--algo", "astar"]]
    if name == "mcts_sim":
        return [["--algo", "mcts", "--format", "mcts-sim", *trace_flags]]
    if name == "mix":
        return [["--algo", "dfs", *trace_flags], ["--algo", "bfs", *trace_flags]]
    if name in ("shuffled", "swapped"):  # the trace's own clauses, reordered or borrowed
        return [["--algo", trace, *trace_flags]]
    return [["--algo", name, *trace_flags]]


def sample_lengths(task, preset, seed):
    """Two dicts {training format: token lengths of SAMPLE problems}: of the whole sequences (prompt,
    trace, end: what training sees) and of what a model generates (trace and end). Raises ValueError
    when a token is outside the task's vocabulary."""
    task_cls = get_task(task)
    vocab = linearize.build_vocab(task_cls)
    whole, generated = {}, {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        problems = os.path.join(tmp, "problems.jsonl")
        search.main(["--task", task, "--generate", str(SAMPLE), "--split", "train", "--seed", str(seed * 1000 + 99),
                     "--out", problems, *preset.generate])
        for name in sorted({base_data(run.data) for run in preset.sft}):
            whole[name], generated[name] = [], []
            for k, flags in enumerate(data_flags(name, preset.trace, preset.trace_flags)):
                path = os.path.join(tmp, f"{name}{k}.jsonl")
                search.main(["--task", task, "--problems", problems, "--out", path, "--workers", "1", *flags])

                def measure(row):
                    prompt, trace = linearize.prompt_tokens(task_cls(row)), row["trace"].split() + [linearize.EOS]
                    vocab.encode(prompt + trace)
                    whole[name].append(len(prompt) + len(trace))
                    generated[name].append(len(trace))
                read_jsonl(path, measure)
    return whole, generated


def context_length(whole, block_size):
    """The context a model trained on the sampled data gets: --block-size, or the trainer's rule
    (the longest sequence rounded up to 64) on the sample's longest plus a quarter, since a sample of
    SAMPLE problems under-states the longest of thousands."""
    return block_size or 64 * math.ceil(max(max(v) for v in whole.values()) * 1.25 / 64)


def training_bytes(rows, length, n_layer, n_embd, vocab_size):
    """Activation memory of one forward+backward in fp32: the usual transformer estimate of ~34 d
    half-precision values per token and layer (Korthikanti et al. 2022), doubled for fp32, without
    their 5 h T attention term, since the fused attention kernel (causal, no mask) never stores the
    T x T scores; plus the logits and their gradient."""
    return n_layer * rows * length * n_embd * 34 * 2 + 3 * rows * length * vocab_size * 4


def parameter_count(n_layer, n_embd, vocab_size, block_size):
    return 12 * n_layer * n_embd ** 2 + (vocab_size + block_size) * n_embd


def free_memory(device):
    """Bytes free on the device: GPU memory, or the RAM the OS could give (MemAvailable)."""
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info()[0]
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check(task, preset, shape, out, device, seed=0):
    """Every problem found, as 'stage: setting: what is wrong. The fix.' (empty: go), and a summary
    line. `shape`: the model flags as numbers (n_layer, n_head, n_embd, block_size or None)."""
    errors, names = [], {run.name for run in preset.sft}
    for run in preset.rl:
        if run.init not in names:
            errors.append(f"{task}/{run.name}: init {run.init!r} is not an SFT run of the preset ({', '.join(sorted(names))})")
    if any(run.data.endswith("_small") for run in preset.sft) and not 0 < preset.n_small <= preset.n_train:
        errors.append(f"{task}/data: n_small {preset.n_small} must lie in 1..n_train ({preset.n_train})")
    if any(run.data.endswith("_large") for run in preset.sft) and preset.n_large < preset.n_train:
        errors.append(f"{task}/data: n_large {preset.n_large} must be at least n_train ({preset.n_train})")
    for run in preset.sft:
        if run.data.endswith("_large") and base_data(run.data) not in (*ONE_SEARCH_FORMATS, *search.ALGOS):
            errors.append(f"{task}/{run.name}: a large copy of {base_data(run.data)} is not made (only formats that one search of each problem writes)")
    if preset.dtype not in DTYPES:
        errors.append(f"{task}: dtype {preset.dtype!r} must be one of {', '.join(DTYPES)}")
    for run in preset.sft:
        if run.steps < (run.evals or preset.evals):
            errors.append(f"{task}/{run.name}: steps {run.steps} is fewer than evals {run.evals or preset.evals}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        return errors + [f"{task}: device {device}: no CUDA device is visible to torch. Leave --device out to use the CPU."], ""
    if device == "mps" and not torch.backends.mps.is_available():
        return errors + [f"{task}: device mps is not available here. Leave --device out to use the CPU."], ""
    try:
        sample = sample_lengths(task, preset, seed)
    except (ValueError, SystemExit) as e:
        return errors + [f"{task}/data: the sampled training data cannot be encoded: {e}"], ""
    block_size, lengths = shape[3], sample[0]
    for run in preset.sft:
        sampled = max(lengths[base_data(run.data)]) - 1  # the model's input is all but the last token
        if block_size and sampled > block_size:
            errors.append(f"{task}/{run.name}: --block-size {block_size} is shorter than a sampled {run.data} sequence "
                          f"({sampled} tokens). Raise it to at least {64 * math.ceil(sampled * 1.25 / 64)} "
                          f"(a sample under-states the longest), or leave it out to size it from the data.")
    # memory: each stage's peak, from the same plan that --plan prints
    stages = plan(task, preset, shape, DEVICES["h100" if device.startswith("cuda") else "cpu"], seed, sample)
    free = free_memory(device)
    for name, _, _, peak, _ in stages:
        if peak > free:
            errors.append(f"{name}: needs about {_gb(peak)} of memory, {_gb(free)} is free on {device}. Lower its batch "
                          f"(batch_size, rl_micro_batch, eval_batch), or shorten the sequences (decode_cap).")
    # the disk: every data file (~6 bytes a token), a checkpoint per run (weights and two Adam
    # moments, 12 bytes a parameter), evaluation records (a few kB per test problem and model)
    n_layer, _, n_embd, _ = shape
    params = parameter_count(n_layer, n_embd, len(linearize.build_vocab(get_task(task))), block_size or 1024)
    runs = len(preset.sft) + len(preset.rl)
    planned = 6 * preset.n_train * sum(sum(v) / len(v) for v in lengths.values()) + runs * (12 * params + 8000 * preset.n_test)
    disk = shutil.disk_usage(out).free
    if planned > disk:
        errors.append(f"{task}: the planned outputs need about {_gb(planned)} of disk, {_gb(disk)} is free under {out}.")
    summary = (f"preflight {task}: longest sampled sequence {max(max(v) for v in lengths.values()) - 1} tokens; "
               f"largest stage ~{_gb(max(s[3] for s in stages))} of {_gb(free)} free on {device}; outputs "
               f"~{_gb(planned)} of {_gb(disk)} free disk")  # (the time: the plan timed next, not these default rates)
    return errors, summary


# ------------------------------------------------------------------------------------------------
# the plan: each stage's tokens, FLOPs, peak memory and time on a device, before anything runs

@dataclass
class Device:
    name: str
    train_flops: float   # FLOP/s a small model.GPT trains at (forward + backward + AdamW)
    decode_flops: float  # FLOP/s of decoding's matmuls, on top of...
    step_ms: float       # ...the fixed cost of one decode step (kernel launches, Python, one sync)
    memory: float        # bytes the largest batch may use
    cores: int           # CPU cores for making the data
    search_ms: float = 3.0  # the evaluation's symbolic searches (all complete algorithms), per problem
    jobs: int = 1           # stages side by side at these rates (the evaluation decodes that many models at once)


DEVICES = {
    # measured on the project's 2-core CPUs (docs/benchmarks.md): model.GPT trains at 130-260 GFLOP/s
    # in fp32 depending on the host; the 1M model decodes a batch of 32 at ~3.4 ms a step, ~1.5 ms fixed
    "cpu": Device("this kind of 2-core CPU (rates measured)", 1.3e11, 3e10, 1.5, 16e9, 2),
    # ASSUMED, not measured (benchmarks/gpu_smoke.sh measures them): bf16 training at ~15 % of the
    # H100's 989 TFLOP/s (models this small use the card poorly); a decode step launch-bound at ~370
    # eager kernels of ~10 us; 80 GB of memory; a 16-core host
    "h100": Device("NVIDIA H100 80GB (rates ASSUMED, not yet measured)", 1.5e14, 1e14, 4.0, 80e9, 16),
}


def batch_longest(lengths, batch, draws=200):
    """The expected longest sequence of a random batch: what a padded batch really costs."""
    rng = random.Random(0)
    return sum(max(rng.choices(lengths, k=batch)) for _ in range(draws)) / draws


def group_sizes(lengths, groups):
    """(rows, padded length) of each length group of one batch, as train_sft.length_groups cuts it."""
    rows, size = sorted(lengths), math.ceil(len(lengths) / max(1, min(groups, len(lengths))))
    return [(len(rows[k:k + size]), rows[k:k + size][-1]) for k in range(0, len(rows), size)]


def padded_length(lengths, batch, groups, draws=200):
    """The expected padded length per row of a random batch run in `groups` length groups."""
    rng = random.Random(0)
    return sum(n * t for _ in range(draws) for n, t in group_sizes(rng.choices(lengths, k=batch), groups)) / (draws * batch)


def _timed(spec):
    """Seconds of one unit of a stage's work, in this process: training steps of the model on batches
    of the given lengths (after 3 untimed ones: a new process's first steps run slow), or one decode
    step of `rows` rows (random tokens: the cost does not depend on them)."""
    import time
    from model import GPT, GPTConfig
    kind, config, device, threads, seed, arg = spec
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model, vocab_size = GPT(GPTConfig(**config)).to(device), config["vocab_size"]
    if kind == "train":
        opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95))

        def work(parts_list):
            for parts in parts_list:
                opt.zero_grad(set_to_none=True)
                for n, t in parts:
                    x = torch.randint(0, vocab_size, (n, t - 1), device=device)
                    (model(x, x)[1] / x.numel()).backward()
                opt.step()
        work(arg[:3])
        t = time.perf_counter()
        work(arg[3:])
        return time.perf_counter() - t
    model.eval()
    rows, steps = arg
    idx = torch.randint(4, vocab_size, (rows, 20), device=device)
    model.generate(idx, steps, generator=torch.Generator(device=device).manual_seed(seed))
    t = time.perf_counter()
    model.generate(idx, steps, generator=torch.Generator(device=device).manual_seed(seed))
    return (time.perf_counter() - t) / steps


def measure(task, preset, shape, sample, device, seed=0, jobs=1):
    """This machine's rates, timed in seconds on the preset's own shapes: a few training steps of its
    model on batches with its trace data's lengths, decode steps at two batch sizes (their difference
    splits a step into a fixed part and a part per row), and the symbolic searches of the evaluation
    on sampled problems. With jobs > 1 the work runs in that many processes at once, as the stages
    will: the rates are one stage's while the others run. Returns a Device."""
    import multiprocessing
    import time
    n_layer, n_head, n_embd, block_size = shape
    task_cls = get_task(task)
    vocab_size = len(linearize.build_vocab(task_cls))
    context = context_length(sample[0], block_size)
    params = parameter_count(n_layer, n_embd, vocab_size, context)
    config = dict(block_size=context, vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    lengths, rng = sample[0][preset.trace], random.Random(seed)
    batch = next((preset.batch_of(r) for r in preset.sft if r.kind == "trace"), preset.batch_size)  # the longest runs'
    shapes = [group_sizes(rng.choices(lengths, k=batch), preset.length_groups) for _ in range(11)]
    flops = sum(n * (t - 1) * (6 * params + 12 * n_layer * (t - 1) * n_embd) for parts in shapes[3:] for n, t in parts)
    threads = torch.get_num_threads()

    def side_by_side(kind, arg):
        specs = [(kind, config, device, threads, seed + k, arg) for k in range(jobs)]
        if jobs == 1:
            return _timed(specs[0])
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            return max(pool.map(_timed, specs))
    train_flops = flops / side_by_side("train", shapes)
    small, large = side_by_side("decode", (16, 24)), side_by_side("decode", (256, 24))
    per_row = max(large - small, 1e-9) / 240
    fixed = max(small - 16 * per_row, 0.0)
    per_token = 2 * params + 4 * n_layer * 32 * n_embd / 2
    problems = task_cls.generate(SAMPLE // 2, random.Random(seed * 1000 + 98), "train", **task_cls.generate_options(preset.generate))
    t0 = time.perf_counter()
    for problem in problems:
        for algo in search.ALGOS:
            if search.ALGOS[algo].complete:
                search.run_search(task_cls(problem), algo)
    search_ms = 1e3 * (time.perf_counter() - t0) / len(problems)
    return Device(f"this machine ({threads} thread(s) per stage; rates timed just now)", train_flops,
                  per_token / per_row, 1e3 * fixed, free_memory(device), os.cpu_count() or 1, search_ms, jobs)


def plan(task, preset, shape, dev, seed=0, sample=None):
    """[(stage, tokens, FLOPs, peak bytes, seconds)] for one task's preset on device `dev`, from
    a sample of its data (`sample`: what sample_lengths returned, if already drawn)."""
    n_layer, _, n_embd, block_size = shape
    lengths, generated = sample or sample_lengths(task, preset, seed)
    vocab_size = len(linearize.build_vocab(get_task(task)))
    context = context_length(lengths, block_size)
    params = parameter_count(n_layer, n_embd, vocab_size, context)
    train_per_token = lambda t: 6 * params + 12 * n_layer * t * n_embd
    decode_per_token = lambda t: 2 * params + 4 * n_layer * t * n_embd / 2  # (attention over half the length on average)

    def decode(rows, steps, batch):
        """Seconds to decode `rows` sequences of up to `steps` new tokens, `batch` at a time."""
        chunks, per_step = math.ceil(rows / batch), min(rows, batch) * decode_per_token(steps) / dev.decode_flops
        return chunks * steps * (dev.step_ms / 1e3 + per_step), rows * steps, rows * steps * decode_per_token(steps)

    def longest(data, batch):
        """Decode steps for a batch of a model trained on `data`: a trained model stops about where
        its traces do, so a batch runs to its longest row's trace (within the cap and the context)."""
        sample = sorted(generated[base_data(data)])
        cap = preset.decode_cap and math.ceil(preset.decode_cap * sample[int(0.99 * (len(sample) - 1))])
        return math.ceil(min(batch_longest(sample, batch), cap or context, context))

    # the data: problems drawn in one process (~1.5 ms each for Countdown-4, SoS-sized), traces on every core (~0.5 ms)
    formats = len({base_data(run.data) for run in preset.sft}) + 1
    large = {run.data for run in preset.sft if run.data.endswith("_large")}  # each traced on the n_large problems
    n_large = preset.n_large if large else 0
    traced = preset.n_train * formats + n_large * len(large)
    out = [(f"{task}/data", 0, 0, 0, (preset.n_train + n_large + 4 * preset.n_test) * 1.5e-3 + traced * 5e-4 / dev.cores)]
    for run in preset.sft:
        batch = preset.batch_of(run)
        pad = padded_length(lengths[base_data(run.data)], batch, preset.length_groups)
        tokens = run.steps * batch * pad
        secs, _, flops = decode((run.evals or preset.evals) * preset.n_val, longest(run.data, 64), 64)  # the learning curve
        out.append((f"{task}/{run.name}", tokens, tokens * train_per_token(pad) + flops,
                    training_bytes(batch, pad, n_layer, n_embd, vocab_size) + 16 * params,
                    tokens * train_per_token(pad) / dev.train_flops + secs))
    data_of = preset.data_of()
    for run in preset.rl:
        rows, n_steps = preset.rl_prompts * preset.rl_group, run.steps or preset.rl_steps
        steps = min(run.rollout_tokens or run.budget or context, longest(data_of[run.init], rows))
        # dynamic sampling draws until a batch's worth of groups with signal is kept: about two batches
        # when half of them carry none (measured on the CPU maze run: 2.25 of 3)
        secs, tokens, flops = (x * min(run.rounds, 2.25) for x in decode(rows, steps, rows))
        # a policy-gradient step back-propagates every rollout, after the old and reference log-probs;
        # expert iteration fine-tunes on one kept sample per prompt at most (counted as every rollout,
        # the main job's plan was 3x over)
        update = preset.rl_prompts * steps * train_per_token(steps) if run.algo == "expert-iteration" else \
            rows * steps * (train_per_token(steps) + 2 * 2 * params)
        evals = decode(4 * preset.n_val * 5, steps, 64)[0]
        micro = preset.rl_micro_batch or rows
        peak = training_bytes(micro, steps, n_layer, n_embd, vocab_size) + rows * n_layer * 2 * steps * n_embd * 4
        out.append((f"{task}/{run.name}", n_steps * tokens, n_steps * (flops + update), peak + 16 * params,
                    n_steps * (secs + update / dev.train_flops) + evals))
    secs = tokens = flops = 0
    for data in data_of.values():  # every model, evaluated
        rows = 2 * preset.n_test * (1 + preset.samples) + (2 * preset.n_test if preset.second_test else 0)
        s, t, f = decode(rows, longest(data, preset.eval_batch), preset.eval_batch)
        secs, tokens, flops = secs + s, tokens + t, flops + f
    # the models are evaluated dev.jobs at a time; the symbolic searches: once per test problem for the
    # records in each evaluating process, and the sweep at every node budget
    secs = secs / dev.jobs + 2 * preset.n_test * dev.search_ms / 1e3 * (len(data_of) / dev.jobs + 1 + len(preset.budgets))
    out.append((f"{task}/evaluate", tokens, flops, preset.eval_batch * n_layer * 2 * context * n_embd * 4 + 4 * params, secs))
    return out


def estimate(task, preset, shape, device, seed=0, jobs=1):
    """(the device as measured here, the plan with its rates): each stage's seconds on this machine,
    `jobs` stages running side by side."""
    sample = sample_lengths(task, preset, seed)
    dev = measure(task, preset, shape, sample, device, seed, jobs)
    return dev, plan(task, preset, shape, dev, seed, sample)


def print_plan(stages, dev):
    print(f"plan on {dev.name}")
    print(f"{'stage':28} {'tokens':>10} {'FLOPs':>10} {'peak mem':>10} {'time':>9}")
    for name, tokens, flops, peak, secs in stages:
        over = "  (more than the device's memory!)" if peak > dev.memory else ""
        print(f"{name:28} {tokens / 1e6:9.1f}M {flops:10.2e} {_gb(peak):>10} {secs / 60:7.1f} m{over}")
    total = sum(s[-1] for s in stages)
    print(f"total: {total / 60:.0f} min")
    return total


def _gb(nbytes):
    return f"{nbytes / 2**30:.2f} GB"
