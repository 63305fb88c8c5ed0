"""
The main job as a research instrument (the smoke preset, one task, in subprocesses):

- a run killed with SIGKILL at several moments -- during data generation, mid-SFT, mid-RL, while a
  stage's marker is written, mid-evaluation, while the report is written -- and started again ends
  with a results.json byte for byte equal to an uninterrupted run's, and with equal weights;
- a damaged cache (a truncated checkpoint, a truncated JSONL) is named and its stage redone, the
  damaged files kept aside, and the result is again the same;
- a changed setting is refused before anything runs, naming it; a setting that cannot work fails
  the preflight in seconds; a full disk is an error naming the file, and nothing is marked done.

Kill points are chosen by which file is being written (the n-th write of a path ending so), so they
are the same on every machine and every run: the process kills itself mid-write, after the temporary
file is written and before it is renamed, the worst moment for a file.
"""
import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

import preflight
import reproduce

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--preset", "smoke", "--task", "maze", "--threads", "1", "--jobs", "1"]
# imports files first and wraps atomic_write, so every module that imports it gets the dying one
KILLER = """
import contextlib, os, signal, sys
import files
target, nth = sys.argv[1], int(sys.argv[2])
real, seen = files.atomic_write, [0]

@contextlib.contextmanager
def dying(path, mode="w"):
    with real(path, mode) as f:
        yield f
        if str(path).endswith(target):
            seen[0] += 1
            if seen[0] == nth:
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)

files.atomic_write = dying
import reproduce
reproduce.main(sys.argv[3:])
"""
KILL_POINTS = [("maze/data/val.jsonl", 1),                 # during data generation
               ("maze/sft_dfs/ckpt.pt", 2),                # mid-SFT: its second checkpoint (of two)
               (".stages/maze_sft_swapped.json", 1),       # a finished stage, its marker half-written
               ("maze/rl_grpo_dfs/ckpt.pt", 2),            # mid-RL
               ("maze/eval/sft_dfs.json", 1),              # mid-evaluation
               ("report.md", 1)]                           # while the report is written


def run(out, kill=None, jobs=1):
    prefix = ["-c", KILLER, *map(str, kill)] if kill else [os.path.join(ROOT, "reproduce.py")]
    args = ARGS[:-1] + [str(jobs)]
    return subprocess.run([sys.executable, *prefix, *args, "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def weights(out):
    found = {}
    for name in sorted(os.listdir(os.path.join(out, "maze"))):
        path = os.path.join(out, "maze", name, "ckpt.pt")
        if os.path.exists(path) and "." not in name:  # (not the damaged copies kept aside)
            found[name] = torch.load(path, weights_only=True)["model"]
    return found


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    done = run(out)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    out = tmp_path_factory.mktemp("killed") / "run"
    for point in KILL_POINTS:
        died = run(out, point)
        assert died.returncode == -signal.SIGKILL, f"kill point {point} was never reached:\n{died.stderr[-2000:]}"
    done = run(out)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[m][k], wb[m][k]) for m in wa for k in wa[m])


def test_killed_anywhere_and_resumed_gives_the_same_results_byte_for_byte(straight, killed):
    assert open(killed / "results.json", "rb").read() == open(straight / "results.json", "rb").read()
    assert same_weights(straight, killed) and len(weights(straight)) == 8
    assert "wall_s" in json.load(open(killed / "timings.json"))  # the one thing that differs lives apart


@pytest.mark.slow  # ~80 s: two smoke runs in processes (tests/test_stages.py checks the runner in CI)
def test_stages_side_by_side_write_the_same_bytes_even_when_the_pipeline_is_killed(straight, tmp_path):
    """--jobs 2 (each stage a process of its own, one thread each) writes what --jobs 1 writes; killed
    while two stages run, its children stop with it (no orphan writes into the resumed run), and the
    resumed run ends with the same bytes."""
    out = tmp_path / "run"
    died = run(out, (".stages/maze_sft_solution.json", 1), jobs=2)  # the parent writes the markers
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    done = run(out, jobs=2)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "started (log" in done.stdout
    assert open(out / "results.json", "rb").read() == open(straight / "results.json", "rb").read()
    assert same_weights(straight, out)


def test_damaged_outputs_are_named_kept_aside_and_redone(straight, killed, capsys):
    ckpt, val = killed / "maze" / "sft_dfs" / "ckpt.pt", killed / "maze" / "data" / "val.jsonl"
    for path in (ckpt, val):
        os.truncate(path, os.path.getsize(path) // 2)
    reproduce.main([*ARGS, "--out", str(killed)])
    out = capsys.readouterr().out
    assert f"{val} is truncated" in out and f"{ckpt} is truncated" in out
    assert out.count("and redoing the stage") == 2 and out.count(": cached") == 8
    assert os.path.exists(killed / "maze" / "sft_dfs.damaged" / "ckpt.pt")  # kept, not deleted
    assert open(killed / "results.json", "rb").read() == open(straight / "results.json", "rb").read()
    assert same_weights(straight, killed)


def test_a_changed_setting_is_refused_naming_it_and_the_run_stays_whole(straight, capsys):
    before = open(straight / "results.json", "rb").read()
    with pytest.raises(SystemExit, match=r"other settings \(n_train: 64 -> 32\).*--out NEW_FOLDER.*--overwrite"):
        reproduce.main([*ARGS, "--out", str(straight), "--set", "n_train=32"])
    reproduce.main([*ARGS, "--out", str(straight)])  # and the old run is still complete: all cached
    assert capsys.readouterr().out.count(": cached") == 10
    assert open(straight / "results.json", "rb").read() == before


def test_output_of_other_code_is_refused_too(straight, monkeypatch):
    monkeypatch.setattr(reproduce, "code_version", lambda: "0123456789ab")
    with pytest.raises(SystemExit, match=r"other settings \(code: \"[0-9a-f]{12}\" -> \"0123456789ab\"\)"):
        reproduce.main([*ARGS, "--out", str(straight)])


def test_preflight_fails_before_any_stage_naming_stage_setting_and_fix(tmp_path):
    """(It takes seconds: it searches a sample of 40 problems. Timed in docs/robustness.md, not here.)"""
    with pytest.raises(SystemExit, match=r"maze/sft_dfs: --block-size 16 is shorter than a sampled dfs sequence "
                                         r"\(\d+ tokens\)\. Raise it to at least \d+"):
        reproduce.main([*ARGS, "--out", str(tmp_path / "run"), "--set", "model=--n-layer 1 --block-size 16"])
    assert not os.path.exists(tmp_path / "run" / "maze")  # nothing ran


def test_preflight_checks_memory_disk_and_the_preset(monkeypatch):
    preset = reproduce.PRESETS["smoke"]["maze"]
    errors, summary = preflight.check("maze", preset, (1, 2, 32, None), ".", "cpu")
    assert errors == [] and "longest sampled sequence" in summary
    monkeypatch.setattr(preflight, "free_memory", lambda device: 10_000)
    errors, _ = preflight.check("maze", dataclasses.replace(preset, n_small=10_000), (1, 2, 32, None), ".", "cpu")
    assert any(e.startswith("maze/data: n_small 10000") for e in errors)
    assert any(e.startswith("maze/sft_dfs: needs about") and "Lower its batch" in e for e in errors)


def test_a_full_disk_names_the_file_and_marks_nothing_done(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(preflight, "check", lambda *a, **k: ([], ""))
    # the timed plan writes its sample problems to a scratch folder, which would fail first
    monkeypatch.setattr(reproduce, "timed_plan", lambda *a, **k: ([], preflight.DEVICES["cpu"]))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SystemExit, match=r"cannot write .*maze/data/train.jsonl: No space left on device"):
        reproduce.main([*ARGS, "--out", str(tmp_path / "run")])
    assert os.listdir(tmp_path / "run" / ".stages") == []
    assert os.listdir(tmp_path / "run" / "maze" / "data") == []  # no half file under any name
