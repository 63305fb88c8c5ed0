"""
Speed candidates for the CPU preset, each measured side by side in one run on the machine at hand.

The main job spends most of its time in three SFT runs of the same shape (the trace model and its two
controls). Each candidate below is timed against its baseline on the preset's own training batches,
interleaved step by step (so that a slow spell of the machine falls on both), and reported as a ratio:

- vocabulary: the task's capped number words (tasks.Task.max_number) against every number word;
- length groups: each batch run as 3 groups of similar length (train_sft.length_groups) against one
  padded batch;
- torch.compile of the training step, its compile time included in the total of the run it would
  serve (--compile-steps), and of the decode step;
- processes: two 1-thread training processes side by side against one 2-thread process (throughput
  of steps, wall clock);
- validation checks: the seconds of one check (the preset's validation problems, greedy) against a
  training step, i.e. what each check costs in steps.

    python benchmarks/bench_speed.py                 # ~4 minutes on 2 cores
    python benchmarks/bench_speed.py --skip-compile  # without the compiler (~1.5 minutes less)

The data are made by reproduce.py's own data stage into --out (reused when already there).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import evaluate  # noqa: E402
import linearize  # noqa: E402
import train_sft  # noqa: E402
from bench_learn import machine, make_data, new_model  # noqa: E402
from presets import PRESETS  # noqa: E402
from tasks import get_task, load_problems, number_vocab  # noqa: E402


def step_fn(model, data, vocab, groups, remap=None):
    """One training step (forward, backward, AdamW) on a batch's rows, in `groups` length groups."""
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95))
    lengths = data.lengths()

    def step(rows):
        parts = [data.batch(g, vocab.pad) for g in train_sft.length_groups(rows, lengths, groups)]
        if remap is not None:  # the same tokens, numbered in another vocabulary
            parts = [(remap[x], torch.where(y >= 0, remap[y.clamp(min=0)], y)) for x, y in parts]
        n = sum(int((y != -1).sum()) for _, y in parts)
        opt.zero_grad(set_to_none=True)
        for x, y in parts:
            (model(x, y)[1] / n).backward()
        opt.step()
    return step


def interleaved(candidates, order, steps):
    """Median seconds per step of each candidate {name: step(rows)}, stepping them in turn on the
    same batches; the first two rounds are a warm-up."""
    times = {name: [] for name in candidates}
    for k in range(steps + 2):
        rows = order.rows(k)
        for name, step in candidates.items():
            t = time.perf_counter()
            step(rows)
            if k >= 2:
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def report(title, secs, base):
    print(f"\n[{title}]")
    for name, s in secs.items():
        print(f"  {name:<44} {1000 * s:8.1f} ms/step  {secs[base] / s:5.2f}x")


def side_by_side(args, steps):
    """Wall seconds of `steps` training steps: one process with 2 threads, then two 1-thread
    processes at once (each `steps` steps). Returns (one, both)."""
    def launch(threads):
        return subprocess.Popen([sys.executable, __file__, "--worker", str(threads), str(steps), "--out", args.out],
                                stdout=subprocess.PIPE, text=True)
    t = time.perf_counter()
    launch(2).wait()
    one = time.perf_counter() - t
    t = time.perf_counter()
    procs = [launch(1), launch(1)]
    for p in procs:
        p.wait()
    return one, time.perf_counter() - t


def worker(args, threads, steps):
    torch.set_num_threads(threads)
    task, preset = "maze", PRESETS["cpu"]["maze"]
    data, vocab, block = load(args, task, preset)
    step = step_fn(new_model(preset, task, len(vocab), block), data, vocab, 3)
    order = train_sft.BatchOrder(len(data), preset.batch_size, 0)
    for k in range(steps):
        step(order.rows(k))


def load(args, task, preset):
    folder = make_data(task, preset, args.out)
    task_cls = get_task(task)
    vocab = linearize.build_vocab(task_cls)
    data, _ = train_sft.encode_rows(os.path.join(folder, "data", f"{preset.trace}.jsonl"), task_cls, vocab)
    return data, vocab, 64 * -(-(int(data.lengths().max()) - 1) // 64)


def main(argv=None):
    p = argparse.ArgumentParser(description="Speed candidates for the CPU preset, measured side by side.")
    p.add_argument("--steps", type=int, default=30, help="timed steps per candidate")
    p.add_argument("--compile-steps", type=int, default=2500, help="steps of the run a compile time is spread over")
    p.add_argument("--skip-compile", action="store_true")
    p.add_argument("--out", default="runs/bench-speed")
    p.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args, *args.worker)
    torch.set_num_threads(os.cpu_count() or 1)
    task, preset = "maze", PRESETS["cpu"]["maze"]
    data, vocab, block = load(args, task, preset)
    print(f"machine: {machine()}\npreset cpu, {task}: {preset.trace} traces, batch {preset.batch_size}, model {' '.join(preset.model)}")
    order = train_sft.BatchOrder(len(data), preset.batch_size, 0)
    task_cls = get_task(task)

    # the vocabulary: every token renumbered into a vocabulary that also holds every number word
    full = linearize.Vocab(dict.fromkeys(vocab.itos + number_vocab()))
    remap = torch.tensor([full.stoi[t] for t in vocab.itos])
    secs = interleaved({f"all number words ({len(full)} words)": step_fn(new_model(preset, task, len(full), block), data, vocab, 1, remap),
                        f"capped number words ({len(vocab)} words)": step_fn(new_model(preset, task, len(vocab), block), data, vocab, 1)},
                       order, args.steps)
    report("vocabulary (one padded batch)", secs, next(iter(secs)))

    secs = interleaved({f"1 padded batch": step_fn(new_model(preset, task, len(vocab), block), data, vocab, 1),
                        f"2 length groups": step_fn(new_model(preset, task, len(vocab), block), data, vocab, 2),
                        f"3 length groups": step_fn(new_model(preset, task, len(vocab), block), data, vocab, 3),
                        f"4 length groups": step_fn(new_model(preset, task, len(vocab), block), data, vocab, 4)},
                       order, args.steps)
    report("length groups (capped vocabulary)", secs, "1 padded batch")

    if not args.skip_compile:
        model = new_model(preset, task, len(vocab), block)
        compiled = torch.compile(model, dynamic=True)
        t = time.perf_counter()
        step_fn(compiled, data, vocab, 3)(order.rows(0))
        compile_s = time.perf_counter() - t
        secs = interleaved({"eager, 3 length groups": step_fn(new_model(preset, task, len(vocab), block), data, vocab, 3),
                            "torch.compile, 3 length groups": step_fn(compiled, data, vocab, 3)}, order, args.steps)
        report(f"torch.compile of the training step (compiling took {compile_s:.0f} s)", secs, "eager, 3 length groups")
        eager, comp = secs.values()
        print(f"  over a {args.compile_steps}-step run, compile time included: "
              f"{eager * args.compile_steps / (comp * args.compile_steps + compile_s):.2f}x")
        decode_compile(preset, task, vocab, task_cls, block)

    val = load_problems(os.path.join(args.out, task, "data", "val.jsonl"), task_cls)[0]
    model = new_model(preset, task, len(vocab), block)
    step = step_fn(model, data, vocab, 3)
    secs = interleaved({"a training step": step}, order, 10)["a training step"]
    t = time.perf_counter()
    evaluate.greedy_counts(model, vocab, task_cls, val)  # (an untrained model runs to the context: the worst case)
    check = time.perf_counter() - t
    print(f"\n[validation checks] one check of {len(val)} problems takes {check:.1f} s = {check / secs:.0f} training steps "
          f"at most; {preset.evals} checks per run cost <= {100 * preset.evals * check / (secs * 2500 + preset.evals * check):.1f} % "
          f"of a 2500-step run")

    one, both = side_by_side(args, args.steps * 4)
    print(f"\n[processes] {args.steps * 4} steps: one 2-thread process {one:.1f} s; two 1-thread processes side by side "
          f"{both:.1f} s for twice the steps: {2 * one / both:.2f}x the throughput")


def decode_compile(preset, task, vocab, task_cls, block):
    """Greedy decoding of 256 random-token prompts, eager against a compiled model body."""
    model = new_model(preset, task, len(vocab), block).eval()
    prompts = [[vocab.bos] + torch.randint(4, len(vocab), (20,)).tolist() + [vocab.sep] for _ in range(256)]
    run = lambda: evaluate.complete(model, vocab, prompts, batch_size=256, max_new_tokens=40)
    t = time.perf_counter()
    run()
    eager = time.perf_counter() - t
    model._hidden = torch.compile(model._hidden, dynamic=True)
    t = time.perf_counter()
    run()
    first = time.perf_counter() - t
    t = time.perf_counter()
    run()
    comp = time.perf_counter() - t
    print(f"\n[torch.compile of the decode step] 256 rows x 40 tokens: eager {eager:.2f} s, compiled {comp:.2f} s "
          f"({eager / comp:.2f}x; the first compiled call took {first:.0f} s)")


if __name__ == "__main__":
    main()
