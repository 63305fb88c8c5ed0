"""
Specs for tasks/: the strict verifiers, the problem generators and their splits, and problem-file
loading. Every "is this right?" question is answered by a small, slow reference written here from the
rules themselves (never by the project's own code), or by hand-made examples.
"""
import json
import random

import pytest

from tasks import ProblemError, load_problems
from tasks.countdown import SOS_HELD_OUT_TARGETS, Countdown
from tasks.countdown import verify as cd_verify
from tasks.maze import Maze, is_optimal
from tasks.maze import verify as maze_verify
from reference import countdown_reachable, maze_shortest


# ------------------------------------------------------------------------------------------------
# references, written from the rules

def walls_of(grid):
    return "".join("#" if ch == "#" else "." for row in grid for ch in row)


# ------------------------------------------------------------------------------------------------
# countdown verify

CD = {"nums": [84, 62, 58, 48], "target": 96}
CD_GOOD = ["62-58=4", "48/4=12", "84+12=96"]


def test_countdown_verify_accepts_correct_answers():
    assert cd_verify(CD, CD_GOOD)
    assert cd_verify(CD, ["62-58=4", "48/4=12", "12+84=96"])       # operand order of + is free
    assert cd_verify({"nums": [4, 84], "target": 88}, ["4+84=88"])
    assert cd_verify({"nums": [4, 84], "target": 336}, ["4*84=336"])
    assert cd_verify({"nums": [4, 84], "target": 80}, ["84-4=80"])
    assert cd_verify({"nums": [4, 84], "target": 21}, ["84/4=21"])
    assert cd_verify({"nums": [3, 3, 3], "target": 9}, ["3+3=6", "6+3=9"])  # duplicates
    assert cd_verify({"nums": [0, 5], "target": 0}, ["0*5=0"])
    assert cd_verify({"nums": [0, 5], "target": 0}, ["0/5=0"])          # 0/5 is exact
    assert cd_verify({"nums": [5, 5, 0], "target": 0}, ["5-5=0", "0+0=0"])  # a made 0 is usable
    assert cd_verify(CD, [" 62 - 58 = 4", "48/4=12", "84+12=96"])       # spacing is tolerated


@pytest.mark.parametrize("problem, answer, why", [
    (CD, ["62-58=4", "48/4=12", "84+4=88"], "the 4 made by 62-58 is used twice"),
    (CD, ["62-58=4", "48/4=12", "12*8=96"], "8 is not on the table"),
    ({"nums": [2, 3, 5, 7], "target": 30}, ["2*3=6", "6*5=30"], "7 is skipped (and too few lines)"),
    ({"nums": [2, 3, 5, 7], "target": 30}, ["2*3=6", "6*5=30", "30*1=30"], "7 skipped, 1 invented"),
    ({"nums": [2, 3, 5, 7], "target": 37}, ["2*3=6", "6*5=30", "30+7=37", "37*1=37"], "too many lines"),
    ({"nums": [3, 3], "target": 6}, ["3+3=6", "3+3=6"], "too many lines, reuses numbers"),
    (CD, ["62-58=5", "48/4=12", "84+12=96"], "wrong arithmetic"),
    (CD, ["62-58=4", "48/4=12", "84+12=97"], "wrong arithmetic in the last line"),
    ({"nums": [3, 5], "target": 2}, ["3-5=2"], "small minus large"),
    ({"nums": [3, 5], "target": 2}, ["3-5=-2"], "a negative result"),
    ({"nums": [3, 5, 4], "target": 2}, ["3-5=-2", "-2+4=2"], "a negative intermediate"),
    ({"nums": [7, 2], "target": 3}, ["7/2=3"], "inexact division (floor)"),
    ({"nums": [7, 2], "target": 4}, ["7/2=4"], "inexact division (rounded up)"),
    ({"nums": [5, 0], "target": 0}, ["5/0=0"], "division by zero"),
    ({"nums": [0, 0], "target": 0}, ["0/0=0"], "zero over zero"),
    ({"nums": [2, 3], "target": 6}, ["2x3=6"], "unknown operator"),
    ({"nums": [2, 3], "target": 6}, ["2*3=6=6"], "garbage line"),
    ({"nums": [2, 3], "target": 6}, ["2*3"], "no result"),
    ({"nums": [2, 3], "target": 6}, [""], "empty line"),
    ({"nums": [2, 3], "target": 6}, [None], "None entry"),
    ({"nums": [2, 3], "target": 6}, [6], "int entry"),
    ({"nums": [2, 3], "target": 6}, [["2", "*", "3", "=", "6"]], "list entry"),
    ({"nums": [2, 3], "target": 6}, "2*3=6", "a string, not a list"),
    ({"nums": [2, 3], "target": 6}, None, "None"),
    ({"nums": [2, 3], "target": 6}, [], "empty answer"),
    ({"nums": [2, 3], "target": 6}, ["2.0*3=6"], "a float"),
    ({"nums": [2, 3], "target": 5}, ["2*3=6"], "ends off target"),
    ({"nums": [2, 3], "target": 6}, ["\u0662*3=6"], "an Arabic-Indic two is not the digit 2"),
])
def test_countdown_verify_rejects(problem, answer, why):
    assert cd_verify(problem, answer) is False, why


def test_countdown_verify_never_raises_on_garbage_problems():
    for problem in [None, [], {}, {"nums": None, "target": 3}, {"nums": [1, 2]}, "x", {"nums": [[1], 2], "target": 3},
                    {"nums": [1, 2], "target": [3]}, {"nums": [1, 2], "target": "3"}, {"nums": [1.0, 2], "target": 3}]:
        assert cd_verify(problem, ["1+2=3"]) is False


# ------------------------------------------------------------------------------------------------
# maze verify

MAZE = {"grid": ["S..#",
                 ".#..",
                 "...G"]}
MAZE_GOOD = [[0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]]


def test_maze_verify_accepts_correct_paths():
    assert maze_verify(MAZE, MAZE_GOOD)
    assert is_optimal(MAZE, MAZE_GOOD)
    longer = [[0, 0], [0, 1], [0, 2], [1, 2], [2, 2], [2, 3]]
    assert maze_verify(MAZE, longer) and is_optimal(MAZE, longer)  # a second shortest path
    detour = [[0, 0], [0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]
    assert maze_verify(MAZE, detour) and is_optimal(MAZE, detour)
    loop = [[0, 0], [1, 0], [0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]]
    assert maze_verify(MAZE, loop) and not is_optimal(MAZE, loop)  # valid, not shortest
    assert maze_verify(MAZE, [tuple(c) for c in MAZE_GOOD])


@pytest.mark.parametrize("answer, why", [
    ([[0, 0], [0, 1], [1, 1], [2, 1], [2, 2], [2, 3]], "steps onto the wall (1,1)"),
    ([[0, 0], [1, 0], [2, 1], [2, 2], [2, 3]], "a diagonal step"),
    ([[0, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "a two-cell step"),
    ([[0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4]], "ends out of bounds"),
    ([[0, 0], [-1, 0], [0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "leaves the grid (row -1)"),
    ([[0, 0], [0, -1], [0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "wraps no edge (col -1)"),
    ([[1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "wrong start"),
    ([[0, 0], [1, 0], [2, 0], [2, 1], [2, 2]], "wrong end"),
    ([[0, 0], [1, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "stands still"),
    ([["0", "0"], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "string cells"),
    ([[0.0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "float cells"),
    ([[False, False], [True, False], [2, 0], [2, 1], [2, 2], [2, 3]], "bool cells"),
    ([[0, 0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "a 3-number cell"),
    ([[0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3]], "a 1-number cell"),
    ([0, 0, 1, 0, 2, 0], "flat numbers"),
    ([], "empty"),
    (None, "None"),
    ("0 0 1 0", "a string"),
])
def test_maze_verify_rejects(answer, why):
    assert maze_verify(MAZE, answer) is False, why
    assert is_optimal(MAZE, answer) is False, why


def test_maze_verify_start_equals_goal_path_of_one_cell_is_not_a_path():
    assert maze_verify(MAZE, [[0, 0]]) is False
    assert maze_verify({"grid": ["SG"]}, [[0, 0], [0, 1]])
    assert maze_verify({"grid": ["S#G"]}, [[0, 0], [0, 1], [0, 2]]) is False


def test_maze_verify_never_raises_on_garbage_problems():
    for problem in [None, {}, {"grid": []}, {"grid": ["S.", "."]}, {"grid": ["..", ".."]}, {"grid": "S.G"}]:
        assert maze_verify(problem, [[0, 0], [0, 1]]) is False


# ------------------------------------------------------------------------------------------------
# generators and splits

def test_countdown_generator_only_solvable_and_splits_hold():
    rng = random.Random(0)
    held = set(SOS_HELD_OUT_TARGETS)
    by_split = {s: Countdown.generate(n, rng, s) for s, n in (("train", 150), ("test", 60), ("test-seen", 60))}
    for split, problems in by_split.items():
        assert len(problems) == {"train": 150, "test": 60, "test-seen": 60}[split]
        for p in problems:
            assert len(p["nums"]) == 4 and all(1 <= n <= 99 for n in p["nums"]) and 10 <= p["target"] <= 100
            assert p["target"] in countdown_reachable(p["nums"]), p
            assert (p["target"] in held) == (split == "test"), (split, p)
    train_sets = {tuple(sorted(p["nums"])) for p in by_split["train"]}
    seen_sets = {tuple(sorted(p["nums"])) for p in by_split["test-seen"]}
    assert not train_sets & seen_sets
    # a larger train draw is still disjoint from the reserved multisets
    more = Countdown.generate(600, random.Random(1), "train")
    assert not {tuple(sorted(p["nums"])) for p in more} & seen_sets
    assert not {p["target"] for p in more} & held


def test_countdown_generator_other_sizes_and_custom_held_out():
    rng = random.Random(5)
    for p in Countdown.generate(40, rng, "train", n_nums=3, num_min=0, num_max=12, target_min=0, target_max=30):
        assert len(p["nums"]) == 3 and p["target"] in countdown_reachable(p["nums"])
        assert 0 <= p["target"] <= 30
    for p in Countdown.generate(30, rng, "test", held_out=(24,)):
        assert p["target"] == 24 and 24 in countdown_reachable(p["nums"])
    with pytest.raises(ValueError):
        Countdown.generate(1, rng, "validation")
    with pytest.raises(ValueError):
        Countdown.generate(1, rng, "test", target_min=200, target_max=300)


def test_countdown_generator_is_deterministic():
    a = Countdown.generate(30, random.Random(7))
    b = Countdown.generate(30, random.Random(7))
    assert a == b and a != Countdown.generate(30, random.Random(8))


@pytest.mark.parametrize("h, w", [(5, 5), (10, 10), (6, 12)])
def test_maze_generator_solvable_long_enough_and_splits_disjoint(h, w):
    rng = random.Random(h * 100 + w)
    train = Maze.generate(60, rng, "train", height=h, width=w)
    test = Maze.generate(25, rng, "test", height=h, width=w)
    for p in train + test:
        grid = p["grid"]
        assert len(grid) == h and all(len(row) == w for row in grid)
        assert set("".join(grid)) <= set("S.#G")
        assert "".join(grid).count("S") == 1 and "".join(grid).count("G") == 1
        length = maze_shortest(grid)
        assert length is not None and length >= max(h, w), (grid, length)
    assert not {walls_of(p["grid"]) for p in train} & {walls_of(p["grid"]) for p in test}


def test_maze_layout_never_in_two_splits_even_when_layouts_repeat():
    # 3x3 grids have at most 512 wall layouts, so a few hundred mazes repeat layouts with S and G
    # elsewhere: the layout alone must decide the split
    rng = random.Random(17)
    train = Maze.generate(300, rng, "train", height=3, width=3, wall_min=0.0, wall_max=0.3, min_len=1)
    test = Maze.generate(60, rng, "test", height=3, width=3, wall_min=0.0, wall_max=0.3, min_len=1)
    train_layouts, test_layouts = [walls_of(p["grid"]) for p in train], [walls_of(p["grid"]) for p in test]
    assert len(set(train_layouts)) < len(train_layouts) and len(set(test_layouts)) < len(test_layouts)
    assert not set(train_layouts) & set(test_layouts)
    assert len({tuple(p["grid"]) for p in test}) > len(set(test_layouts))  # same layout, other S/G


def test_maze_generator_min_len_and_errors():
    for p in Maze.generate(20, random.Random(3), height=8, width=8, min_len=14):
        assert maze_shortest(p["grid"]) >= 14
    with pytest.raises(ValueError):
        Maze.generate(1, random.Random(0), "test-seen")
    with pytest.raises(ValueError):
        Maze.generate(1, random.Random(0), height=1, width=5)
    with pytest.raises(ValueError):
        Maze.generate(1, random.Random(0), height=3, width=3, min_len=50)  # impossible: gives up


# ------------------------------------------------------------------------------------------------
# problem files

def write_lines(tmp_path, lines, name="p.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


GOOD_CD = json.dumps({"nums": [1, 2, 3, 4], "target": 10})
GOOD_MAZE = json.dumps({"grid": ["S.#", "..G"]})


@pytest.mark.parametrize("task, bad, words", [
    (Countdown, '{"nums": [1, 2, 3], "target": 6', ["JSON"]),
    (Countdown, "[1, 2, 3]", ["object"]),
    (Countdown, '{"target": 6}', ["nums"]),
    (Countdown, '{"nums": [1, 2, 3]}', ["target"]),
    (Countdown, '{"nums": [1, 2.5, 3], "target": 6}', ["nums"]),
    (Countdown, '{"nums": [1, "2", 3], "target": 6}', ["nums"]),
    (Countdown, '{"nums": [1, true, 3], "target": 6}', ["nums"]),
    (Countdown, '{"nums": [1, -2, 3], "target": 6}', ["nums"]),
    (Countdown, '{"nums": "1 2 3", "target": 6}', ["nums"]),
    (Countdown, '{"nums": [1, 2, 3], "target": 6.0}', ["target"]),
    (Countdown, '{"nums": [1, 2, 3], "target": "6"}', ["target"]),
    (Countdown, '{"nums": [1, 2, 3], "target": -6}', ["target"]),
    (Countdown, '{"nums": [7], "target": 7}', ["nums"]),
    (Countdown, '{"nums": [1, 2, 3, 4, 5, 6, 7], "target": 6}', ["nums"]),             # too many numbers
    (Countdown, '{"nums": [1, 2, 3], "target": 1000000000000000000000000000000}', ["target"]),  # oversize
    (Countdown, '{"nums": [1, 10000000000000000000000000000000000000000], "target": 6}', ["nums"]),
    (Maze, '{"grid": ["S.#", "..G"]', ["JSON"]),
    (Maze, '{"map": ["S.#", "..G"]}', ["grid"]),
    (Maze, '{"grid": "S.#..G"}', ["grid"]),
    (Maze, '{"grid": []}', ["grid"]),
    (Maze, '{"grid": ["S.#", 5]}', ["grid"]),
    (Maze, '{"grid": ["S.#", "..G."]}', ["grid"]),
    (Maze, '{"grid": ["", ""]}', ["grid"]),
    (Maze, '{"grid": ["S.x", "..G"]}', ["grid"]),
    (Maze, '{"grid": ["S.S", "..G"]}', ["grid"]),
    (Maze, '{"grid": ["S..", "..."]}', ["grid"]),
    (Maze, json.dumps({"grid": ["S" + "." * 64, "." * 64 + "G"]}), ["grid"]),               # oversize
    (Maze, json.dumps({"grid": ["S.", "G."] + [".."] * 63}), ["grid"]),                     # oversize
])
def test_load_problems_names_file_line_and_field(tmp_path, task, bad, words):
    good = GOOD_CD if task is Countdown else GOOD_MAZE
    path = write_lines(tmp_path, [good, "", good, bad, good])
    with pytest.raises(ProblemError) as err:
        load_problems(path, task)
    message = str(err.value)
    assert f"{path}:4:" in message, message  # blank lines still count as lines
    for word in words:
        assert word in message, message
    problems, skipped = load_problems(path, task, skip_bad=True)
    assert skipped == 1 and problems == [json.loads(good)] * 3


def test_load_problems_counts_every_skip_and_keeps_order(tmp_path):
    rows = [{"nums": [n, n + 1, 3], "target": n} for n in range(6)]
    lines = [json.dumps(r) for r in rows]
    lines[1] = "not json"
    lines[4] = '{"nums": [1]}'
    path = write_lines(tmp_path, lines + ['{"nums": [1, 2], "target": 1.5}'])
    problems, skipped = load_problems(path, Countdown, skip_bad=True)
    assert skipped == 3 and problems == [rows[0], rows[2], rows[3], rows[5]]
    with pytest.raises(ProblemError, match=r":2:"):
        load_problems(path, Countdown)
    empty = write_lines(tmp_path, [], "empty.jsonl")
    assert load_problems(empty, Maze) == ([], 0)


def test_problem_error_is_a_value_error():
    assert issubclass(ProblemError, ValueError)
    with pytest.raises(ValueError):
        Countdown.check({"nums": [1, 2], "target": None})
    Countdown.check({"nums": [0, 0, 99999], "target": 99999})  # the largest allowed values load
