"""
How fast are traces made? Search + linearize per problem, through search.search_file (the code path
`python search.py --algo ... --problems ...` uses), on one core and on all cores.

    python benchmarks/bench_search.py            # 5000 problems per row, ~20 s on 2 cores
    python benchmarks/bench_search.py --n 500    # quicker

Anchors: Stream of Search's generator takes ~25 ms per countdown-4 problem, Searchformer's maze A*
~65 ms per 10x10 task; our targets are <= 2.5 ms (countdown) and <= 3 ms (maze) per problem on ONE core.
Problem generation is not timed. The all-core column includes starting the worker pool, so it only
pays off for large files.
"""
import argparse
import contextlib
import io
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script from anywhere
import search  # noqa: E402
from tasks.countdown import Countdown  # noqa: E402
from tasks.maze import Maze  # noqa: E402

# (label, task, algo, anchor from the papers in ms/problem, our one-core target in ms/problem)
ROWS = [
    ("countdown-4 DFS", Countdown, "dfs", "SoS ~25", 2.5),
    ("countdown-4 A*", Countdown, "astar", "SoS ~25", 2.5),
    ("maze 10x10 A*", Maze, "astar", "Searchformer ~65", 3.0),
]


def timed(problems, args, workers):
    with contextlib.redirect_stderr(io.StringIO()):  # search_file's progress bar (>= 2000 problems)
        t0 = time.perf_counter()
        rows = search.search_file(problems, args, workers=workers)
        return time.perf_counter() - t0, rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=5000, help="problems per row (at least 50, so all-core uses a pool)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.n < 50:
        p.error("--n must be at least 50 (search_file runs fewer problems in-process)")
    cores = os.cpu_count() or 1
    problems = {Countdown: Countdown.generate(args.n, random.Random(args.seed)),
                Maze: Maze.generate(args.n, random.Random(args.seed), height=10, width=10)}

    head = (f"{'':17} {'1 core':>17} {f'{cores} cores':>17} {'':>7} {'trace':>7} {'':>7} "
            f"{'anchor':>17} {'target':>8}")
    sub = (f"{'':17} {'ms/prob':>8} {'prob/s':>8} {'ms/prob':>8} {'prob/s':>8} {'speedup':>7} {'tokens':>7} "
           f"{'solved':>7} {'ms/prob':>17} {'1 core':>8}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.n} problems per row; search + linearize via search.search_file; {cores} cores "
          f"(load average {load:.2f} before the run: other processes skew the all-core column)\n")
    print(head)
    print(sub)
    print("-" * len(sub))
    for label, task, algo, anchor, target in ROWS:
        opts = search.SearchJob(task, algo)  # what search.py's main builds, at its defaults
        t1, rows = timed(problems[task], opts, 1)
        tn, rows_n = timed(problems[task], opts, cores)
        assert rows_n == rows, "worker count changed the output"
        n = len(rows)
        tokens = statistics.fmean(len(r["trace"].split()) for r in rows)
        solved = sum(r["solved"] for r in rows) / n
        ms1, msn = 1000 * t1 / n, 1000 * tn / n
        ok = "ok" if ms1 <= target else "MISS"
        print(f"{label:17} {ms1:8.2f} {n / t1:8.0f} {msn:8.2f} {n / tn:8.0f} {t1 / tn:6.2f}x {tokens:7.0f} "
              f"{100 * solved:6.1f}% {anchor:>17} {f'<={target:g} {ok}':>8}")


if __name__ == "__main__":
    main()
