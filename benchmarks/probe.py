"""
Three quick measurements of a device at the GPU preset's own shapes, for correcting the plan
(`python reproduce.py --preset gpu --plan`), whose GPU rates are assumptions until these run:

    decode  ms per decode step at the preset's evaluation batch, with an end-of-sequence token in
            play, checking for it every step and every 8 steps (host syncs per step counted)
    sft     ms per training step at the preset's batch and padded length: tokens/s and the share of a
            measured matmul peak (MFU)
    rl      one RL update (log-probs of all rollouts, micro-batched as the preset says, backward):
            seconds and peak memory

    python3 benchmarks/probe.py decode --device cuda [--task countdown]
    python3 benchmarks/probe.py sft --device cpu --small      # a dry run of the code path on a CPU

Each prints one line that starts with the probe's name. --small shrinks every shape to toy size.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import linearize  # noqa: E402
import preflight  # noqa: E402
import reproduce  # noqa: E402
from model import GPT, GPTConfig, autocast_ctx  # noqa: E402
from tasks import get_task  # noqa: E402
from bench_model import CountOps, sync  # noqa: E402


def shapes(task, small):
    """(model config, preset, padded training length, decode steps) of the GPU preset for `task`."""
    preset = reproduce.PRESETS["gpu"][task]
    vocab = len(linearize.build_vocab(get_task(task)))
    if small:
        return GPTConfig(block_size=128, vocab_size=vocab, n_layer=1, n_head=2, n_embd=32), preset, 64, 32
    lengths, generated = preflight.sample_lengths(task, preset, 0)
    trace = generated[preset.trace]
    block = preflight.context_length(lengths, None)
    pad = int(preflight.batch_longest(lengths[preset.trace], preset.batch_size))
    steps = int(preset.decode_cap * sorted(trace)[int(0.99 * (len(trace) - 1))])
    a = reproduce.model_shape(task, preset)
    return GPTConfig(block_size=block, vocab_size=vocab, n_layer=a[0], n_head=a[1], n_embd=a[2]), preset, pad, steps


def probe_decode(cfg, preset, steps, device, small):
    model = GPT(cfg).to(device).eval()
    batch = 8 if small else preset.eval_batch
    idx = torch.randint(1, cfg.vocab_size, (batch, 24), device=device)
    steps = min(steps, cfg.block_size - 24, 64 if small else 200)
    results = []
    for every in (1, 8):
        model.generate(idx, 4, eos_id=3, eos_every=every)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        _, _, lens = model.generate(idx, steps, eos_id=3, eos_every=every)
        sync(device)
        took = time.perf_counter() - t0
        with CountOps() as count:
            model.generate(idx, 16, eos_id=3, eos_every=every)
        results.append(f"eos check every {every}: {1e3 * took / steps:.2f} ms/step, {batch * steps / took:.0f} tok/s, "
                       f"{count.ops / 16:.0f} ops/step, {count.syncs / 16:.2f} host syncs/step")
    print(f"decode: batch {batch}, {steps} steps, {cfg.n_layer}L x {cfg.n_embd}: " + "; ".join(results))


def matmul_peak(device):
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(5):
        a @ b
    sync(device)
    return 5 * 2 * n ** 3 / (time.perf_counter() - t0)


def probe_sft(cfg, preset, pad, device, small):
    model = GPT(cfg).to(device).train()
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95))
    batch = 4 if small else preset.batch_size
    x = torch.randint(0, cfg.vocab_size, (batch, pad), device=device)

    def step():
        with autocast_ctx(str(device)):
            _, loss = model(x, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step(), step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(5):
        step()
    sync(device)
    took = (time.perf_counter() - t0) / 5
    flops = (6 * model.num_params() + 12 * cfg.n_layer * cfg.n_embd * pad) * batch * pad
    print(f"sft: batch {batch} x {pad}, {model.num_params() / 1e6:.1f}M parameters: {1e3 * took:.1f} ms/step, "
          f"{batch * pad / took:.0f} tok/s, MFU {flops / took / matmul_peak(device):.1%}")


def probe_rl(cfg, preset, steps, device, small):
    model = GPT(cfg).to(device).train()
    rows, micro = (8, 4) if small else (preset.rl_prompts * preset.rl_group, preset.rl_micro_batch or preset.rl_prompts * preset.rl_group)
    length = min(steps + 24, cfg.block_size)
    x = torch.randint(0, cfg.vocab_size, (rows, length), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    for s in range(0, rows, micro):  # the update's shape: log-probs of each micro-batch, backward, accumulate
        with autocast_ctx(str(device)):
            logp = model.token_logprobs(x[s:s + micro, :-1], x[s:s + micro, 1:])
        (-logp.mean() * micro / rows).backward()
    sync(device)
    peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GB peak" if device.type == "cuda" else "peak memory n/a on CPU"
    print(f"rl: {rows} rollouts x {length} tokens in micro-batches of {micro}: {time.perf_counter() - t0:.2f} s, {peak}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="probes: decode, sft, rl (see the module docstring)")
    p.add_argument("probe", choices=["decode", "sft", "rl"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--task", default="countdown", choices=list(reproduce.PRESETS["gpu"]))
    p.add_argument("--small", action="store_true", help="toy shapes: checks the code path, measures nothing")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    cfg, preset, pad, steps = shapes(args.task, args.small)
    if args.probe == "decode":
        probe_decode(cfg, preset, steps, device, args.small)
    elif args.probe == "sft":
        probe_sft(cfg, preset, pad, device, args.small)
    else:
        probe_rl(cfg, preset, steps, device, args.small)


if __name__ == "__main__":
    main()
