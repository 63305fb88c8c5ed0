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
"""
import contextlib
import io
import math
import os
import shutil
import tempfile

import torch

import linearize
import search
from tasks import get_task, read_jsonl

SAMPLE = 40  # problems: enough to see the long traces of a format, few enough to write in a second


def data_flags(name, trace, trace_flags):
    """search.py flags that write the training format `name` (see reproduce.add_stages' make_data)."""
    name = name.removesuffix("_small")
    if name == "solution":
        return [["--algo", "astar", "--format", "solution"]]
    if name == "astar_costs":
        return [["--algo", "astar"]]
    if name == "mix":
        return [["--algo", "dfs", *trace_flags], ["--algo", "bfs", *trace_flags]]
    if name in ("shuffled", "swapped"):  # the trace's own clauses, reordered or borrowed
        return [["--algo", trace, *trace_flags]]
    return [["--algo", name, *trace_flags]]


def sample_lengths(task, preset, seed):
    """{training format: the token lengths (prompt + trace + end) of SAMPLE problems}. Raises
    ValueError when a token is outside the task's vocabulary."""
    task_cls = get_task(task)
    vocab = linearize.build_vocab(task_cls)
    lengths = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        problems = os.path.join(tmp, "problems.jsonl")
        search.main(["--task", task, "--generate", str(SAMPLE), "--split", "train", "--seed", str(seed * 1000 + 99),
                     "--out", problems, *preset.generate])
        for name in sorted({run.data.removesuffix("_small") for run in preset.sft}):
            lengths[name] = []
            for k, flags in enumerate(data_flags(name, preset.trace, preset.trace_flags)):
                path = os.path.join(tmp, f"{name}{k}.jsonl")
                search.main(["--task", task, "--problems", problems, "--out", path, "--workers", "1", *flags])

                def measure(row):
                    tokens = linearize.prompt_tokens(task_cls(row)) + row["trace"].split() + [linearize.EOS]
                    vocab.encode(tokens)
                    lengths[name].append(len(tokens))
                read_jsonl(path, measure)
    return lengths


def training_bytes(rows, length, n_layer, n_head, n_embd, vocab_size):
    """Activation memory of one forward+backward in fp32 (the usual transformer estimate: ~34 d +
    5 h T floats per token and layer, fp16 units doubled) plus the logits and their gradient."""
    per_layer = rows * length * n_embd * (34 + 5 * n_head * length / n_embd) * 2
    return n_layer * per_layer + 3 * rows * length * vocab_size * 4


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
    n_layer, n_head, n_embd, block_size = shape
    errors, names = [], {run.name for run in preset.sft}
    for run in preset.rl:
        if run.init not in names:
            errors.append(f"{task}/{run.name}: init {run.init!r} is not an SFT run of the preset ({', '.join(sorted(names))})")
    if any(run.data.endswith("_small") for run in preset.sft) and not 0 < preset.n_small <= preset.n_train:
        errors.append(f"{task}/data: n_small {preset.n_small} must lie in 1..n_train ({preset.n_train})")
    for run in preset.sft:
        if run.steps < preset.evals:
            errors.append(f"{task}/{run.name}: steps {run.steps} is fewer than evals {preset.evals}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        errors.append(f"{task}: device {device}: no CUDA device is visible to torch. Leave --device out to use the CPU.")
    if device == "mps" and not torch.backends.mps.is_available():
        errors.append(f"{task}: device mps is not available here. Leave --device out to use the CPU.")
    try:
        lengths = sample_lengths(task, preset, seed)
    except (ValueError, SystemExit) as e:
        return errors + [f"{task}/data: the sampled training data cannot be encoded: {e}"], ""
    longest = max(max(v) for v in lengths.values())
    for run in preset.sft:
        sampled = max(lengths[run.data.removesuffix("_small")]) - 1  # the model's input is all but the last token
        if block_size and sampled > block_size:
            errors.append(f"{task}/{run.name}: --block-size {block_size} is shorter than a sampled {run.data} sequence "
                          f"({sampled} tokens). Raise it to at least {64 * math.ceil(sampled * 1.25 / 64)} "
                          f"(a sample under-states the longest), or leave it out to size it from the data.")
    # a sample of SAMPLE problems under-states the longest of thousands: a quarter more, rounded like the trainer
    context = block_size or 64 * math.ceil(longest * 1.25 / 64)
    vocab_size = len(linearize.build_vocab(get_task(task)))
    params = parameter_count(n_layer, n_embd, vocab_size, context)
    need = {f"{task}/sft (batch {preset.batch_size})": training_bytes(preset.batch_size, context, n_layer, n_head, n_embd, vocab_size),
            f"{task}/rl (update of {preset.rl_prompts * preset.rl_group} rollouts)":
                training_bytes(preset.rl_prompts * preset.rl_group, context, n_layer, n_head, n_embd, vocab_size),
            f"{task}/evaluate (decoding 256 rows)": 256 * n_layer * 2 * context * n_embd * 4}
    free = free_memory(device)
    for stage, nbytes in need.items():
        if nbytes + 16 * params > free:
            errors.append(f"{stage}: needs about {_gb(nbytes + 16 * params)} of memory, {_gb(free)} is free on {device}. "
                          f"Lower the batch (batch_size, rl_prompts, rl_group), or shorten the sequences.")
    # the disk: every data file (as long as its sampled rows, ~6 bytes a token), a checkpoint per run
    # (weights and two Adam moments), evaluation records (a few kB per test problem and model)
    tokens = sum(sum(v) / len(v) for v in lengths.values()) * preset.n_train
    runs = len(preset.sft) + len(preset.rl)
    planned = 6 * tokens * 2 + runs * 12 * params + runs * 2 * preset.n_test * 4000
    disk = shutil.disk_usage(out).free
    if planned > disk:
        errors.append(f"{task}: the planned outputs need about {_gb(planned)} of disk, {_gb(disk)} is free under {out}.")
    summary = (f"preflight {task}: longest sampled sequence {longest - 1} tokens (context {context}); largest batch "
               f"~{_gb(max(need.values()) + 16 * params)} of {_gb(free)} free on {device}; outputs ~{_gb(planned)} "
               f"of {_gb(disk)} free disk")
    return errors, summary


def _gb(nbytes):
    return f"{nbytes / 2**30:.2f} GB"
