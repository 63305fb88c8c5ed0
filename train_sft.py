"""
Supervised training: teach a GPT, from scratch, to write search traces.

The data is a JSONL file made by search.py: each row holds a problem and the `trace` a symbolic
search wrote for it. A training sequence is `<bos> prompt <sep> trace <eos>`; the model learns to
continue the prompt, so the loss is on the trace, its answer and the end token, never on the prompt
(the problem is given, not predicted). `--loss-on answer` trains on the answer section alone -- the
same data, without asking the model to imitate the search -- and `--mask-wrong-branches` (Meta-CoT,
appendix C) trains only on the clauses that lie on the solution path.

Sequences are stored as one flat uint16 array plus offsets (a 500k-problem dataset is a few hundred
MB, not tens of GB of Python lists). A batch is a random draw of whole sequences, padded to the
longest; the draw is a pure function of (seed, step), so a resumed run sees exactly the batches an
uninterrupted one would. Optimization is AdamW with linear warm-up and cosine decay, gradients
clipped; `--dtype auto` runs the forward pass in bf16 only where one timed batch says it is faster
(model.resolve_dtype). Every `--eval-every` steps the model is run greedily on held-out problems and
scored by the strict verifier. Checkpoints hold model, optimizer, config, vocabulary, step, precision
and RNG state, are written atomically and loaded with weights_only=True.

Launched with torchrun, the same script runs DistributedDataParallel (NCCL on GPUs, gloo on CPUs):
each rank takes its slice of every global batch, the loss is normalized by the global token count so
that N processes compute exactly what one would (tests/test_distributed.py), held-out evaluation is
split across ranks, and only rank 0 logs and saves.
"""
import argparse
import array
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict

import numpy as np
import torch

import linearize
import runlog
from checkpoint import check_compatible, config_differences, load_checkpoint, save_checkpoint
from distributed import finish_distributed, global_sum, init_distributed, set_threads
from evaluate import sharded_greedy_stats
from model import DTYPES, GPT, GPTConfig, autocast_ctx, maybe_compile, pick_device, resolve_dtype
from tasks import ProblemError, get_task, load_problems, read_jsonl, registry


# ------------------------------------------------------------------------------------------------
# data

class TraceData:
    """Encoded sequences in one flat uint16 array. `loss_from[i]` is the first position of sequence
    i that is trained on; `mask` (optional, flat uint8) zeroes tokens on wrong branches."""

    def __init__(self, tokens, offsets, loss_from, mask=None):
        self.tokens, self.offsets, self.loss_from, self.mask = tokens, offsets, loss_from, mask

    def __len__(self):
        return len(self.offsets) - 1

    def lengths(self):
        return np.diff(self.offsets)

    def batch(self, rows, pad_id):
        """Inputs, targets (-1 = ignore) and loss weights for a list of sequence indices, right-padded."""
        T = int(max(self.offsets[r + 1] - self.offsets[r] for r in rows)) - 1
        x = torch.full((len(rows), T), pad_id, dtype=torch.long)
        y = torch.full((len(rows), T), -1, dtype=torch.long)
        for b, r in enumerate(rows):
            seq = torch.from_numpy(self.tokens[self.offsets[r]:self.offsets[r + 1]].astype(np.int64))
            n = len(seq) - 1
            x[b, :n], y[b, :n] = seq[:-1], seq[1:]
            y[b, :self.loss_from[r] - 1] = -1  # position t predicts token t+1: the prompt is never a target
            if self.mask is not None:
                keep = torch.from_numpy(self.mask[self.offsets[r] + 1:self.offsets[r + 1]].astype(bool))
                y[b, :n][~keep] = -1
        return x, y


def encode_rows(path, task_cls, vocab, loss_on="all", mask_wrong_branches=False, field="trace", skip_bad=False):
    """Read a search.py output file into a TraceData. Errors name file:line and field."""
    # Append into flat typed arrays (2 bytes a token), never a Python object per row or per token:
    # a 500k-row file then costs its token count in bytes, plus 16 bytes a row for the index arrays.
    wide = len(vocab) >= 2**16
    tokens, offsets, loss_from = array.array("i" if wide else "H"), array.array("q", [0]), array.array("q")
    masks = array.array("B")

    def add(row):  # everything is checked before anything is appended, so a skipped row leaves no trace
        task_cls.check(row)
        if not isinstance(row.get(field), str):
            raise ProblemError(f"missing or non-string field {field!r}")
        task = task_cls(row)
        prompt = linearize.prompt_tokens(task)
        trace = row[field].split() + [linearize.EOS]
        ids = vocab.encode(prompt + trace)  # ValueError for a token outside the vocabulary
        mask = linearize.solution_mask(task, trace[:-1]) if mask_wrong_branches else None
        start = len(prompt)
        if loss_on == "answer":
            start += max((k for k, t in enumerate(trace) if t in linearize.END_WORDS), default=0)
        tokens.extend(ids)
        offsets.append(offsets[-1] + len(ids))
        loss_from.append(start)
        if mask is not None:
            masks.extend([1] * len(prompt) + mask + [1])

    skipped = read_jsonl(path, add, skip_bad)
    if not loss_from:
        raise ProblemError(f"{path}: no usable rows")
    # np.frombuffer shares the arrays' memory: no second copy of the dataset
    data = TraceData(np.frombuffer(tokens, np.int32 if wide else np.uint16), np.frombuffer(offsets, np.int64),
                     np.frombuffer(loss_from, np.int64), np.frombuffer(masks, np.uint8) if mask_wrong_branches else None)
    return data, skipped


def check_fits(data, block_size, path):
    """Never truncate silently: a trace cut short teaches the model to stop searching mid-way."""
    lengths = data.lengths() - 1  # the model sees all but the last token as input
    over = int((lengths > block_size).sum())
    if over:
        raise SystemExit(f"error: {over} of {len(lengths)} sequences in {path} are longer than block_size "
                         f"{block_size} (longest {lengths.max()}). Raise --block-size to at least "
                         f"{lengths.max()}, or make shorter traces (e.g. --budget, or another format).")


class BatchOrder:
    """Which sequences form global batch `step`: a pure function of (seed, step), which is what
    makes exact resumption possible. Each epoch visits all sequences in a fresh shuffled order.
    (Sorting sequences by length within windows of batches would cut padding by a third on trace
    data, but on the 5x5 maze preset it slowed learning badly -- held-out accuracy 2% instead of 24%
    at step 600 -- so batches stay uniformly random. Padding is cut WITHIN a batch instead:
    length_groups.)"""

    def __init__(self, n, batch_size, seed):
        self.n, self.size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = n // self.size
        self.epoch, self.order = None, None

    def rows(self, step):
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self.epoch:  # one shuffle per epoch: cheap even for 500k sequences
            self.order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            self.epoch = epoch
        return self.order[k * self.size:(k + 1) * self.size].tolist()


def length_groups(rows, lengths, groups):
    """A batch's rows sorted by length and cut into `groups` runs of about equal size, each padded
    only to its own longest: the batch and its gradient are the same (the loss is a sum over tokens,
    normalized once for the whole batch), but a DFS batch of 32 mazes carries 59 % real tokens padded
    to its longest and 86 % in 3 groups; a CPU step ran 1.33-1.46x faster (docs/benchmarks.md)."""
    rows = sorted(rows, key=lambda r: (lengths[r], r))
    size = math.ceil(len(rows) / max(1, min(groups, len(rows))))
    return [rows[k:k + size] for k in range(0, len(rows), size)]


def lr_at(step, args):
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.max_steps - args.warmup))
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train a GPT from scratch on search traces (JSONL from search.py).",
                                epilog="example: python train_sft.py --task countdown --data data/astar.jsonl "
                                       "--val data/test.jsonl --out runs/astar --max-steps 2000")
    p.add_argument("--task", required=True, choices=list(registry()))
    p.add_argument("--data", required=True, help="training JSONL written by search.py (needs a 'trace' field)")
    p.add_argument("--val", help="held-out problems (interchange JSONL) for greedy accuracy during training")
    p.add_argument("--out", required=True, help="run folder: ckpt.pt, log.jsonl, sft.png")
    p.add_argument("--field", default="trace", help="which row field holds the sequence to learn")
    p.add_argument("--loss-on", choices=["all", "answer"], default="all", help="train on the whole trace or on the answer only")
    p.add_argument("--mask-wrong-branches", action="store_true", help="train only on clauses on the solution path")
    m = p.add_argument_group("model")
    m.add_argument("--n-layer", type=int, default=4)
    m.add_argument("--n-head", type=int, default=4)
    m.add_argument("--n-embd", type=int, default=128)
    m.add_argument("--dropout", type=float, default=0.0)
    m.add_argument("--block-size", type=int, default=None, help="context length (default: the longest sequence, rounded up to 64)")
    o = p.add_argument_group("optimization")
    o.add_argument("--batch-size", type=int, default=32, help="global batch (sequences), split across ranks")
    o.add_argument("--length-groups", type=int, default=3,
                   help="run each batch as this many groups of similar length, each padded to its own longest: "
                        "the same gradient with less padding (3: 1.3-1.5x faster steps on a CPU; 1: one padded batch)")
    o.add_argument("--max-steps", type=int, default=2000)
    o.add_argument("--lr", type=float, default=1e-3)
    o.add_argument("--warmup", type=int, default=100)
    o.add_argument("--weight-decay", type=float, default=0.1)
    o.add_argument("--grad-clip", type=float, default=1.0)
    o.add_argument("--seed", type=int, default=0)
    r = p.add_argument_group("running")
    r.add_argument("--log-every", type=int, default=10, help="write the training loss to log.jsonl every this many steps")
    r.add_argument("--eval-every", type=int, default=500)
    r.add_argument("--eval-n", type=int, default=100, help="held-out problems per evaluation")
    r.add_argument("--ckpt-every", type=int, default=500)
    r.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    r.add_argument("--stop-after", type=int, default=None,
                   help="checkpoint and exit after this many steps of the schedule (for time-boxed jobs; --resume continues)")
    r.add_argument("--device", default=None, help="cuda | mps | cpu (default: the best available)")
    r.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument("--dtype", choices=DTYPES, default="auto",
                   help="matmul precision (weights, loss and optimizer stay fp32); auto: bf16 on a CUDA GPU, and on a "
                        "CPU with native bf16 only if a few timed training steps run 1.2x faster in it; fp32 otherwise")
    r.add_argument("--skip-bad", action="store_true", help="skip malformed data lines (counted) instead of failing")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("max_steps", "batch_size", "length_groups", "n_layer", "n_head", "n_embd", "log_every", "eval_every",
                 "ckpt_every"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.n_embd % args.n_head:
        p.error(f"--n-embd {args.n_embd} is not divisible by --n-head {args.n_head}")
    return args


def load_data(args, task_cls, vocab, rank):
    """The training sequences, the held-out problems and the context length they need."""
    try:
        data, skipped = encode_rows(args.data, task_cls, vocab, args.loss_on, args.mask_wrong_branches,
                                    args.field, args.skip_bad)
        val = load_problems(args.val, task_cls, skip_bad=args.skip_bad)[0][:args.eval_n] if args.val else None
    except (ProblemError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    if skipped and rank == 0:
        print(f"skipped {skipped} malformed lines in {args.data}")
    longest = int(data.lengths().max()) - 1
    block_size = args.block_size or 64 * math.ceil(longest / 64)
    check_fits(data, block_size, args.data)
    return data, val, block_size


def build(args, config, vocab, device, ckpt_path, log_path, rank):
    """A fresh model and optimizer, or (with --resume and a checkpoint) the ones it saved. Returns
    (model, optimizer, step, trained tokens, the precision the checkpoint trained in or None)."""
    torch.manual_seed(args.seed)
    model = GPT(config).to(device)
    optimizer = model.configure_optimizers(args.weight_decay, args.lr, (0.9, 0.95))
    if not (args.resume and os.path.exists(ckpt_path)):
        if rank == 0 and os.path.exists(log_path):
            os.remove(log_path)  # a fresh run starts a fresh log
        return model, optimizer, 0, 0, None
    ckpt = load_checkpoint(ckpt_path)
    check_compatible(ckpt, vocab, config.block_size, args.data)
    differences = config_differences(ckpt["config"], config, ckpt_path)
    if differences:
        raise SystemExit(f"error: {ckpt_path} has another model config: {differences}")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"])
    if rank == 0:
        runlog.trim_log(log_path, ckpt["step"])
        print(f"resumed {ckpt_path} at step {ckpt['step']}")
    return model, optimizer, ckpt["step"], ckpt.get("trained_tokens", 0), ckpt.get("dtype")


def choose_dtype(args, model, data, order, vocab, device, resumed_in):
    """The precision to train in, and why (model.resolve_dtype). auto measures one training step (the
    run's first batch, forward and backward) in both; a resumed run keeps its checkpoint's choice, so
    that a measurement never switches precision half-way."""
    if args.dtype == "auto" and resumed_in:
        return resumed_in, "auto: as the checkpoint trained"
    x, y = data.batch(order.rows(0)[:args.batch_size], vocab.pad)
    x, y = x.to(device), y.to(device)

    def step(dtype):
        rng = torch.get_rng_state()  # dropout must not draw from the run's random stream
        with autocast_ctx(device, dtype):
            model(x, y)[1].backward()
        model.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)
    return resolve_dtype(args.dtype, device, step)


def train(args):
    from tqdm import tqdm
    device = args.device or pick_device()
    set_threads(device, args.threads)
    rank, world, device = init_distributed(device)
    if args.batch_size % world:
        raise SystemExit(f"error: --batch-size {args.batch_size} is not divisible by {world} processes")
    os.makedirs(args.out, exist_ok=True)
    ckpt_path, log_path = os.path.join(args.out, "ckpt.pt"), os.path.join(args.out, "log.jsonl")
    task_cls = get_task(args.task)
    vocab = linearize.build_vocab(task_cls)
    data, val, block_size = load_data(args, task_cls, vocab, rank)
    config = GPTConfig(block_size=block_size, vocab_size=len(vocab), n_layer=args.n_layer, n_head=args.n_head,
                       n_embd=args.n_embd, dropout=args.dropout, parts=linearize.word_parts(task_cls, vocab))
    # trained: the target tokens learned from so far (the x axis of the learning curves)
    raw_model, optimizer, step, trained, resumed_in = build(args, config, vocab, device, ckpt_path, log_path, rank)
    last_saved = step or None
    order = BatchOrder(len(data), args.batch_size, args.seed)
    dtype, why = choose_dtype(args, raw_model, data, order, vocab, device, resumed_in)
    if world > 1 and global_sum(int(dtype == "bf16"), world) not in (0, world):
        dtype, why = "fp32", "auto: the processes measured differently"  # every rank must train alike
    model = maybe_compile(raw_model, args.compile)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if device.startswith("cuda") else None)
    if rank == 0:
        print(f"{len(data)} sequences, longest {int(data.lengths().max()) - 1} tokens, block_size {block_size}, "
              f"{raw_model.num_params() / 1e6:.2f}M parameters, device {device}, {world} process(es), precision {dtype} ({why})")

    def checkpoint(rng):
        nonlocal last_saved
        last_saved = step
        save_checkpoint(ckpt_path, model=raw_model.state_dict(), optimizer=optimizer.state_dict(),
                        config=asdict(config), vocab=vocab.itos, task=args.task, step=step, trained_tokens=trained,
                        rng=rng, dtype=dtype, args={k: v for k, v in vars(args).items() if v is not None})

    def stop_diverged(what, value):
        # every rank sees the same global loss and (DDP-synchronized) gradient norm, so all stop together
        last = f"{ckpt_path} (step {last_saved}), left untouched" if last_saved is not None else "none written by this run"
        raise SystemExit(f"error: {what} is {value} at step {step}; stopping without saving. "
                         f"Last good checkpoint: {last}. Try a lower --lr.")

    local, cuda = args.batch_size // world, device.startswith("cuda")
    bar = tqdm(total=args.max_steps, initial=step, disable=rank != 0 or args.quiet, desc="sft")
    t0, tokens_seen, eval_s = time.time(), 0, 0.0  # eval_s: time spent on held-out evaluation
    model.train()
    stop = min(args.max_steps, args.stop_after or args.max_steps)
    # A checkpoint that is due is written only once a forward pass with its weights gave a finite
    # loss: weights one update away from blowing up are finite too, and saving them would overwrite
    # the last good checkpoint with a bad one. So each step first checks its loss, then saves the
    # weights that loss was computed with, then updates; after the last update, one more forward
    # pass (no gradient) vets the final weights.
    due = False
    lengths = data.lengths()
    while True:
        rng = torch.get_rng_state()  # where a run resumed at this step starts (dropout draws from it)
        rows = order.rows(step)
        groups = [data.batch(g, vocab.pad) for g in length_groups(rows[rank * local:(rank + 1) * local], lengths,
                                                                 args.length_groups)]
        # normalize by the GLOBAL count of trained tokens: DDP averages gradients over ranks, so
        # multiplying by world gives exactly the single-process loss and gradient (counted on the
        # CPU, before the copy, so that a GPU is not made to wait for it)
        n_local = sum(int((y != -1).sum()) for _, y in groups)
        lr = lr_at(step, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        n_global = global_sum(n_local, world)
        optimizer.zero_grad(set_to_none=True)
        loss_sum, padded = 0.0, 0
        for k, (x, y) in enumerate(groups):
            if cuda:  # pinned pages copy asynchronously, overlapping the previous step's work
                x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
            else:
                x, y = x.to(device), y.to(device)
            # DDP all-reduces the gradients once, after the last group's backward
            sync = world == 1 or k == len(groups) - 1 or step >= stop
            with autocast_ctx(device, dtype), torch.set_grad_enabled(step < stop), \
                    (nullcontext() if sync else model.no_sync()):
                _, part = model(x, y)
                if step < stop:
                    (part * world / max(n_global, 1)).backward()
            loss_sum += part.item()
            padded += x.numel()
        reported = global_sum(loss_sum, world) / max(n_global, 1)
        if not math.isfinite(reported):
            stop_diverged("loss", reported)
        if due and rank == 0:
            checkpoint(rng)  # the weights the loss was computed with: the gradient is not applied yet
        if step >= stop:
            break
        # a finite loss can still back-propagate inf/nan; stepping on it would poison the next checkpoint
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip or math.inf)
        if not math.isfinite(grad_norm):
            stop_diverged("the gradient norm", grad_norm.item())
        optimizer.step()
        step += 1
        trained += int(n_global)
        tokens_seen += global_sum(padded, world)
        if rank == 0:
            bar.update(1)
            bar.set_postfix(loss=f"{reported:.4f}")
            if step % args.log_every == 0 or step == stop:
                runlog.append(log_path, {"step": step, "loss": reported, "lr": lr, "trained_tokens": trained,
                                         "tok_per_s": tokens_seen / (time.time() - t0 - eval_s)})
        if val and (step % args.eval_every == 0 or step == args.max_steps):
            t_eval = time.time()
            stats = sharded_greedy_stats(raw_model, vocab, task_cls, val, device, rank, world, dtype)
            if rank == 0:  # train_s: seconds of training (this process, evaluations excluded) so far
                runlog.append(log_path, {"step": step, "trained_tokens": trained, **stats,
                                         "train_s": round(t_eval - t0 - eval_s, 2)})
                legal = stats["val_legal_step_rate"]
                bar.write(f"step {step}: loss {reported:.4f}, held-out greedy accuracy {stats['val_acc']:.3f}, "
                          f"answers {stats['val_answer_rate']:.2f}, legal steps {'-' if legal is None else f'{legal:.3f}'}")
            model.train()
            eval_s += time.time() - t_eval
        due = step % args.ckpt_every == 0 or step == stop
    bar.close()
    if rank == 0:
        runlog.plot_log(log_path, os.path.join(args.out, "sft.png"), f"SFT on {os.path.basename(args.data)}",
                        ["loss"], ["val_acc", "val_legal_step_rate"], left_log=True)
        print(f"done: {step} steps in {time.time() - t0:.0f}s; checkpoint {ckpt_path}")
    finish_distributed(world)
    return ckpt_path


if __name__ == "__main__":
    train(parse_args())
