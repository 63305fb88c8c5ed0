"""
The plan (`reproduce.py --plan`) and the GPU path's checks that a CPU can run: the plan prints every
stage and a total, the GPU preset fits an hour on one H100 by its own estimate, the plan's CPU
estimate is within reach of a measured CPU run, and the GPU smoke script and its probes run their
code paths at toy size.
"""
import os
import re
import subprocess
import sys

import pytest

import reproduce

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def total(capsys, argv):
    reproduce.main(argv)
    out = capsys.readouterr().out
    return out, float(re.search(r"^total: (\d+) min$", out, re.M)[1])


def test_plan_prints_every_stage_and_runs_nothing(capsys, tmp_path):
    out, minutes = total(capsys, ["--preset", "smoke", "--task", "maze", "--plan", "--out", str(tmp_path / "run")])
    for run in reproduce.PRESETS["smoke"]["maze"].sft:
        assert f"maze/{run.name} " in out
    assert "maze/evaluate" in out and minutes >= 0 and not os.path.exists(tmp_path / "run")


def test_the_gpu_preset_fits_an_hour_on_one_h100_by_its_plan(capsys):
    out, minutes = total(capsys, ["--preset", "gpu", "--plan", "--assume-device", "h100"])
    assert "ASSUMED" in out and minutes <= 60
    peaks = [float(g) for g in re.findall(r" (\d+\.\d+) GB ", out)]
    assert peaks and max(peaks) < 80  # every stage's peak fits the card


def test_the_cpu_plan_is_near_the_measured_cpu_run(capsys):
    """The plan of the CPU preset on the assumed CPU rates (one stage at a time on both cores) lands
    within a factor of two of the published run's wall time (docs/cpu/timings.json; its stages ran
    two at a time on one core each, so their sum is no measure of the plan)."""
    import json
    measured = json.load(open(os.path.join(ROOT, "docs", "cpu", "timings.json")))["wall_s"] / 60
    _, minutes = total(capsys, ["--plan", "--assume-device", "cpu"])
    assert measured / 2 <= minutes <= measured * 2


def test_gpu_smoke_script_parses_and_its_probes_run_on_a_cpu(capsys):
    assert subprocess.run(["bash", "-n", os.path.join(ROOT, "benchmarks", "gpu_smoke.sh")]).returncode == 0
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import probe
    finally:
        sys.path.pop(0)
    for name in ("decode", "sft", "rl"):
        probe.main([name, "--device", "cpu", "--small"])
    out = capsys.readouterr().out
    assert re.search(r"eos check every 8: .* 0\.\d\d host syncs/step", out)  # fewer than one a step
    assert "sft: batch 4 x 64" in out and "rl: 8 rollouts" in out


@pytest.mark.slow
def test_gpu_smoke_dry_run_on_a_cpu():
    done = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu_smoke.sh")], env={**os.environ, "SMOKE_DEVICE": "cpu"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.count("probe ") >= 6
