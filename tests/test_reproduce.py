"""The whole pipeline at toy size: every stage runs, the report is written, and a re-run is cached."""
import json
import os
import time

import reproduce


def test_smoke_pipeline_writes_report_and_caches(tmp_path, capsys):
    out = str(tmp_path / "run")
    reproduce.main(["--preset", "smoke", "--out", out, "--threads", "1"])
    report = open(os.path.join(out, "report.md")).read()
    for task in ("countdown", "maze"):
        assert f"## {task}" in report
        for model in reproduce.MODELS:
            assert f"| {model} |" in report
            result = json.load(open(os.path.join(out, task, "eval", f"{model}.json")))
            assert result["n_problems"] == 8 and len(result["per_problem"]) == 8
        assert os.path.exists(os.path.join(out, f"{task}_passk.png"))
        assert os.path.exists(os.path.join(out, f"{task}_compute.png"))
        symbolic = json.load(open(os.path.join(out, task, "eval", "symbolic.json")))
        assert symbolic["astar"][-1]["acc"] == 1.0  # the unbounded symbolic search solves everything
    assert "What this maze run shows" in report and "What it does not show" in report

    capsys.readouterr()
    start = time.time()
    reproduce.main(["--preset", "smoke", "--out", out, "--threads", "1"])
    printed = capsys.readouterr().out
    assert printed.count(": cached") == len(reproduce.MODELS) * 2 + 2 * 2  # models, data and evaluation stages
    assert time.time() - start < 30
    # the report can be regenerated from the evaluation JSON alone
    os.remove(os.path.join(out, "report.md"))
    import evaluate
    evaluate.main(["--report", out])
    assert open(os.path.join(out, "report.md")).read() == report
