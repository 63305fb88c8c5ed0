"""
The pilot behind the maze-size design (issue 20; docs/design.md, "Maze sizes"): which encoding and
which size mix let a DFS trace model trained on some maze sizes search mazes of other sizes?

The same 4x4..8x8 training mazes (one problem file), spelled in each encoding, each with its DFS
traces (the CPU preset's: no costs, children in random order at 30 % of the nodes); the CPU preset's
model, trained for --steps in fp32 (--dtype auto picks bf16 on some CPUs, and the rows would then
differ in more than their encoding); then the size curve (sizes.py) on held-out mazes of 4x4 to 10x10.

    python benchmarks/pilot_sizes.py --out /tmp/pilot_sizes                      # the five encodings
    python benchmarks/pilot_sizes.py --encodings maze-canvas --kinds solution --out /tmp/pilot_sizes

Runs already in --out are read, not retrained.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import search  # noqa: E402
import sizes  # noqa: E402
import train_sft  # noqa: E402
from distributed import set_threads  # noqa: E402
from presets import PILOT_ONLY  # noqa: E402
from tasks import get_task  # noqa: E402

MODEL = ["--n-layer", "4", "--n-head", "4", "--n-embd", "128"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--encodings", nargs="+", default=["maze", "maze-canvas", *PILOT_ONLY])
    p.add_argument("--kinds", nargs="+", default=["dfs"], help="dfs and/or solution")
    p.add_argument("--train-sizes", default="4-8")
    p.add_argument("--test-sizes", default="4-10")
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--n", type=int, default=30, help="test mazes per stratum and size")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    set_threads("cpu", args.threads)
    d = lambda *parts: os.path.join(args.out, *parts)
    os.makedirs(d("data"), exist_ok=True)
    if not os.path.exists(d("data", "train.jsonl")):  # the problems are the encoding's business: one file for all
        search.main(["--task", "maze", "--generate", str(args.n_train), "--split", "train", "--seed", "1",
                     "--sizes", args.train_sizes, "--out", d("data", "train.jsonl")])
        search.main(["--task", "maze", "--generate", "200", "--split", "train", "--seed", "3",
                     "--sizes", args.train_sizes, "--out", d("data", "val.jsonl")])
    test_sides = sizes.parse_sizes(args.test_sizes)
    tests = {s: d("data", f"size{s}.jsonl") for s in test_sides}
    sizes.write_size_tests(get_task("maze"), [s for s, path in tests.items() if not os.path.exists(path)], args.n, d("data"))
    table = {}
    for enc in args.encodings:
        for kind in args.kinds:
            name = f"{enc}.{kind}"
            data = d("data", f"{name}.jsonl")
            if not os.path.exists(data):
                flags = ["--format", "solution"] if kind == "solution" else ["--no-costs", "--random-order", "0.3"]
                search.main(["--task", enc, "--algo", "astar" if kind == "solution" else "dfs", "--problems",
                             d("data", "train.jsonl"), "--seed", "0", "--out", data, *flags])
            ckpt = d(name, "ckpt.pt")
            if not os.path.exists(ckpt):
                train_sft.train(train_sft.parse_args(
                    ["--task", enc, "--data", data, "--val", d("data", "val.jsonl"), "--out", d(name),
                     "--max-steps", str(args.steps), "--batch-size", "32", "--length-groups", "3", "--lr", "3e-3",
                     "--warmup", "100", "--eval-every", str(args.steps), "--eval-n", "100", "--block-size", "512",
                     "--threads", str(args.threads), "--dtype", "fp32", "--quiet", *MODEL]))
            val = [json.loads(line) for line in open(d(name, "log.jsonl")) if '"val_acc"' in line][-1]
            curve = {s: c["strata"] for s, c in sizes.curve(ckpt, tests).items()}
            table[name] = {"train_s": val["train_s"], "val_acc": val["val_acc"],
                           "val_legal": val.get("val_legal_step_rate"), "curve": curve}
            print(name, json.dumps({s: [pt["needs_search"]["greedy"], pt["needs_search"]["legal_step_rate"]]
                                    for s, pt in curve.items()}), flush=True)
    old = json.load(open(d("pilot.json"))) if os.path.exists(d("pilot.json")) else {}
    with open(d("pilot.json"), "w") as f:
        json.dump(old | table, f, indent=1)
    print("\neach cell: greedy accuracy needs search / direct (legal-step rate, all)")
    print(f"| model | train s | val acc (legal) | " + " | ".join(f"{s}x{s}" for s in test_sides) + " |")
    for name, row in (old | table).items():
        cells = [f"{pt['needs_search']['greedy']:.2f} / {pt['direct']['greedy']:.2f} ({sizes._rate(pt['all']['legal_step_rate'])})"
                 for pt in row["curve"].values()]
        print(f"| {name} | {row['train_s']:.0f} | {row['val_acc']:.2f} ({sizes._rate(row['val_legal'])}) | "
              + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
