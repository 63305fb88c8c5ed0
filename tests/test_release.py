"""The published checkpoints (docs/cpu/checkpoints/, written by tools/publish.py) load with
checkpoint.load and decide a slice of the published test set exactly as the run's own evaluation
records say: the same verdict, the same number of tokens, the same legal steps, the same answer. And
checkpoint.release itself, on a tiny model: float16 weights, the same greedy tokens."""
import dataclasses
import glob
import json
import os

import pytest
import torch

import checkpoint
import evaluate
import linearize
from model import GPT, GPTConfig
from tasks import get_task, load_problems

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = [os.path.join(ROOT, "docs", run) for run in ("cpu", "cpu-sizes")]
SLICE = 30
RELEASED = sorted(glob.glob(os.path.join(ROOT, "docs", "*", "checkpoints", "*.pt")))


@pytest.mark.parametrize("run", RUNS, ids=os.path.basename)
def test_the_runs_models_are_published(run):
    released = [p for p in RELEASED if p.startswith(run + os.sep)]
    results = json.load(open(os.path.join(run, "results.json")))
    trained = {f"{task}-{m}" for task, res in results["tasks"].items() for m in res["models"] if "skipped" not in res["models"][m]}
    assert {os.path.basename(p)[:-3] for p in released} == trained and all(os.path.getsize(p) < 4e6 for p in released)


@pytest.mark.parametrize("path", RELEASED, ids=lambda p: os.path.relpath(p, os.path.join(ROOT, "docs")))
def test_a_published_checkpoint_reproduces_the_runs_greedy_records(path):
    run = os.path.dirname(os.path.dirname(path))
    task, name = os.path.basename(path)[:-3].rsplit("-", 1)  # (a task name may hold a dash, a model name does not)
    model, vocab, task_cls = checkpoint.load(path)
    everything = load_problems(os.path.join(run, task, "data", "test.jsonl"), task_cls)[0]
    problems = everything[:SLICE]
    mine = evaluate.evaluate(model, vocab, task_cls, problems, n=0, algos=(), batch_size=256, dtype="fp32")
    published = json.load(open(os.path.join(run, task, "eval", f"{name}.json")))["per_problem"][:SLICE]
    # An output cut off by the context is wrong whatever its length, and its length depends on the
    # longest prompt of its batch (left padding; the run decoded the whole test set as one batch): of
    # those, only the verdict is compared.
    limit = model.config.block_size - max(map(len, evaluate.encode_prompts(vocab, task_cls, everything)))
    cut = lambda r: r["tokens"] >= limit
    fields = lambda r: [r["greedy"], cut(r)] if cut(r) else [r[f] for f in ("greedy", "tokens", "legal_steps", "answer")]
    assert [fields(r) for r in mine["per_problem"]] == [fields(r) for r in published]
    assert 0 < sum(r["greedy"] for r in published)  # a slice that can tell a working model from a broken one


def test_release_halves_the_weights_and_changes_no_logit_by_more_than_float16_rounding(tmp_path):
    vocab = linearize.build_vocab(get_task("maze"))
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=64, vocab_size=len(vocab), n_layer=2, n_head=2, n_embd=64)
    full = str(tmp_path / "ckpt.pt")
    checkpoint.save_checkpoint(full, model=GPT(cfg).state_dict(), optimizer={}, config=dataclasses.asdict(cfg),
                               vocab=vocab.itos, task="maze", step=7)
    size = checkpoint.release(full, str(tmp_path / "small.pt"))
    assert size < 0.7 * os.path.getsize(full)  # (the vocabulary and config are the same bytes in both)
    state = torch.load(tmp_path / "small.pt", weights_only=True)["model"]
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    (a, va, ta), (b, vb, tb) = checkpoint.load(full), checkpoint.load(str(tmp_path / "small.pt"))
    assert va.itos == vb.itos and ta is tb and next(b.parameters()).dtype == torch.float32
    idx = torch.randint(1, len(vocab), (4, 40), generator=torch.Generator().manual_seed(1))
    la, lb = a(idx)[0], b(idx)[0]
    assert 0 < (la - lb).abs().max() < 2e-2  # rounded (not a copy), and only by float16's ~1e-3 per weight
