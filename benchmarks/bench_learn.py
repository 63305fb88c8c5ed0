"""
Learning per second: how long a preset's models take, on this machine, to learn what they are shown.

Tokens per second (bench_model.py) is not the number that matters; how soon a model has learned is.
This benchmark trains a preset's SFT runs exactly as reproduce.py would (same data, same flags; only
the held-out checks come more often, which changes no weight) and reads, from the log, the seconds
of training (held-out evaluation excluded) until

- the trace model first passes the learned gate on the validation problems (answers emitted and
  clauses as legal as its training traces', both >= 0.95: evaluate.gate), and
- its validation accuracy first reaches the value it ends with;

then scores each final model greedily on the preset's test set, split by whether a problem needs search.

The same runs answer two more questions side by side:

- **does bf16 change what is learned?** `--dtype fp32 bf16 --seeds 0 1`: the loss curves and held-out
  accuracy of the two precisions at the same seed, next to the spread between seeds in fp32 (the
  run-to-run noise they are judged against), with a paired bootstrap CI per comparison;
- **which batch learns most per second?** `--batch-sizes 16 32 64 --budget-s 150`: each batch size
  gets the same wall time (its step count from a timing of real batches) and is scored the same way;
  `--ladder` prints training tokens/s over batch size and sequence length for the preset's model.

    python benchmarks/bench_learn.py                                    # time to learned, the CPU maze trace model
    python benchmarks/bench_learn.py --runs sft_dfs sft_solution --dtype fp32 bf16 --seeds 0 1
    python benchmarks/bench_learn.py --batch-sizes 16 32 64 --budget-s 150 --ladder

The data are the preset's seed-0 data; --seeds varies the training seed (initialization and batch
order). Runs already in --out are read, not retrained.
"""
import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import replace

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import evaluate  # noqa: E402
import linearize  # noqa: E402
import reproduce  # noqa: E402
import runlog  # noqa: E402
import train_sft  # noqa: E402
import checkpoint  # noqa: E402
from checkpoint import load_checkpoint  # noqa: E402
from distributed import set_threads  # noqa: E402
from files import read_jsonl, save_figure  # noqa: E402
from model import DTYPES, GPT, GPTConfig, autocast_ctx, cpu_has_bf16  # noqa: E402
from presets import PRESETS  # noqa: E402
from stages import Pipeline  # noqa: E402
from tasks import get_task, load_problems  # noqa: E402


def machine():
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return (f"{cpu}, {torch.get_num_threads()} threads, native bf16: {'yes' if cpu_has_bf16() else 'no'}; "
            f"torch {torch.__version__}")


def make_data(task, preset, out, overwrite=False):
    """The preset's training, validation and test data (seed 0), made by reproduce.py's own data stage."""
    pipe = Pipeline(out, overwrite)
    reproduce.add_stages(pipe, task, replace(preset, rl=[]), out)
    pipe.stages = [s for s in pipe.stages if s.name == f"{task}/data"]  # the models are trained here, not there
    pipe.run()
    return os.path.join(out, task)


def train(task, preset, run, folder, name, seed, dtype, eval_every, extra=()):
    """One SFT run with the preset's flags (and `extra`), or the one already in folder/name."""
    log = os.path.join(folder, name, "log.jsonl")
    rows = runlog.read(log) if os.path.exists(log) else []
    if not any(r.get("step") == run.steps and "val_acc" in r for r in rows):
        argv = reproduce.sft_argv(task, preset, run, folder, seed)
        argv[argv.index("--out") + 1] = os.path.join(folder, name)
        train_sft.train(train_sft.parse_args(argv + ["--eval-every", str(eval_every), "--dtype", dtype, *extra]))
        rows = runlog.read(log)
    return rows


def learned_times(rows, data_legal):
    """From a training log: seconds of training until the gate first passed (None: never), until
    validation accuracy first reached its final value, that final accuracy, and the total seconds."""
    evals = [r for r in rows if "val_acc" in r]
    passed = [r for r in evals if evaluate.gate({"answer_rate": r["val_answer_rate"], "legal_step_rate":
                                                 r["val_legal_step_rate"]}, data_legal)["passed"]]
    final = evals[-1]["val_acc"]
    reached = next(r for r in evals if r["val_acc"] >= final)
    return (passed[0]["train_s"] if passed else None), reached["train_s"], final, evals[-1]["train_s"]


def score_on_test(folder, name, task_cls, problems):
    """Greedy accuracy of the final model on the test set: (all, needs search, direct) and the rows."""
    model, vocab, _ = checkpoint.load(os.path.join(folder, name, "ckpt.pt"))
    res = evaluate.evaluate(model, vocab, task_cls, problems, n=0, algos=(), batch_size=256, dtype="fp32")
    rows = res["per_problem"]
    return {s: part["greedy_acc"] for s, part in evaluate.by_stratum(rows, ks=()).items()}, rows


def smoothed(rows, width=10):
    losses = [r["loss"] for r in rows if "loss" in r]
    return [statistics.fmean(losses[max(0, i - width + 1):i + 1]) for i in range(len(losses))]


def curve_gap(a, b):
    """How far apart two smoothed loss curves lie over their second half (the first is the same steep
    fall for every run): the typical relative gap, exp(mean |ln a - ln b|) - 1."""
    n = min(len(a), len(b))
    return math.exp(statistics.fmean(abs(math.log(x / y)) for x, y in zip(a[n // 2:n], b[n // 2:n]))) - 1


def time_steps(m, batches, dtype):
    """Median seconds of a training step (forward, backward, AdamW) over `batches`, the first a warm-up."""
    opt = m.configure_optimizers(0.1, 1e-3, (0.9, 0.95))
    times = []
    for x, y in batches:
        t = time.perf_counter()
        with autocast_ctx("cpu", dtype):
            loss = m(x, y)[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def new_model(preset, task, vocab_size, block_size):
    n_layer, n_head, n_embd, _ = reproduce.model_shape(task, preset)
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd))


def ladder(preset, task, vocab_size, dtypes, batches=(8, 16, 32, 64, 128), lengths=(64, 128, 256)):
    """Training tokens/s of the preset's model shape on random tokens, over batch size and length."""
    print(f"\ntraining tokens/s of the {task} preset's model ({' '.join(preset.model)}), vocabulary {vocab_size}:")
    print(f"  {'batch':>6}" + "".join(f"{f'T={t} {d}':>14}" for t in lengths for d in dtypes))
    for batch in batches:
        cells = []
        for length in lengths:
            x = torch.randint(0, vocab_size, (batch, length))
            for dtype in dtypes:
                cells.append(batch * length / time_steps(new_model(preset, task, vocab_size, length), [(x, x)] * 4, dtype))
        print(f"  {batch:>6}" + "".join(f"{c:>14.0f}" for c in cells), flush=True)


def seconds_per_step(preset, task, data, vocab, batch, dtype):
    """Seconds per training step at this batch size, timed on real batches (padding included)."""
    m = new_model(preset, task, len(vocab), 64 * math.ceil((int(data.lengths().max()) - 1) / 64))
    order = train_sft.BatchOrder(len(data), batch, 0)
    return time_steps(m, [data.batch(order.rows(k), vocab.pad) for k in range(8)], dtype)


# ------------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description="Seconds of training until a preset's models have learned; bf16 "
                                            "against fp32; learning per second over batch sizes.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(l.strip() for l in __doc__.splitlines() if "python benchmarks" in l))
    p.add_argument("--preset", choices=list(PRESETS), default="cpu")
    p.add_argument("--task", default="maze")
    p.add_argument("--runs", nargs="*", default=None, help="the preset's SFT runs to train (default: its trace model)")
    p.add_argument("--dtype", nargs="+", choices=DTYPES, default=["auto"],
                   help="precisions to train in; with several, each is compared with the first at every seed")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds (the data stay seed 0's)")
    p.add_argument("--eval-every", type=int, default=100, help="validation checks every this many steps")
    p.add_argument("--batch-sizes", nargs="*", type=int, default=[], help="also train the trace model at these "
                   "batch sizes, each for --budget-s seconds of training, and score them")
    p.add_argument("--budget-s", type=float, default=150.0)
    p.add_argument("--ladder", action="store_true", help="also print tokens/s over batch size x sequence length")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--out", default="runs/bench-learn", help="where the data and runs go (runs found there are reused)")
    p.add_argument("--overwrite", action="store_true", help="remake the data where --out holds data of other code or "
                   "settings (the runs found there are still read, not retrained)")
    args = p.parse_args(argv)
    set_threads("cpu", args.threads)
    if args.task not in PRESETS[args.preset]:
        p.error(f"--task: the {args.preset} preset has {', '.join(PRESETS[args.preset])}")
    preset = PRESETS[args.preset][args.task]
    task_cls, runs = get_task(args.task), {r.name: r for r in preset.sft}
    trace_run = f"sft_{preset.trace}"
    wanted = [trace_run] if args.runs is None else args.runs
    if any(name not in runs for name in wanted):
        p.error(f"--runs: the {args.preset} {args.task} preset has {', '.join(runs)}")
    print(f"machine: {machine()}")
    folder = make_data(args.task, preset, args.out, args.overwrite)
    test = load_problems(os.path.join(folder, "data", "test.jsonl"), task_cls)[0]
    vocab = linearize.build_vocab(task_cls)

    def trained(run, name, seed, dtype, extra=()):
        rows = train(args.task, preset, run, folder, name, seed, dtype, args.eval_every, extra)
        data = read_jsonl(os.path.join(folder, "data", f"{run.data}.jsonl"))
        data_legal = None if run.kind == "solution" else evaluate.data_legal_rate(task_cls, data)
        gate_s, final_s, final_acc, total_s = learned_times(rows, data_legal)
        acc, per_problem = score_on_test(folder, name, task_cls, test)
        used = load_checkpoint(os.path.join(folder, name, "ckpt.pt")).get("dtype", "?")
        res = dict(name=name, dtype=used, gate_s=gate_s, final_s=final_s, final_acc=final_acc, total_s=total_s,
                   test=acc, rows=per_problem, loss=smoothed(rows))
        print(f"{name}: trained in {used}; gate passed after {'never' if gate_s is None else f'{gate_s:.0f} s'}, "
              f"final val accuracy {final_acc:.2f} first reached after {final_s:.0f} s of {total_s:.0f} s; "
              f"test greedy {acc['all']:.3f} (needs search {acc['needs_search']:.3f}, direct {acc['direct']:.3f})",
              flush=True)
        return res

    done = {}
    for name in wanted:
        for dtype in args.dtype:
            for seed in args.seeds:
                done[name, dtype, seed] = trained(runs[name], f"{name}-{dtype}-seed{seed}", seed, dtype)
    print(f"\n{'run':<28}{'dtype':>6}{'gate (s)':>10}{'final acc reached (s)':>23}{'total (s)':>11}{'final loss':>12}"
          f"{'val acc':>9}{'test':>7}{'needs search':>14}{'direct':>8}")
    for r in done.values():
        print(f"{r['name']:<28}{r['dtype']:>6}{'never' if r['gate_s'] is None else round(r['gate_s']):>10}"
              f"{r['final_s']:>23.0f}{r['total_s']:>11.0f}{r['loss'][-1]:>12.4f}{r['final_acc']:>9.2f}{r['test']['all']:>7.3f}"
              f"{r['test']['needs_search']:>14.3f}{r['test']['direct']:>8.3f}")
    if len(args.dtype) > 1 or len(args.seeds) > 1:
        compare(done, wanted, args.dtype, args.seeds, os.path.join(args.out, "loss_curves.png"))
    if args.batch_sizes:
        data, _ = train_sft.encode_rows(os.path.join(folder, "data", f"{runs[trace_run].data}.jsonl"), task_cls, vocab)
        dtype = next(iter(done.values()))["dtype"] if done else "fp32"  # the precision the first run trained in
        print(f"\nthe trace model, {args.budget_s:.0f} s of training per batch size ({dtype}, lr {preset.lr} throughout):")
        for batch in args.batch_sizes:
            steps = max(10, int(args.budget_s / seconds_per_step(preset, args.task, data, vocab, batch, dtype)))
            run = replace(runs[trace_run], steps=steps)
            trained(run, f"{trace_run}-batch{batch}-{args.budget_s:.0f}s", 0, dtype,
                    ["--max-steps", str(steps), "--batch-size", str(batch), "--eval-every", str(max(1, steps // 5))])
    if args.ladder:
        ladder(preset, args.task, len(vocab), ["fp32", "bf16"])


def compare(done, names, dtypes, seeds, png):
    """Each precision against the first at the same seed, next to the first precision's seed-to-seed
    spread: loss curves (curve_gap) and test accuracy (paired bootstrap CI of the difference)."""
    base = dtypes[0]
    print("\nagreement (A - B: test greedy accuracy, paired bootstrap 95% CI; loss: typical relative gap "
          "of the smoothed training-loss curves over their second half):")
    for name in names:
        pairs = [((name, d, s), (name, base, s)) for d in dtypes[1:] for s in seeds]
        pairs += [((name, base, s), (name, base, seeds[0])) for s in seeds[1:]]  # the noise to judge against
        for a, b in pairs:
            c = evaluate.compare_rows(done[a]["rows"], done[b]["rows"])
            print(f"  {done[a]['name']:<26} vs {done[b]['name']:<26} test {c['diff']:+.3f} [{c['ci95'][0]:+.3f}, "
                  f"{c['ci95'][1]:+.3f}]  val {done[a]['final_acc'] - done[b]['final_acc']:+.2f}  "
                  f"loss gap {curve_gap(done[a]['loss'], done[b]['loss']):.1%}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for (n, d, s), r in done.items():
            if n == name:
                ax.plot(range(10, 10 * len(r["loss"]) + 1, 10), r["loss"], label=f"{d} seed {s}",
                        linestyle="-" if d == base else "--")
        ax.set(title=name, xlabel="step", ylabel="training loss (smoothed)", yscale="log")
        ax.legend()
    fig.tight_layout()
    save_figure(fig, png, dpi=110)
    print(f"loss curves: {png}")


if __name__ == "__main__":
    main()
