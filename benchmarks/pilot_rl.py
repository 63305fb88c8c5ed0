"""
The second and third rounds of RL pilots behind the main job's expert iteration (issue 19; docs/design.md,
stage 3): how far past the budget its rollouts should run, and how long it can train before it
drops the search.

Every pilot starts from one DFS trace model (--init) and runs expert iteration with the legal-trace
reward on the training mazes that need search (the cpu preset's data, made as reproduce.py makes
it), then greedy decoding and 8 samples on a pilot test set: 300 stratified mazes drawn with other
seeds than the run's test set (checked disjoint from it and from the training mazes), within 32
generated tokens and unbounded. The run's own test set decides nothing here.

    git show 0be9b96:docs/cpu/checkpoints/maze-sft_dfs.pt > /tmp/sft_dfs.pt   # the 2,500-step start
    python benchmarks/pilot_rl.py --init /tmp/sft_dfs.pt --out /tmp/pilot_rl
    python benchmarks/pilot_rl.py --init /tmp/sft_dfs.pt --out /tmp/pilot_rl --pilots ei32 ei64

Pilots already in --out are read, not retrained (ei48_32 continues ei48's checkpoint).
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import budget  # noqa: E402
import evaluate  # noqa: E402
import presets  # noqa: E402
import reproduce  # noqa: E402
import train_rl  # noqa: E402
from tasks import get_task  # noqa: E402

EI = ["--algo", "expert-iteration", "--legal-trace", "--budget", "32"]
# GRPO sees the guesses that failed, which expert iteration never does; lr 1e-4 as in the first round
GRPO = ["--algo", "grpo", "--legal-trace", "--budget", "32", "--lr", "1e-4"]
# name: (the run it continues, or None for --init; train_rl flags)
PILOTS = {"ei32": (None, [*EI, "--max-new-tokens", "32"]),
          "ei32_g16": (None, [*EI, "--max-new-tokens", "32", "--group", "16"]),
          "ei32_lr1e4": (None, [*EI, "--max-new-tokens", "32", "--lr", "1e-4"]),
          "ei48": (None, [*EI, "--max-new-tokens", "48"]),
          "ei48_t12": (None, [*EI, "--max-new-tokens", "48", "--temperature", "1.2"]),
          "ei64": (None, [*EI, "--max-new-tokens", "64"]),
          "ei48_32": ("ei48", [*EI, "--max-new-tokens", "32"]),
          "ei48_400": (None, [*EI, "--max-new-tokens", "48", "--steps", "400", "--eval-every", "100"]),
          # the third round: a policy gradient, held to the start by a KL term
          "grpo32_kl": (None, [*GRPO, "--max-new-tokens", "32", "--kl", "0.05", "--dynamic-rounds", "3"]),
          "grpo64_g98": (None, [*GRPO, "--max-new-tokens", "64", "--gamma", "0.98"]),
          "grpo64_g98_kl": (None, [*GRPO, "--max-new-tokens", "64", "--gamma", "0.98", "--kl", "0.05"]),
          "ei64_grpo": ("ei64", [*GRPO, "--max-new-tokens", "64", "--gamma", "0.98", "--kl", "0.05",
                                 "--steps", "100"])}


def summary(rows):
    """One row of the table from evaluate's per-problem records: greedy accuracy on needs-search and
    direct mazes (evaluate.by_stratum), pass@8 and, on the needs-search mazes, the legal-step rate and
    backtracks (budget.still_searching), and the mean length of the outputs that solved one."""
    strata = evaluate.by_stratum(rows, ks=(8,))
    needs = [r for r in rows if r["needs_search"]]
    searching = budget.still_searching(needs)
    return {"needs": strata["needs_search"]["greedy_acc"], "direct": strata["direct"]["greedy_acc"],
            "pass": strata["needs_search"]["pass_at_k"]["8"]["mean"], "legal": searching["legal_step_rate"],
            "backtracks": searching["backtracks"],
            "tokens": statistics.fmean([r["tokens"] for r in needs if r["greedy"]] or [0])}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--init", required=True, help="the DFS trace model every pilot starts from")
    p.add_argument("--out", required=True)
    p.add_argument("--pilots", nargs="+", default=list(PILOTS), choices=list(PILOTS))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    d = lambda *parts: os.path.join(args.out, *parts)
    preset = presets.PRESETS["cpu"]["maze"]
    run = reproduce.Job("maze", preset, d("maze"), 0, [])
    pilot = reproduce.Job("maze", preset, d("pilot"), 7, [])
    if not os.path.exists(d("pilot", "data", "test.jsonl")):
        reproduce.make_data(run)
        os.makedirs(pilot.p("data"), exist_ok=True)
        reproduce.stratified_test(get_task("maze"), preset, lambda *a: reproduce.generate(pilot, *a),
                                  pilot.p("data", "test.jsonl"))
    rows = lambda f: {json.dumps(json.loads(line), sort_keys=True) for line in open(f)}
    test = rows(pilot.p("data", "test.jsonl"))
    if test & (rows(run.p("data", "test.jsonl")) | rows(run.p("data", "train.jsonl"))):
        raise SystemExit("the pilot test set overlaps the run's test or training mazes")
    common = ["--problems", run.p("data", "train_search.jsonl"), "--val", run.p("data", "val_search.jsonl"),
              "--seed", "0", "--prompts", "16", "--group", "8", "--lr", "5e-5", "--steps", "200", "--eval-every", "50",
              "--eval-n", "100", "--eval-samples", "4", "--threads", str(args.threads), "--quiet"]
    table = {"start": args.init}
    for name in args.pilots:
        after, flags = PILOTS[name]
        ckpt = d(name, "ckpt.pt")
        if not os.path.exists(ckpt):
            init = d(after, "ckpt.pt") if after else args.init
            train_rl.train(train_rl.parse_args(["--init", init, "--out", d(name), *common, *flags]))
        table[name] = ckpt
    print(f"{'pilot':12} {'B':>4} {'needs':>6} {'direct':>6} {'pass@8':>6} {'legal':>6} {'backtr':>6} {'tok/solved':>10}")
    for name, ckpt in table.items():
        for cap in (32, None):
            res = evaluate.main(["--ckpt", ckpt, "--problems", pilot.p("data", "test.jsonl"), "--n", "8", "--k", "1,8", "--algos", "",
                                 "--threads", str(args.threads), "--out", d(f"{name}_{cap or 'inf'}.json"),
                                 *(["--max-new-tokens", str(cap)] if cap else [])])
            s = summary(res["per_problem"])
            print(f"{name:12} {cap or 'inf':>4} {s['needs']:6.3f} {s['direct']:6.3f} {s['pass']:6.3f} {s['legal']:6.3f} "
                  f"{s['backtracks']:6.2f} {s['tokens']:10.1f}")


if __name__ == "__main__":
    main()
