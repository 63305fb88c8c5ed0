"""Shared fixtures: a small Countdown data set made through search.py's own command line."""
import pytest

import search


@pytest.fixture(scope="module")
def countdown_data(tmp_path_factory):
    """64 countdown-3 problems (problems.jsonl) with A* traces (astar.jsonl) and solution-only rows
    (solution.jsonl): enough for a 1-layer model to take a few steps. One per test module, so a module
    may write into it without touching another's."""
    d = tmp_path_factory.mktemp("countdown")
    search.main(["--task", "countdown", "--generate", "64", "--n-nums", "3", "--num-max", "12", "--target-max", "30",
                 "--out", str(d / "problems.jsonl")])
    for fmt in ("astar", "solution"):
        search.main(["--task", "countdown", "--algo", "astar", "--format", fmt, "--problems", str(d / "problems.jsonl"),
                     "--out", str(d / f"{fmt}.jsonl"), "--workers", "1"])
    return d
