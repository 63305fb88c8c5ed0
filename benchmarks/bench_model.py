"""
Benchmark of model.GPT on the CPU or a CUDA GPU, every ratio measured side by side in one run:

1. training tokens/s (forward + backward + AdamW step) against a baseline assembled from
   torch.nn.TransformerEncoderLayer with the same architecture;
2. generation tokens/s with the KV cache against full recomputation, same model and prompts;
3. achieved training FLOP/s as a fraction of a measured matmul peak.

Ratios, not absolute numbers, are the point: both sides of each ratio run in the same process on the
same device, so a slower machine or a busy moment moves both. Each timing is the fastest of several
tries, since other work on the machine only ever adds time.

Training is measured in both precisions on either device: fp32, and the forward pass under bf16
autocast (as model.autocast_ctx trains on a GPU), each model against the baseline in the same
precision and against a matmul peak measured in that precision (2048^3 on a CPU, 8192^3 on a GPU,
large enough to keep it busy); a summary table sets them side by side, with the CPU's name and its
native bf16 instructions (avx512_bf16, amx_bf16), since whether bf16 pays on a CPU depends on them.
Generation runs as evaluate.py samples. GPU work is asynchronous, so every timing synchronizes
before and after. Batches are larger on a GPU, since the small CPU batches would leave it idle.

    python benchmarks/bench_model.py [--device {cpu,cuda}] [--threads N] [--quick]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model import GPT, GPTConfig, autocast_ctx  # noqa: E402


class TorchBaseline(nn.Module):
    """GPT's architecture from stock PyTorch parts: pre-LN causal encoder layers, tied head."""

    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        layer = nn.TransformerEncoderLayer(c.n_embd, c.n_head, dim_feedforward=4 * c.n_embd, dropout=0.0,
                                           activation='gelu', batch_first=True, norm_first=True, bias=False)
        self.encoder = nn.TransformerEncoder(layer, c.n_layer, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(c.n_embd, bias=False)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.head.weight = self.wte.weight
        self.register_buffer('mask', nn.Transformer.generate_square_subsequent_mask(c.block_size), persistent=False)

    def forward(self, idx, targets):
        T = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        # is_causal lets MultiheadAttention hand SDPA its causal kernel instead of the additive mask
        x = self.encoder(x, mask=self.mask[:T, :T], is_causal=True)
        logits = self.head(self.ln_f(x))
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())


class CountOps(TorchDispatchMode):
    """Counts the aten ops run, and the reads of a value back to the host (`.item()`, `if tensor`,
    `int(tensor)`), each of which makes a GPU's host wait for the device to finish."""

    def __init__(self):
        super().__init__()
        self.ops = self.syncs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        self.syncs += func.__name__.startswith(("_local_scalar_dense", "is_nonzero", "item"))
        return func(*args, **(kwargs or {}))


def sync(device):
    """Wait for queued GPU work; CUDA calls return before the kernels finish. No-op on the CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def best_time(fn, reps, device):
    """Fastest of reps calls: other processes on the machine only ever add time."""
    best = float('inf')
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def train_step(model, opt, x, y, device, dtype):
    def step():
        with autocast_ctx(device, dtype):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def bench_training(name, cfg, batch, warmup, rounds, device, dtype):
    torch.manual_seed(0)
    models = {'model.GPT': GPT(cfg).to(device), 'nn.TransformerEncoderLayer': TorchBaseline(cfg).to(device)}
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size), device=device)
    y = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size), device=device)
    steps = {}
    for label, m in models.items():
        # identical fused AdamW and decay split for both, so only the model differs
        steps[label] = train_step(m.train(), GPT.configure_optimizers(m, 0.1, 3e-4, (0.9, 0.95)), x, y, device, dtype)
        for _ in range(warmup):
            steps[label]()
    # the peak: one big matmul in the precision the training matmuls use, timed between the training
    # steps under the same conditions
    n_mm = 8192 if device.type == 'cuda' else 2048
    mm_dtype = torch.bfloat16 if dtype == 'bf16' else torch.float32
    a = torch.randn(n_mm, n_mm, device=device, dtype=mm_dtype)
    b = torch.randn(n_mm, n_mm, device=device, dtype=mm_dtype)
    steps['matmul'] = lambda: a @ b
    times = {label: float('inf') for label in steps}
    for _ in range(rounds):  # interleaved, so a busy moment on the machine can hit any of them
        for label, step in steps.items():
            times[label] = min(times[label], best_time(step, 1, device))
    n = models['model.GPT'].num_params()  # excludes wpe (a lookup, no matmul); the tied head is counted
    base = models['nn.TransformerEncoderLayer']
    assert n == sum(p.numel() for p in base.parameters()) - base.wpe.weight.numel(), 'architectures differ'
    flops_per_token = 6 * n + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size
    print(f'\n[train] {name} in {dtype}: {n / 1e6:.2f}M params (excl. wpe), {cfg.n_layer}L x {cfg.n_embd} x {cfg.n_head}h, '
          f'batch {batch} x {cfg.block_size}, FLOP/token = 6N + 12*L*C*T = {flops_per_token / 1e6:.1f}M')
    peak = 2 * n_mm ** 3 / times.pop('matmul')
    print(f'  {dtype} matmul peak ({n_mm}^3, best of {rounds}): {peak / 1e9:.1f} GFLOP/s')
    print(f'  {"model":<28}{"tok/s":>10}{"GFLOP/s":>10}{"of peak":>9}')
    tok_s = {label: batch * cfg.block_size / t for label, t in times.items()}
    for label, r in tok_s.items():
        print(f'  {label:<28}{r:>10.0f}{r * flops_per_token / 1e9:>10.1f}{r * flops_per_token / peak:>9.1%}')
    print(f'  ratio model.GPT / baseline: {tok_s["model.GPT"] / tok_s["nn.TransformerEncoderLayer"]:.2f}x')
    return tok_s["model.GPT"], tok_s["nn.TransformerEncoderLayer"], tok_s["model.GPT"] * flops_per_token / peak


def bench_generation(cfg, batch, new_tokens, reps, device):
    torch.manual_seed(0)
    model = GPT(cfg).to(device).eval()
    lens = torch.randint(16, 49, (batch,))
    idx = torch.randint(1, cfg.vocab_size, (batch, int(lens.max()))).to(device)
    lens = lens.to(device)
    def timed(fn, reps):
        return best_time(lambda: fn(idx, new_tokens, temperature=1.0, prompt_lens=lens), reps, device)
    model.generate(idx, 8, prompt_lens=lens), model.generate_nocache(idx, 8, prompt_lens=lens)  # warm-up
    t_cache, t_nocache = timed(model.generate, reps), timed(model.generate_nocache, 1)
    print(f'\n[generate] {model.num_params() / 1e6:.2f}M params, batch {batch}, {new_tokens} new tokens each, '
          f'left-padded prompts of 16-48 tokens, sampling, no eos')
    print(f'  {"path":<28}{"tok/s":>10}')
    print(f'  {"KV cache":<28}{batch * new_tokens / t_cache:>10.0f}')
    print(f'  {"full recompute":<28}{batch * new_tokens / t_nocache:>10.0f}')
    print(f'  speedup: {t_nocache / t_cache:.1f}x')
    # with an end-of-sequence token in play: how often decoding stops to ask whether a row finished
    # (token 3 as eos: a random model emits it rarely, so the rows run on and every step pays the check)
    print('  with eos, KV cache           tok/s   ops/step  host syncs/step')
    for every in (1, 8):
        t = best_time(lambda: model.generate(idx, new_tokens, prompt_lens=lens, eos_id=3, eos_every=every), reps, device)
        with CountOps() as count:
            model.generate(idx, 16, prompt_lens=lens, eos_id=3, eos_every=every)
        print(f'  {f"check every {every} step(s)":<26}{batch * new_tokens / t:>8.0f}{count.ops / 16:>11.0f}{count.syncs / 16:>17.2f}')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu',
                        help='cpu: fp32; cuda: bf16 autocast training, bf16 matmul peak (default: cpu)')
    parser.add_argument('--threads', type=int, default=os.cpu_count(), help='CPU threads (default: all cores)')
    parser.add_argument('--quick', action='store_true', help='fewer and shorter timings (~30 s)')
    args = parser.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        built = f'CUDA {torch.version.cuda}' if torch.version.cuda else 'without CUDA'
        parser.error(f'--device cuda: no CUDA GPU is available (torch {torch.__version__} built {built}); '
                     f'run on a GPU machine or use --device cpu')
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if device.type == 'cuda':
        print(f'torch {torch.__version__}, {torch.cuda.get_device_name(device)}')
    else:
        print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_name()}')
    small = GPTConfig(block_size=256, vocab_size=1100, n_layer=4, n_head=4, n_embd=128)
    large = GPTConfig(block_size=256, vocab_size=1100, n_layer=6, n_head=6, n_embd=384)
    # generation needs 48 + 256 positions; the extra position embeddings cost nothing per token
    gen = GPTConfig(**{**vars(small), 'block_size': 512})
    # batches per device: (0.9M training, 10M training, generation); a GPU needs far more rows to be busy
    quick_batch, full_batch = ((64, 32, 128), (128, 64, 128)) if device.type == 'cuda' else ((8, 2, 32), (16, 4, 32))
    batch, (warmup, rounds) = (quick_batch, (1, 3)) if args.quick else (full_batch, (2, 6))
    table = []
    for name, cfg, b in (('0.9M', small, batch[0]), ('10M', large, batch[1])):
        for dtype in ('fp32', 'bf16'):  # side by side, each against the baseline in the same precision
            table.append((name, dtype, *bench_training(name, cfg, b, warmup, rounds, device, dtype)))
    print(f'\n[train, summary] {"model":<6}{"dtype":>6}{"model.GPT tok/s":>17}{"baseline tok/s":>16}{"ratio":>7}{"MFU":>7}')
    for name, dtype, ours, base, mfu in table:
        print(f'{"":17}{name:<6}{dtype:>6}{ours:>17.0f}{base:>16.0f}{ours / base:>6.2f}x{mfu:>7.1%}')
    for name in ('0.9M', '10M'):
        fp32, bf16 = (next(t[2] for t in table if t[:2] == (name, d)) for d in ('fp32', 'bf16'))
        print(f'{"":17}{name}: bf16 trains at {bf16 / fp32:.2f}x the fp32 tokens/s')
    bench_generation(gen, batch=batch[2], new_tokens=32 if args.quick else 256, reps=2 if args.quick else 3, device=device)


def cpu_name():
    try:
        line = next(l for l in open('/proc/cpuinfo') if l.startswith('model name'))
        flags = next(l for l in open('/proc/cpuinfo') if l.startswith('flags')).split()
        bf16 = [f for f in ('avx512_bf16', 'amx_bf16') if f in flags]
        return f"{line.split(':', 1)[1].strip()} ({', '.join(bf16) or 'no native bf16'})"
    except (OSError, StopIteration):
        return 'unknown'

if __name__ == '__main__':
    main()
