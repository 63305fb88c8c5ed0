"""
Specs for training under faults: a run killed with SIGKILL at any moment resumes to exactly the
weights of a run that was never interrupted; a checkpoint write that dies half-way leaves the previous
checkpoint intact; a diverged run (nan/inf) stops with a message naming the step and the last good
checkpoint, and does not touch that checkpoint.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import checkpoint
import train_sft


@pytest.fixture(scope="module")
def data_dir(countdown_data):
    return countdown_data


def flags(d, out, *extra):
    return ["--task", "countdown", "--data", str(d / "astar.jsonl"), "--out", str(out), "--n-layer", "1",
            "--n-head", "2", "--n-embd", "32", "--batch-size", "8", "--warmup", "2", "--threads", "1",
            "--device", "cpu", "--quiet", *extra]


def weights(out):
    return checkpoint.load_checkpoint(os.path.join(out, "ckpt.pt"))["model"]


def losses(out):
    return [(r["step"], r["loss"]) for r in map(json.loads, open(os.path.join(out, "log.jsonl"))) if "loss" in r]


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_weights(data_dir, tmp_path):
    steps = ["--max-steps", "100", "--ckpt-every", "5", "--log-every", "1"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "train_sft.py"), *flags(data_dir, killed, *steps)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while not (killed / "ckpt.pt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        # let it run a little past its first checkpoint, so that the kill loses logged, unsaved steps
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    saved = checkpoint.load_checkpoint(killed / "ckpt.pt")["step"]
    assert 5 <= saved < 100 and saved % 5 == 0

    train_sft.train(train_sft.parse_args(flags(data_dir, killed, *steps, "--resume")))
    train_sft.train(train_sft.parse_args(flags(data_dir, tmp_path / "straight", *steps)))
    a, b = weights(killed), weights(tmp_path / "straight")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the steps the killed run logged but never saved were dropped on resume: one row per step
    assert losses(killed) == losses(tmp_path / "straight")


def test_a_checkpoint_write_that_dies_leaves_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    checkpoint.save_checkpoint(path, model={"w": torch.ones(3)}, step=1)
    before = digest(path)

    def dying_save(obj, f):
        f.write(b"PK\x03\x04 half a zip")  # what a full disk mid-write leaves behind
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(SystemExit, match=f"cannot write {path}: No space left on device"):
        checkpoint.save_checkpoint(path, model={"w": torch.zeros(3)}, step=2)
    assert digest(path) == before and os.listdir(tmp_path) == ["ckpt.pt"]  # no half file under any name
    assert torch.load(path, weights_only=True)["step"] == 1


def test_divergence_stops_naming_the_step_and_the_untouched_checkpoint(data_dir, tmp_path):
    out = tmp_path / "run"
    train_sft.train(train_sft.parse_args(flags(data_dir, out, "--max-steps", "30", "--stop-after", "10",
                                               "--ckpt-every", "5", "--log-every", "1")))
    before = digest(out / "ckpt.pt")
    # an absurd learning rate: the update after step 10 blows the weights up, step 11 sees nan
    with pytest.raises(SystemExit, match=r"(loss|gradient norm) is (nan|inf) at step 11; stopping without saving\. "
                                         r"Last good checkpoint: .*ckpt\.pt \(step 10\), left untouched"):
        train_sft.train(train_sft.parse_args(flags(data_dir, out, "--max-steps", "30", "--ckpt-every", "1",
                                                   "--log-every", "1", "--lr", "1e30", "--resume")))
    assert digest(out / "ckpt.pt") == before
    assert [s for s, _ in losses(out)] == list(range(1, 12))  # step 11's finite loss was logged, nothing after
    # a fresh run that diverges before its first checkpoint says so
    with pytest.raises(SystemExit, match=r"at step 1; .*Last good checkpoint: none written by this run"):
        train_sft.train(train_sft.parse_args(flags(data_dir, tmp_path / "fresh", "--max-steps", "30", "--lr", "1e30")))
    assert not (tmp_path / "fresh" / "ckpt.pt").exists()
