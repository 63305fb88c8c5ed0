"""The stage runner alone (stages.py), on toy stages that write a few bytes: side by side it keeps the
order the stages need, writes what one at a time writes, and names a failed stage with its log. Its
plan (makespan) is checked against the two schedules that need no simulation: one worker (the sum)
and enough workers (the longest chain of needs). The real pipeline's
side-by-side run is tests/test_rerun.py's slow test."""
import functools
import itertools
import json
import os
import time

import pytest

from stages import Pipeline


def write(out, name, needs=(), sleep=0.0):
    """A stage: checks that what it needs is already there, then writes its file."""
    for other in needs:
        assert os.path.exists(os.path.join(out, other, "x.txt")), f"{name} ran before {other}"
    time.sleep(sleep)
    os.makedirs(os.path.join(out, name), exist_ok=True)
    with open(os.path.join(out, name, "x.txt"), "w") as f:
        f.write(name * 3)


def fail():
    print("the last words of a stage")
    raise RuntimeError("boom")


def pipeline(out):
    pipe = Pipeline(str(out))
    pipe.add("data", 1, {}, functools.partial(write, str(out), "data"), str(out / "data"))
    for name, sleep in (("a", 0.5), ("b", 0.0), ("c", 0.2)):  # b finishes first: order by need, not by end
        pipe.add(name, 2, {}, functools.partial(write, str(out), name, ("data",), sleep), str(out / name), after=["data"])
    pipe.add("last", 1, {}, functools.partial(write, str(out), "last", ("a", "b", "c")), str(out / "last"))
    return pipe


def files(out):
    return {os.path.relpath(os.path.join(r, n), out): open(os.path.join(r, n)).read()
            for r, _, names in os.walk(out) for n in names if not r.endswith(".stages")}


def test_side_by_side_runs_each_stage_after_what_it_needs_and_writes_the_same_files(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    pipeline(one).run(1)
    pipeline(two).run(2)
    assert files(one) == files(two) and len(files(one)) == 5
    for name in ("data", "a", "b", "c", "last"):
        marker = json.load(open(two / ".stages" / f"{name}.json"))
        assert list(marker["outputs"]) == [f"{name}/x.txt"]
    assert os.path.exists(two / ".stages" / "a.log")  # each stage's output went to its own log


def test_a_failed_stage_is_named_with_the_end_of_its_log_and_marks_nothing(tmp_path):
    pipe = Pipeline(str(tmp_path))
    pipe.add("data", 1, {}, functools.partial(write, str(tmp_path), "data"), str(tmp_path / "data"))
    pipe.add("bad", 1, {}, fail, str(tmp_path / "bad"))
    with pytest.raises(SystemExit, match=r"(?s)stage bad failed \(exit code 1\).*the last words of a stage"):
        pipe.run(2)
    assert os.path.exists(tmp_path / ".stages" / "data.json") and not os.path.exists(tmp_path / ".stages" / "bad.json")


def critical_path(stages):
    """The longest chain of needs: what any number of workers at least as many as the widest level
    must take (an independent answer to the same schedule)."""
    end = {}
    for name, secs, after in stages:
        end[name] = max([0.0] + [end[d] for d in after]) + secs
    return max(end.values())


def test_the_plan_is_the_sum_on_one_worker_and_the_critical_path_on_enough():
    for secs in itertools.product([1, 5, 9], repeat=4):
        spec = [("data", secs[0], ()), ("x", secs[1], ("data",)), ("y", secs[2], ("data",)), ("z", secs[3], ("x", "y"))]
        pipe = Pipeline("unused")
        for name, s, after in spec:
            pipe.add(name, s, {}, None, "", after=after)
        assert pipe.makespan(1) == sum(secs)
        assert pipe.makespan(2) == pipe.makespan(3) == critical_path(spec)
        assert pipe.makespan(2, done={"data"}) == critical_path(spec) - secs[0]
        assert pipe.makespan(2, started={"data": 1}) == critical_path(spec) - 1


def test_the_eta_trusts_the_finished_stages_pace_as_far_as_the_plan_they_cover():
    """A tiny first stage run 1.4x slow barely moves the ETA; half the plan run 1.4x slow moves it most
    of the way; stages run as planned leave the plan as it is."""
    pipe = Pipeline("unused")
    for name, s, after in [("data", 10, ()), ("a", 500, ("data",)), ("b", 500, ("a",))]:
        pipe.add(name, s, {}, None, "", after=after)
    assert pipe._eta(1, {"data"}, {"data": 14}) == pytest.approx(1000 * (14 + 101) / (10 + 101))  # x1.04, not x1.4
    assert pipe._eta(1, {"data", "a"}, {"data": 14, "a": 700}) == pytest.approx(500 * (714 + 101) / (510 + 101))
    assert pipe._eta(1, {"data"}, {"data": 10}) == pytest.approx(1000)
