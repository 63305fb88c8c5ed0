"""
The pilot behind Countdown's trace and number spelling (issue 22; docs/design.md, "Countdown"): which
trace and which spelling of the numbers let the CPU preset's model learn Countdown-3 search?

The CPU preset's problems (Countdown-3 from 1..50, targets up to 100; one problem file for every
row), each row a spelling (`countdown`: a word per number below 1,000; `countdown-hybrid`: digits from
100 up) and a trace (`dfs`: today's, dead ends skipped unwritten; `checks`: every leaf combination
written, search.py --checks; `solution`: the answer alone); the CPU preset's model, trained for
--steps in fp32 with 2 threads; then greedy on seen targets (stratified: needs search / direct) and
on SoS's held-out targets, with the learned gate.

    python benchmarks/pilot_countdown.py --out /tmp/pilot_countdown            # ~25 min on 2 cores
    python benchmarks/pilot_countdown.py --rows countdown-hybrid.checks --out /tmp/pilot_countdown

Runs already in --out are read, not retrained.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import checkpoint  # noqa: E402
import evaluate  # noqa: E402
import search  # noqa: E402
import sizes  # noqa: E402
import train_sft  # noqa: E402
from distributed import set_threads  # noqa: E402
from files import read_jsonl  # noqa: E402
from presets import PRESETS  # noqa: E402
from tasks import get_task  # noqa: E402

PRESET = PRESETS["cpu"]["countdown"]
TRACES = {"dfs": ["--algo", "dfs", "--no-costs"], "checks": ["--algo", "dfs", "--no-costs", "--checks"],
          "solution": ["--algo", "astar", "--format", "solution"]}
ROWS = ["countdown.dfs", "countdown.checks", "countdown-hybrid.dfs", "countdown-hybrid.checks",
        "countdown.solution", "countdown-hybrid.solution"]


def problems(d, n_train, n_test, num_max):
    """The preset's training, validation and test problems (numbers up to num_max), drawn once for every row."""
    flags = [*PRESET.generate[:PRESET.generate.index("--num-max") + 1], str(num_max),
             *PRESET.generate[PRESET.generate.index("--num-max") + 2:]]
    gen = lambda n, split, seed, out: search.main(["--task", "countdown", "--generate", str(n), "--split", split,
                                                   "--seed", str(seed), "--out", out, *flags])
    if not os.path.exists(d("test2.jsonl")):
        gen(n_train, "train", 1, d("train.jsonl"))
        gen(200, "train", 3, d("val_all.jsonl"))
        seen = {json.dumps(r, sort_keys=True) for r in read_jsonl(d("train.jsonl"))}
        val = [r for r in read_jsonl(d("val_all.jsonl")) if json.dumps(r, sort_keys=True) not in seen][:100]
        with open(d("val.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in val)

        def draw(seed):
            gen(2 * n_test, "test-seen", 10 + seed, d("round.jsonl"))
            return read_jsonl(d("round.jsonl"))
        with open(d("test.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in sizes.stratified(get_task("countdown"), n_test, draw))
        gen(2 * n_test, "test", 4, d("test2.jsonl"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--rows", nargs="+", default=ROWS, help="SPELLING.TRACE, e.g. countdown-hybrid.checks")
    p.add_argument("--n-train", type=int, default=PRESET.n_train)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=60, help="seen-target test problems per stratum")
    p.add_argument("--num-max", type=int, default=50, help="numbers from 1 to this (the preset's 50)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    set_threads("cpu", args.threads)
    d = lambda *parts: os.path.join(args.out, *parts)
    os.makedirs(d("data"), exist_ok=True)
    problems(lambda name: d("data", name), args.n_train, args.n_test, args.num_max)
    table = json.load(open(d("pilot.json"))) if os.path.exists(d("pilot.json")) else {}
    for name in args.rows:
        spelling, trace = name.split(".")
        data = d("data", f"{name}.jsonl")
        if not os.path.exists(data):
            search.main(["--task", spelling, "--problems", d("data", "train.jsonl"), "--seed", "0", "--out", data,
                         *TRACES[trace]])
        ckpt = d(name, "ckpt.pt")
        if not os.path.exists(ckpt):
            train_sft.train(train_sft.parse_args(
                ["--task", spelling, "--data", data, "--val", d("data", "val.jsonl"), "--out", d(name),
                 "--max-steps", str(args.steps), "--batch-size", str(PRESET.batch_size), "--length-groups", "3",
                 "--lr", str(PRESET.lr), "--warmup", "100", "--eval-every", str(args.steps // 4), "--eval-n", "100",
                 "--block-size", "512", "--threads", str(args.threads), "--dtype", "fp32", "--quiet", *PRESET.model]))
        model, vocab, task_cls = checkpoint.load(ckpt)
        rows = read_jsonl(data)
        data_legal = None if trace == "solution" else evaluate.data_legal_rate(task_cls, rows)
        seen = evaluate.evaluate(model, vocab, task_cls, read_jsonl(d("data", "test.jsonl")), n=0, algos=(), dtype="fp32")
        held = evaluate.evaluate(model, vocab, task_cls, read_jsonl(d("data", "test2.jsonl")), n=0, algos=(), dtype="fp32")
        strata = evaluate.by_stratum(seen["per_problem"], ks=())
        log = [json.loads(line) for line in open(d(name, "log.jsonl"))]
        curve = [(r["step"], r["val_acc"], r.get("val_legal_step_rate")) for r in log if "val_acc" in r]
        table[name] = {"train_s": curve and [r for r in log if "val_acc" in r][-1]["train_s"], "curve": curve,
                       "trace_tokens": sum(len(r["trace"].split()) for r in rows) / len(rows),
                       "gate": evaluate.gate(seen, data_legal), "needs_search": strata["needs_search"]["greedy_acc"],
                       "direct": strata["direct"]["greedy_acc"], "held_out": held["greedy_acc"],
                       "held_out_legal": held["legal_step_rate"]}
        with open(d("pilot.json"), "w") as f:
            json.dump(table, f, indent=1)
        print(name, json.dumps(table[name]), flush=True)
    rate = lambda x: "–" if x is None else f"{x:.3f}"
    print("\n| row | trace tokens | train s | validation acc (legal) by step | test legal / its data's | gate | "
          "seen targets: needs search / direct | held-out targets (legal) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in table.items():
        g = r["gate"]
        curve = " / ".join(f"{a:.2f} ({rate(l)})" for _, a, l in r["curve"])
        print(f"| {name} | {r['trace_tokens']:.1f} | {r['train_s']:.0f} | {curve} | {rate(g['legal_step_rate'])} / "
              f"{rate(g['data_legal_step_rate'])} | {'passed' if g['passed'] else 'not learned'} | "
              f"{r['needs_search']:.3f} / {r['direct']:.3f} | {r['held_out']:.3f} ({rate(r['held_out_legal'])}) |")


if __name__ == "__main__":
    main()
