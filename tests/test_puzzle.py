"""
Specs for the 8-puzzle (tasks/puzzle.py), checked against references written here from the rules: a
breadth-first search over all 181,440 solvable boards for optimal plan lengths, and a replay of a plan
slide by slide. Nothing else in the project had to change for this task to work: search.py finds it.
"""
import json
import random
from collections import deque

import pytest

import linearize
import search
from tasks import ProblemError
from tasks.puzzle import GOAL, Puzzle, verify

# ------------------------------------------------------------------------------------------------
# references, from the rules alone


def ref_distances():
    """Optimal plan length of every solvable board: BFS backwards from the solved board (a slide is
    its own inverse), moving the blank to any of its row/column neighbours."""
    dist, queue = {GOAL: 0}, deque([GOAL])
    while queue:
        board = queue.popleft()
        b = board.index(0)
        for n in (b - 3, b + 3, b - 1 if b % 3 else -1, b + 1 if b % 3 < 2 else -1):
            if 0 <= n < 9:
                nxt = list(board)
                nxt[b], nxt[n] = nxt[n], 0
                nxt = tuple(nxt)
                if nxt not in dist:
                    dist[nxt] = dist[board] + 1
                    queue.append(nxt)
    return dist


@pytest.fixture(scope="module")
def distances():
    return ref_distances()


def ref_replay(board, tiles):
    """The board after sliding `tiles` in order, or None at the first tile not next to the blank."""
    board = list(board)
    for t in tiles:
        b, k = board.index(0), board.index(t)
        if abs(b // 3 - k // 3) + abs(b % 3 - k % 3) != 1:
            return None
        board[b], board[k] = t, 0
    return tuple(board)


# ------------------------------------------------------------------------------------------------

def test_the_state_space_has_half_of_all_boards(distances):
    assert len(distances) == 181_440 and max(distances.values()) == 31


def test_verify_by_hand():
    p = {"board": [1, 2, 3, 4, 5, 6, 7, 0, 8]}
    assert verify(p, [8])
    assert not verify(p, [])                     # not solved
    assert not verify(p, [6])                    # 6 is not next to the blank
    assert not verify(p, [8, 8])                 # slides back
    assert verify({"board": [1, 2, 3, 4, 5, 6, 0, 7, 8]}, [7, 8])
    for junk in (None, "8", [8.0], [[8]], [True], [9], [-1], [0], ["8"]):
        assert not verify(p, junk)
    assert not verify({"board": [1, 2]}, [8]) and not verify("board", [8])


@pytest.mark.parametrize("board,why", [
    (None, "missing field 'board'"), ([1, 2, 3], "must hold 9 numbers, got 3"),
    ([1, 1, 3, 4, 5, 6, 7, 8, 0], "each of 0..8 exactly once"), ([1, 2, 3, 4, 5, 6, 7, 9, 0], "each of 0..8"),
    ([1, 2, 3, 4, 5, 6, 8, 7, 0], "cannot be solved"), ([1, 2, "3", 4, 5, 6, 7, 8, 0], "list of integers"),
])
def test_check_names_what_is_wrong(board, why):
    with pytest.raises(ProblemError, match=why):
        Puzzle.check({} if board is None else {"board": board})


def test_astar_plans_are_valid_and_optimal_against_bfs(distances):
    problems = Puzzle.generate(300, random.Random(7), "train")
    for p in problems:
        Puzzle.check(p)
        result = search.astar(Puzzle(p))
        plan = Puzzle(p).answer(result.moves)
        assert verify(p, plan) and ref_replay(p["board"], plan) == GOAL
        assert len(plan) == distances[tuple(p["board"])]


def test_every_algorithm_agrees_with_the_replay_reference():
    for p in Puzzle.generate(40, random.Random(3), "train", scramble=8):
        task = Puzzle(p)
        for algo in search.ALGOS:
            r = search.run_search(task, algo, budget=5000, seed=1)
            if r.solved:
                assert ref_replay(p["board"], task.answer(r.moves)) == GOAL, algo
        assert search.bfs(task).solved and search.dfs(task).solved


def test_generation_is_solvable_deterministic_and_split_by_board(distances):
    train = Puzzle.generate(200, random.Random(1), "train")
    test = Puzzle.generate(50, random.Random(1), "test")
    assert train == Puzzle.generate(200, random.Random(1), "train")
    assert all(tuple(p["board"]) in distances and tuple(p["board"]) != GOAL for p in train + test)
    assert not {tuple(p["board"]) for p in train} & {tuple(p["board"]) for p in test}
    easy = Puzzle.generate(100, random.Random(2), "train", scramble=6)
    assert all(1 <= distances[tuple(p["board"])] <= 6 for p in easy)


def test_traces_round_trip_and_garbage_never_raises():
    task = Puzzle({"board": [4, 1, 3, 7, 2, 6, 0, 5, 8]})
    vocab = linearize.build_vocab(Puzzle)
    for algo in ("astar", "dfs", "bfs", "mcts"):
        r = search.run_search(task, algo, seed=0)
        trace = linearize.linearize(task, r, algo, answer=task.answer(r.moves))
        vocab.encode(trace)
        parsed = linearize.parse(task, trace)
        assert parsed.legal and parsed.correct, (algo, parsed.error)
    rng = random.Random(0)
    for _ in range(2000):
        junk = [rng.choice(vocab.itos[:40]) for _ in range(rng.randrange(40))]
        linearize.parse(task, junk)


def test_search_cli_on_the_puzzle(tmp_path, distances):
    problems, out = tmp_path / "p.jsonl", tmp_path / "o.jsonl"
    search.main(["--task", "puzzle", "--generate", "300", "--seed", "5", "--out", str(problems)])
    search.main(["--task", "puzzle", "--algo", "astar", "--problems", str(problems), "--out", str(out), "--workers", "1"])
    rows = [json.loads(line) for line in open(out)]
    assert len(rows) == 300
    for row in rows:
        assert row["solved"] and verify(row, row["solution"])
        assert len(row["solution"]) == distances[tuple(row["board"])]
