"""
Specs for multi-process training: `torchrun --nproc_per_node=N train_sft.py` must compute what one
process computes (the same loss at every step, the same weights at the end), only rank 0 may write,
and held-out evaluation split across ranks must count every problem exactly once. Everything runs on
the CPU with gloo, so these tests need no GPU.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import checkpoint
import distributed
import evaluate
import linearize
import search
import train_rl
import train_sft
from tasks.countdown import Countdown


def torchrun(nproc, script, *args, timeout=300):
    # --standalone: torchrun binds a free port itself (a port picked here and released could be taken first)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           os.path.join(ROOT, script), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


@pytest.fixture(scope="module")
def data_dir(countdown_data):
    return countdown_data


def sft_flags(d, out, steps=20):
    return ["--task", "countdown", "--data", str(d / "astar.jsonl"), "--out", str(out), "--n-layer", "1",
            "--n-head", "2", "--n-embd", "32", "--batch-size", "8", "--warmup", "2", "--max-steps", str(steps),
            "--log-every", "1", "--val", str(d / "problems.jsonl"), "--eval-n", "7", "--eval-every", "10",
            "--threads", "1", "--device", "cpu", "--quiet"]


def log_rows(out):
    return [json.loads(line) for line in open(os.path.join(out, "log.jsonl"))]


def test_two_processes_train_exactly_like_one(data_dir, tmp_path):
    train_sft.train(train_sft.parse_args(sft_flags(data_dir, tmp_path / "one")))
    stdout = torchrun(2, "train_sft.py", *sft_flags(data_dir, tmp_path / "two"))
    assert "2 process(es)" in stdout and stdout.count("done:") == 1  # only rank 0 reports
    one, two = log_rows(tmp_path / "one"), log_rows(tmp_path / "two")
    # rank 0 alone writes the log: each step once, each evaluation once (7 problems over 2 ranks)
    assert [r["step"] for r in two] == [r["step"] for r in one]
    assert [r["step"] for r in two if "loss" in r] == list(range(1, 21))
    for a, b in zip(one, two):
        if "loss" in a:
            # each rank sees half of every global batch; the loss is normalized by the GLOBAL token
            # count, so only float summation order separates the two (a per-rank mean would be ~1e-2 off)
            assert abs(a["loss"] - b["loss"]) < 1e-5, (a, b)
        else:
            assert a["val_acc"] == b["val_acc"]
    wa = checkpoint.load_checkpoint(tmp_path / "one" / "ckpt.pt")["model"]
    wb = checkpoint.load_checkpoint(tmp_path / "two" / "ckpt.pt")["model"]
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=0, atol=1e-5), k


# ------------------------------------------------------------------------------------------------
# sharded evaluation, with two in-process ranks joined by gloo

def _rank_main(fn, rank, world, store, queue):
    import torch.distributed as dist
    torch.set_num_threads(1)
    # a file rendezvous: no port to pick, so nothing another process can take first
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        queue.put((rank, fn(rank, world)))
    except BaseException as e:  # report instead of hanging the other rank's collective
        queue.put((rank, e))
    finally:
        dist.destroy_process_group()


def run_ranks(fn, store, world=2):
    """fn(rank, world) on `world` forked processes in one gloo group; returns the results by rank."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(fn, r, world, store, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    for r, res in results.items():
        if isinstance(res, BaseException):
            raise res
    return [results[r] for r in range(world)]


class HalfOracle:
    """Stands in for a GPT: writes the right answer for problems whose target is even, garbage for odd."""

    def __init__(self, vocab, problems):
        self.vocab, self.config = vocab, type("C", (), {"block_size": 512})()
        self.answers = {}
        for p in problems:
            task = Countdown(p)
            result = search.run_search(task, "astar")
            toks = (["answer", *task.answer_tokens(task.answer(result.moves))] if p["target"] % 2 == 0
                    else ["answer", "1", "+", "1", "=", "2"])
            self.answers[tuple(vocab.encode(linearize.prompt_tokens(task)))] = vocab.encode(toks + [linearize.EOS])

    def eval(self):
        return self

    def generate(self, idx, max_new_tokens, eos_id=None, pad_id=0, prompt_lens=None, **_):
        rows = [self.answers[tuple(idx[b, idx.size(1) - prompt_lens[b]:].tolist())] for b in range(len(idx))]
        toks = torch.full((len(rows), max(map(len, rows))), pad_id)
        for b, r in enumerate(rows):
            toks[b, :len(r)] = torch.tensor(r)
        return toks, torch.zeros(toks.shape), torch.tensor([len(r) for r in rows])


def test_sharded_evaluation_counts_every_problem_once(data_dir, tmp_path):
    problems = [json.loads(line) for line in open(data_dir / "problems.jsonl")][:11]  # odd: unequal shards
    vocab = linearize.build_vocab(Countdown)
    model = HalfOracle(vocab, problems)
    expected = sum(p["target"] % 2 == 0 for p in problems) / len(problems)
    assert 0 < expected < 1
    assert evaluate.sharded_greedy_stats(model, vocab, Countdown, problems, "cpu", 0, 1)["val_acc"] == expected

    def on_rank(rank, world):
        acc = evaluate.sharded_greedy_stats(model, vocab, Countdown, problems, "cpu", rank, world)["val_acc"]
        order = distributed.gather_shards([p["nums"] for p in problems[rank::world]], len(problems), rank, world)
        return acc, order

    for world in (2, 3):
        for acc, order in run_ranks(on_rank, tmp_path / f"store{world}", world):
            assert acc == expected
            assert order == [p["nums"] for p in problems]  # the gathered records are back in place


@pytest.mark.slow
def test_two_process_rl_runs_and_evaluates_like_one(data_dir, tmp_path):
    """train_rl under torchrun: each rank samples its own prompts, gradients are averaged, and the
    held-out greedy accuracy (split across ranks) equals the single-process number."""
    small = tmp_path / "small.jsonl"
    small.write_text("".join(open(data_dir / "astar.jsonl").readlines()[:4]))
    sft = ["--task", "countdown", "--data", str(small), "--out", str(tmp_path / "sft"), "--n-layer", "2",
           "--n-head", "2", "--n-embd", "64", "--batch-size", "4", "--max-steps", "150", "--lr", "3e-3",
           "--warmup", "10", "--threads", "1", "--device", "cpu", "--quiet"]
    train_sft.train(train_sft.parse_args(sft))  # memorizes four problems: a non-zero accuracy to compare
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"nums": r["nums"], "target": r["target"]}) + "\n"
                           for r in map(json.loads, open(small))) + "".join(open(data_dir / "problems.jsonl").readlines()[10:13]))
    rl = ["--init", str(tmp_path / "sft" / "ckpt.pt"), "--problems", str(val), "--val", str(val), "--steps", "2",
          "--prompts", "2", "--group", "2", "--eval-every", "1", "--eval-samples", "2", "--max-new-tokens", "64",
          "--threads", "1", "--device", "cpu", "--quiet"]
    train_rl.train(train_rl.parse_args(rl + ["--out", str(tmp_path / "rl1")]))
    torchrun(2, "train_rl.py", *rl, "--out", str(tmp_path / "rl2"))
    evals = lambda out: [r for r in log_rows(out) if "val_acc" in r]
    e1, e2 = evals(tmp_path / "rl1"), evals(tmp_path / "rl2")
    assert [r["step"] for r in e2] == [0, 1, 2] and [r["step"] for r in log_rows(tmp_path / "rl2") if "reward" in r] == [1, 2]
    assert e1[0]["val_acc"] == e2[0]["val_acc"] > 0  # before RL the weights are the same
    assert os.path.exists(tmp_path / "rl2" / "ckpt.pt")
