"""SFT data, training loop, checkpoints and the evaluation estimators."""
import itertools
import json
import os
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import evaluate
import checkpoint
import linearize
import train_sft
from tasks import ProblemError
from tasks.countdown import Countdown
from tasks.maze import Maze


@pytest.fixture(scope="module")
def data_dir(countdown_data):
    return countdown_data


def sft_args(data_dir, out, *extra):
    return train_sft.parse_args(["--task", "countdown", "--data", str(data_dir / "astar.jsonl"), "--out", str(out),
                                 "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--batch-size", "8",
                                 "--warmup", "2", "--threads", "1", "--quiet", "--device", "cpu", *extra])


def read_losses(out):
    return [r["loss"] for r in map(json.loads, open(os.path.join(out, "log.jsonl"))) if "loss" in r]


def test_batch_masks_the_prompt(data_dir):
    vocab = linearize.build_vocab(Countdown)
    data, _ = train_sft.encode_rows(data_dir / "astar.jsonl", Countdown, vocab)
    rows = [0, 1, 2]
    x, y = data.batch(rows, vocab.pad)
    for b, r in enumerate(rows):
        seq = data.tokens[data.offsets[r]:data.offsets[r + 1]]
        prompt_len = data.loss_from[r]
        assert seq[prompt_len - 1] == vocab.sep
        assert (y[b, :prompt_len - 1] == -1).all()  # no prompt token is ever a target
        n = len(seq) - 1
        assert y[b, prompt_len - 1:n].tolist() == seq[prompt_len:].tolist()  # the whole trace and <eos> are
        assert (y[b, n:] == -1).all()


def test_answer_only_and_wrong_branch_masks(data_dir):
    vocab = linearize.build_vocab(Countdown)
    full, _ = train_sft.encode_rows(data_dir / "astar.jsonl", Countdown, vocab)
    ans, _ = train_sft.encode_rows(data_dir / "astar.jsonl", Countdown, vocab, loss_on="answer")
    masked, _ = train_sft.encode_rows(data_dir / "astar.jsonl", Countdown, vocab, mask_wrong_branches=True)
    _, y_full = full.batch([0], vocab.pad)
    _, y_ans = ans.batch([0], vocab.pad)
    _, y_mask = masked.batch([0], vocab.pad)
    trained = lambda y: vocab.decode(y[0][y[0] != -1].tolist())
    assert trained(y_ans)[0] == "answer" and trained(y_ans)[-1] == linearize.EOS
    assert len(trained(y_ans)) < len(trained(y_mask)) < len(trained(y_full))


def test_length_groups_cover_the_batch_once_and_give_its_gradient(data_dir):
    """The groups are a partition of the batch, sorted by length; the summed loss of the groups, each
    padded to its own longest, has the gradient of the one padded batch (the brute-force reference)."""
    from model import GPT, GPTConfig
    vocab = linearize.build_vocab(Countdown)
    data, _ = train_sft.encode_rows(data_dir / "astar.jsonl", Countdown, vocab)
    lengths, rows = data.lengths(), list(range(0, 40, 3))
    groups = train_sft.length_groups(rows, lengths, 3)
    assert sorted(r for g in groups for r in g) == sorted(rows) and len(groups) == 3
    flat = [lengths[r] for g in groups for r in g]
    assert flat == sorted(flat)
    assert train_sft.length_groups(rows[:2], lengths, 3) == [[r] for r in sorted(rows[:2], key=lambda r: (lengths[r], r))]
    assert sum(data.batch(g, vocab.pad)[0].numel() for g in groups) < data.batch(rows, vocab.pad)[0].numel()
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=512, vocab_size=len(vocab), n_layer=2, n_head=2, n_embd=32))

    def grads(parts):
        model.zero_grad()
        n = sum(int((data.batch(p, vocab.pad)[1] != -1).sum()) for p in parts)
        for p in parts:
            x, y = data.batch(p, vocab.pad)
            (model(x, y)[1] / n).backward()
        return torch.cat([q.grad.flatten() for q in model.parameters()])
    one, three = grads([rows]), grads(groups)
    assert torch.allclose(one, three, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(one, grads(groups[:2]), rtol=1e-4, atol=1e-6)  # the check can fail


def test_bad_data_names_file_and_line(tmp_path, data_dir):
    bad = tmp_path / "bad.jsonl"
    lines = open(data_dir / "astar.jsonl").read().splitlines()
    bad.write_text("\n".join([lines[0], '{"nums": [1, 2], "target": "x", "trace": "answer"}'] + lines[1:3]) + "\n")
    vocab = linearize.build_vocab(Countdown)
    with pytest.raises(ProblemError, match=r"bad.jsonl:2: .*target"):
        train_sft.encode_rows(bad, Countdown, vocab)
    data, skipped = train_sft.encode_rows(bad, Countdown, vocab, skip_bad=True)
    assert skipped == 1 and len(data) == 3


def test_too_long_sequences_are_refused_not_truncated(data_dir, tmp_path):
    with pytest.raises(SystemExit, match=r"longer than block_size 16.*--block-size"):
        train_sft.train(sft_args(data_dir, tmp_path / "r", "--block-size", "16", "--max-steps", "1"))


def test_impossible_configs_are_refused(data_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        sft_args(data_dir, tmp_path, "--n-embd", "30", "--n-head", "4")
    assert e.value.code == 2 and "--n-embd 30 is not divisible by --n-head 4" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        sft_args(data_dir, tmp_path, "--max-steps", "0")
    assert e.value.code == 2 and "--max-steps must be positive" in capsys.readouterr().err


def test_training_is_deterministic_and_resume_matches(data_dir, tmp_path):
    train_sft.train(sft_args(data_dir, tmp_path / "a", "--max-steps", "20", "--ckpt-every", "10"))
    train_sft.train(sft_args(data_dir, tmp_path / "b", "--max-steps", "20", "--ckpt-every", "10"))
    assert read_losses(tmp_path / "a") == read_losses(tmp_path / "b")
    # interrupted at step 10, then resumed: same losses and the same final weights as straight through
    train_sft.train(sft_args(data_dir, tmp_path / "c", "--max-steps", "20", "--stop-after", "10"))
    ckpt10 = checkpoint.load_checkpoint(tmp_path / "c" / "ckpt.pt")
    assert ckpt10["step"] == 10
    args = sft_args(data_dir, tmp_path / "c", "--max-steps", "20", "--resume")
    train_sft.train(args)
    assert read_losses(tmp_path / "c") == read_losses(tmp_path / "a")
    wa = checkpoint.load_checkpoint(tmp_path / "a" / "ckpt.pt")["model"]
    wc = checkpoint.load_checkpoint(tmp_path / "c" / "ckpt.pt")["model"]
    assert all(torch.equal(wa[k], wc[k]) for k in wa)


def test_checkpoint_round_trip_and_refusals(data_dir, tmp_path):
    train_sft.train(sft_args(data_dir, tmp_path / "r", "--max-steps", "2"))
    path = tmp_path / "r" / "ckpt.pt"
    ckpt = checkpoint.load_checkpoint(path)
    model, vocab = checkpoint.model_from_checkpoint(ckpt)
    again, _ = checkpoint.model_from_checkpoint(checkpoint.load_checkpoint(path))
    x = torch.randint(0, len(vocab), (2, 10))
    assert torch.equal(model(x)[0], again(x)[0])
    # a truncated file is an error that names it, not a crash
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(SystemExit, match="cut.pt.*corrupt"):
        checkpoint.load_checkpoint(tmp_path / "cut.pt")
    # a vocabulary or context that does not match the data names the field
    with pytest.raises(SystemExit, match="'vocab'"):
        checkpoint.check_compatible(ckpt, linearize.build_vocab(Maze), 8, "maze data")
    with pytest.raises(SystemExit, match="'block_size'"):
        checkpoint.check_compatible(ckpt, vocab, 10_000, "long data")


class Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_payload_checkpoint_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": {}, "config": {}, "vocab": [], "task": "countdown", "step": 0, "evil": Payload()},
               tmp_path / "evil.pt")
    with pytest.raises(SystemExit, match="refusing to load"):
        checkpoint.load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED").exists()


def test_a_tiny_dataset_overfits(data_dir, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(open(data_dir / "astar.jsonl").readlines()[:4]))
    args = train_sft.parse_args(["--task", "countdown", "--data", str(small), "--out", str(tmp_path / "o"),
                                 "--n-layer", "2", "--n-head", "2", "--n-embd", "64", "--batch-size", "4",
                                 "--max-steps", "150", "--lr", "3e-3", "--warmup", "10", "--threads", "1", "--quiet"])
    train_sft.train(args)
    assert read_losses(tmp_path / "o")[-1] < 0.05


# ------------------------------------------------------------------------------------------------
# estimators against brute force

def brute_pass_at_k(n, c, k):
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_equals_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert evaluate.pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12)


def test_cover_and_bootstrap():
    assert evaluate.cover_at([0.0, 0.5, 0.49, 1.0], 0.5) == 0.5
    a = [1] * 30 + [0] * 70
    diff, lo, hi = evaluate.paired_bootstrap(a, a)
    assert diff == lo == hi == 0
    diff, lo, hi = evaluate.paired_bootstrap([1] * 100, [0] * 100)
    assert diff == lo == hi == 1
    rng = random.Random(0)
    a = [rng.random() < 0.6 for _ in range(400)]
    b = [rng.random() < 0.4 for _ in range(400)]
    diff, lo, hi = evaluate.paired_bootstrap(a, b)
    assert lo < diff < hi and lo > 0


# ------------------------------------------------------------------------------------------------
# the evaluator, fed by an oracle and by garbage

class ScriptedModel:
    """Stands in for a GPT: answers each prompt with a fixed continuation."""

    def __init__(self, replies, vocab, block_size=2048):
        self.replies, self.vocab = replies, vocab
        self.config = SimpleNamespace(block_size=block_size)

    def eval(self):
        return self

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, eos_id=None, pad_id=0,
                 prompt_lens=None, generator=None):
        rows = [self.replies(idx[b, idx.size(1) - prompt_lens[b]:].tolist())[:max_new_tokens] for b in range(len(idx))]
        N = max(map(len, rows))
        toks = torch.full((len(rows), N), pad_id)
        for b, r in enumerate(rows):
            toks[b, :len(r)] = torch.tensor(r)
        return toks, torch.zeros(len(rows), N), torch.tensor([len(r) for r in rows])


def test_oracle_scores_100_and_garbage_scores_0(data_dir):
    vocab = linearize.build_vocab(Countdown)
    rows = [json.loads(line) for line in open(data_dir / "astar.jsonl")]
    problems = [{"nums": r["nums"], "target": r["target"]} for r in rows]
    by_prompt = {tuple(vocab.encode(linearize.prompt_tokens(Countdown(r)))): vocab.encode(r["trace"].split() + [linearize.EOS])
                 for r in rows}
    oracle = ScriptedModel(lambda p: by_prompt[tuple(p)], vocab)
    res = evaluate.evaluate(oracle, vocab, Countdown, problems, n=4, ks=(1, 4))
    assert res["greedy_acc"] == 1.0 and res["pass_at_k"]["4"]["mean"] == 1.0 and res["legal_step_rate"] == 1.0
    assert res["model_nodes_mean"] == pytest.approx(np.mean([r["nodes_expanded"] for r in rows]))
    rng = random.Random(0)
    garbage = ScriptedModel(lambda p: [rng.randrange(len(vocab)) for _ in range(rng.randrange(0, 40))], vocab)
    res = evaluate.evaluate(garbage, vocab, Countdown, problems, n=4, ks=(1, 4))
    assert res["greedy_acc"] == 0.0 and res["pass_at_k"]["4"]["mean"] == 0.0
    # a self-congratulating reply that claims success with a wrong answer earns nothing either
    liar = ScriptedModel(lambda p: vocab.encode(["answer", "1", "+", "1", "=", "2", linearize.EOS]), vocab)
    assert evaluate.evaluate(liar, vocab, Countdown, problems[:8], n=0)["greedy_acc"] == 0.0


def test_compare_counts_and_ci(tmp_path):
    def write(name, greedy):
        path = tmp_path / name
        path.write_text(json.dumps({"per_problem": [{"greedy": g, "n": 0, "c": 0} for g in greedy]}))
        return str(path)
    a = write("a.json", [1, 1, 0, 0, 1])
    b = write("b.json", [1, 0, 1, 0, 0])
    res = evaluate.compare(a, b)
    assert (res["only_a"], res["only_b"]) == (2, 1)
    assert res["diff"] == pytest.approx(0.2) and res["ci95"][0] <= 0.2 <= res["ci95"][1]
