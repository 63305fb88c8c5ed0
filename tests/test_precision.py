"""Precision (--dtype): what auto chooses and why, and that bf16 changes speed, not what is stored.

auto's choice is a measurement; these tests replace the clock's verdict (model.bf16_speedups) or the
CPU's flags, so that every branch is checked on any machine, whatever its CPU."""
import json
import os

import pytest
import torch

import checkpoint
import model
import train_sft
from model import GPT, GPTConfig, autocast_ctx, resolve_dtype


def never(dtype):
    raise AssertionError("nothing should be measured here")


def test_a_requested_precision_is_kept_and_auto_measures_only_where_it_can_choose(monkeypatch):
    assert resolve_dtype("fp32", "cpu", never)[0] == "fp32"
    assert resolve_dtype("bf16", "cpu", never)[0] == "bf16"
    assert resolve_dtype("auto", "cpu")[0] == "fp32"           # decoding: no measurement, fp32
    monkeypatch.setattr(model, "cpu_has_bf16", lambda: False)
    assert resolve_dtype("auto", "cpu", never) == ("fp32", "auto: this CPU has no native bf16")
    assert "no native bf16" in resolve_dtype("bf16", "cpu")[1]  # forced: allowed, with a warning


@pytest.mark.parametrize("ratios, chosen", [([1.5, 1.6, 1.4], "bf16"), ([0.9, 0.8, 0.9], "fp32"),
                                            ([1.5, 1.1, 1.6], "fp32"), ([1.2, 1.2, 1.2], "bf16")])
def test_auto_takes_bf16_only_if_every_round_clears_the_margin(monkeypatch, ratios, chosen):
    monkeypatch.setattr(model, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(model, "bf16_speedups", lambda step: ratios)
    dtype, why = resolve_dtype("auto", "cpu", never)
    assert dtype == chosen and "/".join(f"{r:.2f}" for r in ratios) in why


def test_the_speedup_is_the_ratio_of_the_two_times(monkeypatch):
    now = [0.0]  # a fake clock: fp32 "takes" 3 units, bf16 1 unit

    def step(dtype):
        now[0] += 3 if dtype == "fp32" else 1
    monkeypatch.setattr(model.time, "perf_counter", lambda: now[0])
    assert model.bf16_speedups(step, rounds=4) == [3.0] * 4


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    def has(text):
        (tmp_path / "cpuinfo").write_text(text)
        return model.cpu_has_bf16(tmp_path / "cpuinfo")
    assert has("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert has("flags\t\t: fpu amx_tile amx_bf16\n")
    assert not has("flags\t\t: fpu sse avx2 avx512f\n")
    assert not has("no flags line at all\n")
    assert not model.cpu_has_bf16(tmp_path / "missing")


def test_bf16_runs_the_matmuls_in_bf16_and_keeps_the_loss_in_fp32():
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=16, vocab_size=20, n_layer=1, n_head=2, n_embd=32))
    x = torch.randint(0, 20, (4, 16))
    with autocast_ctx("cpu", "bf16"):
        assert (x.float() @ torch.ones(16, 2)).dtype == torch.bfloat16
        _, loss16 = m(x, x)
    with autocast_ctx("cpu", "auto"):
        assert (x.float() @ torch.ones(16, 2)).dtype == torch.float32
        _, loss32 = m(x, x)
    assert loss16.dtype == torch.float32
    assert abs(loss16.item() - loss32.item()) < 0.02 * loss32.item()  # bf16 keeps ~3 significant digits


def test_a_bf16_run_stores_fp32_weights_and_optimizer_and_resumes_in_bf16(countdown_data, tmp_path):
    def args(*extra):
        return train_sft.parse_args(["--task", "countdown", "--data", str(countdown_data / "astar.jsonl"),
                                     "--val", str(countdown_data / "problems.jsonl"), "--eval-n", "4",
                                     "--out", str(tmp_path), "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
                                     "--batch-size", "8", "--warmup", "2", "--max-steps", "8", "--eval-every", "4",
                                     "--threads", "1", "--quiet", "--device", "cpu", *extra])
    train_sft.train(args("--dtype", "bf16", "--stop-after", "4"))
    ckpt = checkpoint.load_checkpoint(tmp_path / "ckpt.pt")
    assert ckpt["dtype"] == "bf16"
    assert all(t.dtype == torch.float32 for t in ckpt["model"].values())
    moments = [s[k] for s in ckpt["optimizer"]["state"].values() for k in ("exp_avg", "exp_avg_sq")]
    assert moments and all(t.dtype == torch.float32 for t in moments)
    # auto on resume keeps the checkpoint's precision rather than measuring again
    assert train_sft.choose_dtype(args(), None, None, None, None, "cpu", "bf16") == ("bf16", "auto: as the checkpoint trained")
    train_sft.train(args("--resume"))
    assert checkpoint.load_checkpoint(tmp_path / "ckpt.pt")["dtype"] == "bf16"
    rows = [json.loads(line) for line in open(os.path.join(tmp_path, "log.jsonl"))]
    evals = [r for r in rows if "val_acc" in r]
    assert [r["step"] for r in evals] == [4, 8] and all(r["train_s"] > 0 for r in evals)


def test_results_name_the_cpu_and_its_bf16(tmp_path, monkeypatch):
    import platform

    import results
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(results.os, "cpu_count", lambda: 2)
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert results.machine(tmp_path / "cpuinfo") == "x86_64 AMD EPYC 9R14, 2 cores, native bf16"
    (tmp_path / "cpuinfo").write_text("flags\t\t: fpu avx2\n")
    assert results.machine(tmp_path / "cpuinfo") == "x86_64, 2 cores, no native bf16"
    assert results.machine(tmp_path / "missing") == "x86_64, 2 cores, no native bf16"
