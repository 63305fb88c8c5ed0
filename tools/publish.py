"""
Publish a finished run into docs/: its report, results.json, timings.json and figures, each task's
test problems and per-problem evaluation records (so that `python report.py DEST` rewrites the
report from what is published), and a release checkpoint of every model it trained
(checkpoint.release: the weights alone, 1.9 MB in float16 for the CPU preset's 0.86M-parameter
models).

A release checkpoint is only published if it decides exactly as the trained one: greedy decoding
of the run's whole test set must give the same tokens with both. Where float16 rounding flips a
token, the weights are published in float32 (3.5 MB) instead.

    python tools/publish.py runs/cpu docs/cpu
"""
import argparse
import glob
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch  # noqa: E402

import checkpoint  # noqa: E402
import evaluate  # noqa: E402
from tasks import load_problems  # noqa: E402


def greedy_tokens(ckpt, problems_path):
    model, vocab, task_cls = checkpoint.load(ckpt)
    problems = load_problems(problems_path, task_cls)[0]
    prompts = evaluate.encode_prompts(vocab, task_cls, problems)
    return [ids for ids, _ in evaluate.complete(model, vocab, prompts, batch_size=256, dtype="fp32")]


def main(argv=None):
    p = argparse.ArgumentParser(description="Copy a run's report and release checkpoints into a docs folder.")
    p.add_argument("run", help="a finished reproduce.py run folder, e.g. runs/cpu")
    p.add_argument("dest", help="where to publish it, e.g. docs/cpu")
    p.add_argument("--no-checkpoints", action="store_true",
                   help="the report, numbers and evaluation records only (a run of many models: docs/cpu-seeds)")
    args = p.parse_args(argv)
    if not os.path.exists(os.path.join(args.run, "results.json")):
        raise SystemExit(f"error: {args.run} has no results.json: finish the run first")
    os.makedirs(args.dest, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(args.run, "*.*"))):
        shutil.copy(path, args.dest)
    for path in sorted(glob.glob(os.path.join(args.run, "*", "eval", "*.json")) +
                       glob.glob(os.path.join(args.run, "*", "data", "test*.jsonl")) +
                       glob.glob(os.path.join(args.run, "*", "data", "size*.jsonl"))):  # (the size curve's mazes)
        dst = os.path.join(args.dest, os.path.relpath(path, args.run))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(path, dst)
    for ckpt in [] if args.no_checkpoints else sorted(glob.glob(os.path.join(args.run, "*", "*", "ckpt.pt"))):
        task, name = ckpt.split(os.sep)[-3:-1]
        dst = os.path.join(args.dest, "checkpoints", f"{task}-{name}.pt")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        test = os.path.join(args.run, task, "data", "test.jsonl")
        want = greedy_tokens(ckpt, test)
        for dtype in (torch.float16, torch.float32):  # float32 where rounding to float16 flips a greedy token
            size = checkpoint.release(ckpt, dst + ".tmp", dtype)
            if greedy_tokens(dst + ".tmp", test) == want:
                break
        else:
            os.remove(dst + ".tmp")
            raise SystemExit(f"error: the released weights of {ckpt} decode the test set differently; not published")
        os.replace(dst + ".tmp", dst)
        print(f"{dst}: {size / 1e6:.2f} MB ({str(dtype)[6:]}), decodes the {task} test set exactly as {ckpt}")


if __name__ == "__main__":
    main()
