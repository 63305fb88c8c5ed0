"""benchmarks/bench_learn.py: the time-to-learned figures read from a training log, and the whole
benchmark at toy size (its comparison of two precisions included)."""
import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_learn", os.path.join(ROOT, "benchmarks", "bench_learn.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def check(step, acc, answers, legal, train_s):
    return {"step": step, "val_acc": acc, "val_answer_rate": answers, "val_legal_step_rate": legal, "train_s": train_s}


def test_learned_times_are_the_first_passing_check_and_the_first_reaching_the_final_accuracy(bench):
    rows = [{"step": 10, "loss": 3.0}, check(100, 0.2, 0.50, 0.40, 10.0), check(200, 0.7, 0.96, 0.90, 20.0),
            check(300, 0.9, 0.97, 0.96, 30.0), check(400, 0.8, 0.99, 0.99, 40.0), check(500, 0.8, 1.0, 0.93, 50.0)]
    # the gate: answers >= 0.95 and legal steps >= 0.95 of the data's (1.0); the final accuracy 0.8
    # was first reached at 300 (0.9 >= 0.8), not at 400
    assert bench.learned_times(rows, 1.0) == (30.0, 30.0, 0.8, 50.0)
    # the data's own legal-step rate sets the bar: 0.90 of 0.94 is 0.957 of it
    assert bench.learned_times(rows, 0.94)[0] == 20.0
    # solution-only data (no clauses): answers alone
    assert bench.learned_times(rows, None)[0] == 20.0
    assert bench.learned_times(rows[:2], 1.0)[0] is None  # never passed


def test_the_benchmark_runs_at_toy_size(bench, tmp_path, capsys):
    bench.main(["--preset", "smoke", "--runs", "sft_dfs", "--dtype", "fp32", "bf16", "--eval-every", "10",
                "--threads", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "machine: " in out and "native bf16: " in out
    for name in ("sft_dfs-fp32-seed0", "sft_dfs-bf16-seed0"):
        assert f"{name}: trained in {name.split('-')[1]}" in out
    assert "sft_dfs-bf16-seed0         vs sft_dfs-fp32-seed0" in out
    assert os.path.getsize(tmp_path / "loss_curves.png") > 0
    # a second call reads the finished runs instead of training them again
    before = os.path.getmtime(tmp_path / "maze" / "sft_dfs-fp32-seed0" / "ckpt.pt")
    bench.main(["--preset", "smoke", "--runs", "sft_dfs", "--dtype", "fp32", "--threads", "1", "--out", str(tmp_path)])
    assert os.path.getmtime(tmp_path / "maze" / "sft_dfs-fp32-seed0" / "ckpt.pt") == before
