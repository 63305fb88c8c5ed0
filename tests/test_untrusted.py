"""
Specs for untrusted input at the command-line level: checkpoints carrying pickle payloads are refused
by every script that loads one (and the payload never runs); a checkpoint that does not fit the data
is refused with the differing field named; malformed JSONL is an error naming file:line and the field
(or, with --skip-bad, a counted skip) in search.py, train_sft.py, evaluate.py and train_rl.py; unknown
task, algorithm and format names list the valid ones. (tests/test_train.py covers load_checkpoint
itself on a payload and on truncated files.)
"""
import json
import os

import pytest
import torch

import evaluate
import checkpoint
import linearize
import search
import rl_objective
import train_rl
import train_sft
from tasks import get_task
from model import GPT, GPTConfig
from tasks.countdown import Countdown
from tasks.maze import Maze


@pytest.fixture(scope="module")
def data_dir(countdown_data):
    train_sft.train(train_sft.parse_args(sft_flags(countdown_data, countdown_data / "run", "--max-steps", "2")))
    return countdown_data


def sft_flags(d, out, *extra):
    return ["--task", "countdown", "--data", str(d / "astar.jsonl"), "--out", str(out), "--n-layer", "1",
            "--n-head", "2", "--n-embd", "32", "--batch-size", "4", "--warmup", "1", "--threads", "1",
            "--device", "cpu", "--quiet", *extra]


def rl_flags(d, init, out, *extra):
    return ["--init", str(init), "--problems", str(d / "problems.jsonl"), "--out", str(out), "--steps", "1",
            "--prompts", "1", "--group", "2", "--max-new-tokens", "8", "--threads", "1", "--device", "cpu",
            "--quiet", *extra]


def eval_flags(ckpt, problems, *extra):
    return ["--ckpt", str(ckpt), "--problems", str(problems), "--n", "0", "--algos", "astar", "--threads", "1",
            "--device", "cpu", *extra]


# ------------------------------------------------------------------------------------------------
# checkpoints with a pickle payload

class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    # a complete-looking checkpoint, with the payload tucked inside the model weights
    torch.save({"model": {"w": Payload(marker)}, "config": {}, "vocab": [], "task": "countdown", "step": 0}, path)
    return path, marker


def test_every_script_refuses_a_pickle_payload(data_dir, tmp_path, evil):
    path, marker = evil
    with pytest.raises(SystemExit, match=r"refusing to load .*evil\.pt: it is not a plain weights checkpoint"):
        train_rl.train(train_rl.parse_args(rl_flags(data_dir, path, tmp_path / "rl")))
    with pytest.raises(SystemExit, match=r"refusing to load .*evil\.pt"):
        evaluate.main(eval_flags(path, data_dir / "problems.jsonl"))
    # train_sft --resume reads OUT/ckpt.pt: plant the payload there
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "ckpt.pt").write_bytes(path.read_bytes())
    with pytest.raises(SystemExit, match=r"refusing to load .*ckpt\.pt"):
        train_sft.train(train_sft.parse_args(sft_flags(data_dir, tmp_path / "sft", "--max-steps", "2", "--resume")))
    # the RL run planted in an out folder is read on --resume too
    (tmp_path / "rl2").mkdir()
    (tmp_path / "rl2" / "ckpt.pt").write_bytes(path.read_bytes())
    with pytest.raises(SystemExit, match=r"refusing to load .*rl2.*ckpt\.pt"):
        train_rl.train(train_rl.parse_args(rl_flags(data_dir, data_dir / "run" / "ckpt.pt", tmp_path / "rl2", "--resume")))
    assert not marker.exists()
    # (and the payload is real: unpickling without weights_only would have run it)
    torch.load(path, weights_only=False)
    assert marker.exists()


# ------------------------------------------------------------------------------------------------
# checkpoints that do not fit the data

@pytest.mark.parametrize("maze_vocab,flags,message", [
    (True, [], r"checkpoint field 'vocab' \(\d+ tokens\) differs from the vocabulary of .*astar\.jsonl"),
    (False, ["--block-size", "1024"], r"checkpoint field 'block_size' is (\d+), but .*astar\.jsonl needs 1024"),
    (False, ["--n-embd", "64"], r"has another model config: n_embd 32 in the checkpoint, 64 here$"),
    (False, ["--n-layer", "2", "--n-head", "1"], r"n_head 2 in the checkpoint, 1 here, n_layer 1 in the checkpoint, 2 here$"),
])
def test_resume_with_a_mismatching_checkpoint_names_the_field(data_dir, tmp_path, maze_vocab, flags, message):
    ckpt = torch.load(data_dir / "run" / "ckpt.pt", weights_only=True)
    if maze_vocab:  # a checkpoint of another task left in the run folder
        ckpt["vocab"] = linearize.build_vocab(Maze).itos
    (tmp_path / "run").mkdir()
    checkpoint.save_checkpoint(tmp_path / "run" / "ckpt.pt", **ckpt)
    with pytest.raises(SystemExit, match=message):
        train_sft.train(train_sft.parse_args(sft_flags(data_dir, tmp_path / "run", "--max-steps", "4", "--resume", *flags)))


def test_rl_resume_from_another_model_names_the_field(data_dir, tmp_path):
    ckpt = torch.load(data_dir / "run" / "ckpt.pt", weights_only=True)
    other = GPT(GPTConfig(**{**ckpt["config"], "n_embd": 64}))
    (tmp_path / "rl").mkdir()
    checkpoint.save_checkpoint(tmp_path / "rl" / "ckpt.pt", **{**ckpt, "model": other.state_dict(),
                                                              "config": {**ckpt["config"], "n_embd": 64}})
    with pytest.raises(SystemExit, match=r"does not continue .*: n_embd 64 in the checkpoint, 32 here"):
        train_rl.train(train_rl.parse_args(rl_flags(data_dir, data_dir / "run" / "ckpt.pt", tmp_path / "rl", "--resume")))


def test_a_checkpoint_config_from_before_or_after_this_version(data_dir, tmp_path):
    """A config field added since (GPTConfig.parts) takes its default, so older checkpoints load and
    resume; a field this version does not know is refused by name, not with a TypeError."""
    ckpt = torch.load(data_dir / "run" / "ckpt.pt", weights_only=True)
    old = {k: v for k, v in ckpt["config"].items() if k != "parts"}
    checkpoint.save_checkpoint(tmp_path / "old.pt", **{**ckpt, "config": old})
    model, _, _ = checkpoint.load(tmp_path / "old.pt")
    assert model.config.parts is None and checkpoint.config_differences(old, model.config) == ""
    checkpoint.save_checkpoint(tmp_path / "new.pt", **{**ckpt, "config": {**old, "rope": True}})
    with pytest.raises(SystemExit, match=r"new\.pt: field 'config' has unknown key\(s\) rope"):
        checkpoint.load(tmp_path / "new.pt")


# ------------------------------------------------------------------------------------------------
# malformed JSONL, through each command line

GOOD = '{"nums": [3, 4, 5], "target": 12}'
GOOD_ROW = '{"nums": [3, 4, 5], "target": 12, "trace": "answer 5 + 4 = 9 , 9 + 3 = 12"}'  # as search.py writes
BAD_LINES = [
    ('{"nums": [3, 4, 5], "target": 12', r"not valid JSON"),
    ('[3, 4, 5]', r"must be a JSON object"),
    ('{"nums": [3, 4, 5]}', r"missing field 'target'"),
    ('{"target": 12}', r"missing field 'nums'"),
    ('{"nums": [3, "4", 5], "target": 12}', r"field 'nums' must be a list of non-negative integers"),
    ('{"nums": [3, 4, 5], "target": 12.5}', r"field 'target' must be a non-negative integer"),
    ('{"nums": [3, 4, 5], "target": 1e400}', r"field 'target' must be a non-negative integer"),
    ('{"nums": [3, 4, -5], "target": 12}', r"field 'nums' must be a list of non-negative integers"),
    ('{"nums": [3, 4, 1' + "0" * 400 + '], "target": 12}', r"field 'nums': numbers must be at most 99999"),
    ('{"nums": [3, 4, 5], "target": 123456}', r"field 'target' must be at most 99999"),
    ('{"nums": [' + ", ".join(["7"] * 100_000) + '], "target": 12}', r"field 'nums' must hold 2\.\.6 numbers, got 100000"),
]


def cases(*pairs):
    return [pytest.param(line, why, id=why.split(" ")[0].strip("'").replace("\\", "") + f"-{k}")
            for k, (line, why) in enumerate(pairs)]


def bad_file(tmp_path, line, good=GOOD):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good, line, good]) + "\n")
    return path


@pytest.mark.parametrize("line,why", cases(*BAD_LINES))
def test_search_names_file_line_and_field(tmp_path, line, why, capsys):
    path = bad_file(tmp_path, line)
    with pytest.raises(SystemExit, match=rf"^error: .*bad\.jsonl:2: {why}"):
        search.main(["--task", "countdown", "--algo", "astar", "--problems", str(path), "--out", str(tmp_path / "o.jsonl")])
    assert not (tmp_path / "o.jsonl").exists()
    search.main(["--task", "countdown", "--algo", "astar", "--problems", str(path), "--out", str(tmp_path / "o.jsonl"),
                 "--skip-bad"])
    assert "skipped 1 malformed problem lines" in capsys.readouterr().out
    assert len(open(tmp_path / "o.jsonl").readlines()) == 2


@pytest.mark.parametrize("line,why", cases(
    BAD_LINES[0], BAD_LINES[5], BAD_LINES[8],
    ('{"nums": [3, 4, 5], "target": 12}', r"missing or non-string field 'trace'"),
    ('{"nums": [3, 4, 5], "target": 12, "trace": ["answer"]}', r"missing or non-string field 'trace'"),
    ('{"nums": [3, 4, 5], "target": 12, "trace": "answer 4 \u00d7 3 = 12"}', r"token '\u00d7' is not in the vocabulary"),
))
def test_train_sft_names_file_line_and_field(data_dir, tmp_path, line, why, capsys):
    path = bad_file(tmp_path, line, good=GOOD_ROW)
    flags = ["--task", "countdown", "--data", str(path), "--out", str(tmp_path / "run"), "--max-steps", "1",
             "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--batch-size", "2", "--threads", "1",
             "--device", "cpu", "--quiet"]
    with pytest.raises(SystemExit, match=rf"^error: .*bad\.jsonl:2: {why}"):
        train_sft.train(train_sft.parse_args(flags))
    train_sft.train(train_sft.parse_args(flags + ["--skip-bad"]))
    assert "skipped 1 malformed lines" in capsys.readouterr().out


@pytest.mark.parametrize("line,why", cases(BAD_LINES[0], BAD_LINES[2], BAD_LINES[4], BAD_LINES[9]))
def test_evaluate_and_train_rl_name_file_line_and_field(data_dir, tmp_path, line, why, capsys):
    path = bad_file(tmp_path, line)
    ckpt = data_dir / "run" / "ckpt.pt"
    with pytest.raises(SystemExit, match=rf"^error: .*bad\.jsonl:2: {why}"):
        evaluate.main(eval_flags(ckpt, path))
    with pytest.raises(SystemExit, match=rf"^error: .*bad\.jsonl:2: {why}"):
        train_rl.train(train_rl.parse_args(rl_flags(data_dir, ckpt, tmp_path / "rl", "--problems", str(path))))
    with pytest.raises(SystemExit, match=rf"^error: .*bad\.jsonl:2: {why}"):
        train_rl.train(train_rl.parse_args(rl_flags(data_dir, ckpt, tmp_path / "rl", "--val", str(path))))
    assert evaluate.main(eval_flags(ckpt, path, "--skip-bad"))["n_problems"] == 2
    train_rl.train(train_rl.parse_args(rl_flags(data_dir, ckpt, tmp_path / "rl", "--problems", str(path), "--skip-bad")))
    assert "skipped 1 malformed problem lines" in capsys.readouterr().out


def test_an_unsolvable_problem_is_searched_and_reported_unsolved(tmp_path):
    """Unsolvable problems are legal input (a model must learn to say `fail`); nothing can be
    marked correct on them."""
    path = tmp_path / "p.jsonl"
    path.write_text('{"nums": [1, 1, 1], "target": 99}\n' + GOOD + "\n")
    for algo in ("astar", "dfs"):
        search.main(["--task", "countdown", "--algo", algo, "--problems", str(path), "--out", str(tmp_path / "o.jsonl")])
        row, ok = map(json.loads, open(tmp_path / "o.jsonl"))
        assert not row["solved"] and row["solution"] is None and row["trace"].split()[-1] == "fail"
        assert row["nodes_expanded"] > 0 and ok["solved"]
    task = Countdown({"nums": [1, 1, 1], "target": 99})
    for claim in ("answer 1 + 1 = 2 , 2 + 1 = 3", "answer 1 + 1 = 2 , 2 + 1 = 99", "answer 99", "fail"):
        assert rl_objective.reward(task, claim.split(), format_reward=0.1) < 1.0
        assert not linearize.parse(task, claim).correct


# ------------------------------------------------------------------------------------------------
# unknown names

def test_unknown_names_list_the_valid_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"unknown task 'sudoku'; valid tasks: countdown, countdown-digits, countdown-hybrid, maze, maze-canvas, maze-canvas-open, maze-canvas-rc, maze-canvas-sum, maze-rowcol, puzzle"):
        get_task("sudoku")
    with pytest.raises(ValueError, match=r"unknown algorithm 'ida'; valid algorithms: bfs, dfs, beam, astar, mcts"):
        search.run_search(Countdown({"nums": [1, 2], "target": 3}), "ida")
    with pytest.raises(ValueError, match=r"unknown countdown heuristic 'l2'; valid: sum, mult"):
        Countdown({"nums": [1, 2], "target": 3}, heuristic="l2")
    out = str(tmp_path / "o")
    for parse, argv, name in [
        (search.main, ["--task", "sudoku", "--out", out], "'sudoku'"),
        (search.main, ["--task", "countdown", "--algo", "ida", "--problems", out, "--out", out], "'ida'"),
        (search.main, ["--task", "countdown", "--format", "xml", "--out", out], "'xml'"),
        (train_sft.parse_args, ["--task", "sudoku", "--data", out, "--out", out], "'sudoku'"),
        (train_rl.parse_args, ["--init", out, "--problems", out, "--out", out, "--algo", "ppo"], "'ppo'"),
    ]:
        with pytest.raises(SystemExit) as e:
            parse(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert f"invalid choice: {name}" in err and "choose from" in err


@pytest.mark.parametrize("flag,value", [("--format-reward", "1.5"), ("--format-reward", "-0.1"),
                                        ("--gamma", "0"), ("--gamma", "1.01")])
def test_rl_reward_options_outside_the_reward_range_are_refused(flag, value, capsys):
    with pytest.raises(SystemExit):
        train_rl.parse_args(["--init", "x", "--problems", "x", "--out", "x", flag, value])
    assert "must lie in" in capsys.readouterr().err
