"""
Memory at SoS's scale: make a 500k-problem Countdown-4 DFS trace dataset and start SFT on it, with
peak memory measured per phase. The target is a peak RSS under 4 GB in every phase.

    python benchmarks/bench_memory.py                       # N = 500,000 (SoS's size); ~20 min on 2 cores
    python benchmarks/bench_memory.py --n 20000 --out /tmp/bm

Each phase runs the project's own command line as a subprocess, so what is measured is what a user
runs: `search.py --generate`, `search.py --algo dfs` (all cores), `train_sft.py` (encode + a few
steps). A few random batches may all be short, so a last phase encodes the file again and takes one
training step on the batch of the longest sequences: the worst case of the SFT phase on a CPU. Two peaks are reported per phase: the largest single process (GNU time's "Maximum resident
set size", which for a worker pool is the largest worker or the parent), and the sum over the whole
process tree, sampled every 0.1 s from /proc (an over-estimate for a pool: pages the workers share
with the parent after fork count once per process). CPU seconds are reported too: unlike wall time,
they do not depend on what else the machine is running.
"""
import argparse
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GNU_TIME = "/usr/bin/time"


def tree_rss_kb(root_pid):
    """Summed VmRSS of root_pid and all its descendants, from /proc (Linux)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(ppid, []).append(int(name))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def run_phase(name, cmd, marks=()):
    """Run cmd under GNU time (when installed), sampling the tree's RSS. `marks`: substrings of output
    lines whose first arrival is recorded, with the time and the tree's RSS at that moment (to split a
    phase into parts). Returns a result dict."""
    timed = os.path.exists(GNU_TIME)
    full = [GNU_TIME, "-v", *cmd] if timed else cmd
    t0 = time.time()
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # marks need lines as they happen
    peak, seen, done = [0], {}, threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            done.wait(0.1)

    def read_stdout():
        for line in proc.stdout:
            print(f"  [{name}] {line.rstrip()}", flush=True)
            for m in marks:
                if m in line and m not in seen:
                    seen[m] = (time.time() - t0, tree_rss_kb(proc.pid) / 1024)

    threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=read_stdout, daemon=True)]
    for t in threads:
        t.start()
    stderr = proc.stderr.read()
    proc.wait()
    done.set()
    for t in threads:
        t.join()
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"{name} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    res = {"phase": name, "wall_s": wall, "tree_peak_mb": peak[0] / 1024, "marks": seen}
    if timed:
        grab = lambda pat: float(re.search(pat, stderr).group(1))
        res["max_rss_mb"] = grab(r"Maximum resident set size \(kbytes\): (\d+)") / 1024
        res["cpu_s"] = grab(r"User time \(seconds\): ([\d.]+)") + grab(r"System time \(seconds\): ([\d.]+)")
    return res


def longest_batch_step(traces, batch_size):
    """Encode the trace file as train_sft does, then one step of the default model on the batch_size
    longest sequences (run in its own process, so that its peak RSS is its own)."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import linearize
    import train_sft
    from model import GPT, GPTConfig
    from tasks.countdown import Countdown
    vocab = linearize.build_vocab(Countdown)
    data, _ = train_sft.encode_rows(traces, Countdown, vocab)
    rows = np.argsort(data.lengths())[-batch_size:].tolist()
    x, y = data.batch(rows, vocab.pad)
    defaults = train_sft.parse_args(["--task", "countdown", "--data", traces, "--out", "unused"])
    config = GPTConfig(block_size=x.size(1), vocab_size=len(vocab), n_layer=defaults.n_layer, n_head=defaults.n_head,
                       n_embd=defaults.n_embd)
    model = GPT(config)
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95))
    _, loss = model(x, y)
    loss = loss / (y != -1).sum()
    loss.backward()
    optimizer.step()
    print(f"one step on the {batch_size} longest sequences: batch {tuple(x.shape)}, loss {loss.item():.3f}")


def main():
    if sys.argv[1:2] == ["--longest-batch-step"]:  # the last phase, in its own process
        return longest_batch_step(sys.argv[2], int(sys.argv[3]))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500_000, help="countdown-4 problems (SoS: 500k)")
    p.add_argument("--out", default="/tmp/bench_memory", help="work folder (the dataset is ~1 KB per problem)")
    p.add_argument("--sft-steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="SFT CPU threads (default: all cores)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None, help="search processes (default: all cores)")
    p.add_argument("--keep", action="store_true", help="reuse problems/traces already in --out")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    problems, traces = os.path.join(args.out, "problems.jsonl"), os.path.join(args.out, "dfs.jsonl")
    py = sys.executable
    if not os.path.exists(GNU_TIME):
        print(f"note: {GNU_TIME} not found (apt-get install time): reporting only the sampled tree peak")
    load = os.getloadavg()[0]
    print(f"bench_memory: N={args.n}, {os.cpu_count()} cores, load average {load:.2f} at the start "
          f"(other processes slow the wall times, not the CPU times or memory)\n", flush=True)

    results = []
    if not (args.keep and os.path.exists(problems)):
        results.append(run_phase("generate", [py, "search.py", "--task", "countdown", "--generate", str(args.n),
                                              "--out", problems]))
    if not (args.keep and os.path.exists(traces)):
        results.append(run_phase("search", [py, "search.py", "--task", "countdown", "--algo", "dfs", "--problems",
                                            problems, "--out", traces,
                                            *(["--workers", str(args.workers)] if args.workers else [])]))
    size_mb = os.path.getsize(traces) / 2**20
    results.append(run_phase("sft", [py, "train_sft.py", "--task", "countdown", "--data", traces, "--out",
                                     os.path.join(args.out, "run"), "--max-steps", str(args.sft_steps),
                                     "--batch-size", str(args.batch_size), "--warmup", "1", "--eval-every", "1000000",
                                     "--log-every", "1", "--quiet", "--device", "cpu",
                                     *(["--threads", str(args.threads)] if args.threads else [])],
                             marks=("sequences, longest",)))
    results.append(run_phase("sft-worst", [py, os.path.abspath(__file__), "--longest-batch-step", traces,
                                           str(args.batch_size)]))

    print(f"\ntrace file: {size_mb:.0f} MB for {args.n} problems")
    print(f"{'phase':10} {'wall s':>8} {'CPU s':>8} {'largest process MB':>19} {'process tree MB':>16}")
    for r in results:
        print(f"{r['phase']:10} {r['wall_s']:8.1f} {r.get('cpu_s', float('nan')):8.1f} "
              f"{r.get('max_rss_mb', float('nan')):19.0f} {r['tree_peak_mb']:16.0f}")
        if "sequences, longest" in r["marks"]:
            enc, rss = r["marks"]["sequences, longest"]
            print(f"{'':10} start-up + encoding {enc:.1f} s, after which the process held {rss:.0f} MB "
                  f"(dataset + model + torch); {args.sft_steps} steps {r['wall_s'] - enc:.1f} s")
    worst = max(max(r.get("max_rss_mb", 0), r["tree_peak_mb"]) for r in results)
    print(f"\nworst peak {worst:.0f} MB: {'under' if worst < 4096 else 'OVER'} the 4 GB target")
    print("(on a CPU the SFT peak includes the activations of one batch, which grow with batch size times the\n"
          " longest trace in the batch, not with N; on a GPU they live in GPU memory instead)")


if __name__ == "__main__":
    main()
