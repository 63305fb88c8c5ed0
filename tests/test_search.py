"""
Specs for search.py: every algorithm against a slow, independent reference written here.

Mazes: A* and BFS plans are exactly as long as a plain breadth-first shortest path; DFS, beam and MCTS
plans are legal paths. Countdown: DFS, A* and BFS (no budget) find a solution exactly when a brute-force
enumerator says one exists. Budgets are respected, and the whole dataset build is byte-for-byte
deterministic, however many worker processes it uses.
"""
import random

import pytest

import search
from tasks.countdown import Countdown
from tasks.countdown import verify as cd_verify
from tasks.maze import Maze, is_optimal
from tasks.maze import verify as maze_verify
from reference import countdown_answer_ok, countdown_reachable, maze_path_ok, maze_shortest


# ------------------------------------------------------------------------------------------------
# references, written from the rules

def random_maze(rng, h, w):
    """Walls at 15-50% density, S and G on two random cells: often unsolvable, sometimes trivial."""
    density = rng.uniform(0.15, 0.5)
    cells = [["#" if rng.random() < density else "." for _ in range(w)] for _ in range(h)]
    (sr, sc), (gr, gc) = rng.sample([(r, c) for r in range(h) for c in range(w)], 2)
    cells[sr][sc], cells[gr][gc] = "S", "G"
    return {"grid": ["".join(row) for row in cells]}


def random_countdown(rng):
    """3-4 numbers from 0..12 (duplicates and zeros are common); half the targets reachable."""
    nums = [rng.randint(0, 12) for _ in range(rng.choice((3, 4)))]
    if rng.random() < 0.5:
        target = rng.choice(sorted(countdown_reachable(nums)))
    else:
        target = rng.randint(0, 150)
    return {"nums": nums, "target": target}


# ------------------------------------------------------------------------------------------------
# mazes

def test_astar_and_bfs_plans_are_shortest_on_random_mazes():
    rng = random.Random(1234)
    n_solvable = 0
    for k in range(520):
        h, w = rng.randint(5, 15), rng.randint(5, 15)
        problem = random_maze(rng, h, w)
        grid, task = problem["grid"], Maze(problem)
        best = maze_shortest(grid)
        for algo in (search.astar, search.bfs):
            result = algo(task)
            assert result.solved == (best is not None), (algo.__name__, grid)
            if best is None:
                assert result.moves == []
                continue
            plan = task.answer(result.moves)
            assert len(plan) == best, (algo.__name__, grid, plan)
            assert maze_path_ok(grid, plan)
            assert maze_verify(problem, plan) and is_optimal(problem, plan)
        n_solvable += best is not None
    assert n_solvable >= 250  # the comparison was not vacuous


def test_astar_on_generated_mazes_of_several_sizes():
    rng = random.Random(7)
    for side in (5, 10, 15):
        for problem in Maze.generate(15, rng, height=side, width=side):
            task = Maze(problem)
            result = search.astar(task)
            plan = task.answer(result.moves)
            assert result.solved and len(plan) == maze_shortest(problem["grid"]) >= side
            assert is_optimal(problem, plan)
            # every expansion is logged once, and the count matches
            closes = [ev[1].state for ev in result.events if ev[0] == "close"]
            assert len(closes) == result.nodes_expanded == len(set(closes))


def test_depth_first_beam_and_mcts_find_legal_maze_paths():
    rng = random.Random(11)
    for k in range(60):
        problem = random_maze(rng, rng.randint(5, 10), rng.randint(5, 10))
        grid, task = problem["grid"], Maze(problem)
        best = maze_shortest(grid)
        for algo in ("dfs", "beam", "mcts"):
            result = search.run_search(task, algo, budget=10**6, seed=k)
            if algo != "beam":  # DFS and MCTS (given budget) are complete; beam may miss
                assert result.solved == (best is not None), (algo, grid)
            if result.solved:
                assert best is not None
                plan = task.answer(result.moves)
                assert maze_path_ok(grid, plan) and maze_verify(problem, plan) and len(plan) >= best


def test_dfs_in_a_random_order_is_still_a_complete_legal_search():
    """random_order p: complete and legal (the reference decides solvability), the same trace for
    the same seed, the best-first DFS at p = 0, and other orders (hence other traces) at p = 1."""
    import linearize
    rng, differ = random.Random(5), 0
    for k in range(60):
        problem = random_maze(rng, rng.randint(5, 8), rng.randint(5, 8))
        task, best = Maze(problem), maze_shortest(problem["grid"])
        states = lambda r: [(e[0], e[1].state) for e in r.events]
        plain = search.dfs(task)
        assert states(search.dfs(task, random_order=0.0, seed=k)) == states(plain)
        for p in (0.3, 1.0):
            result = search.dfs(task, random_order=p, seed=k)
            assert result.solved == (best is not None)
            assert states(search.dfs(task, random_order=p, seed=k)) == states(result)
            if result.solved:
                trace = linearize.linearize(task, result, "dfs", task.answer(result.moves), costs=False)
                parsed = linearize.parse(task, trace)
                assert parsed.legal and parsed.correct and maze_path_ok(problem["grid"], parsed.answer)
                differ += p == 1.0 and states(result) != states(plain)
    assert differ > 10


# ------------------------------------------------------------------------------------------------
# countdown

def test_countdown_solvers_agree_with_brute_force():
    rng = random.Random(2024)
    counts = {True: 0, False: 0}
    dup_or_zero = 0
    for _ in range(520):
        problem = random_countdown(rng)
        solvable = problem["target"] in countdown_reachable(problem["nums"])
        counts[solvable] += 1
        dup_or_zero += len(set(problem["nums"])) < len(problem["nums"]) or 0 in problem["nums"]
        task = Countdown(problem)
        for algo in (search.dfs, search.astar, search.bfs):
            result = algo(task)
            assert result.solved == solvable, (algo.__name__, problem)
            if solvable:
                answer = task.answer(result.moves)
                assert cd_verify(problem, answer) and countdown_answer_ok(problem, answer), (algo.__name__, answer)
            else:
                assert result.moves == []
        beam = search.beam(task, width=2)
        if beam.solved:  # incomplete, but never wrong
            assert solvable and countdown_answer_ok(problem, task.answer(beam.moves))
    assert min(counts.values()) >= 150 and dup_or_zero >= 150


def test_countdown_sos_sized_problems_and_mult_heuristic():
    rng = random.Random(3)
    for problem in Countdown.generate(25, rng):
        for heuristic in ("sum", "mult"):
            task = Countdown(problem, heuristic=heuristic)
            for algo in (search.dfs, search.astar):
                result = algo(task)
                assert result.solved and countdown_answer_ok(problem, task.answer(result.moves))


def test_mcts_solves_countdown_given_budget_and_is_exhaustive():
    rng = random.Random(5)
    for k in range(40):
        problem = random_countdown(rng)
        solvable = problem["target"] in countdown_reachable(problem["nums"])
        task = Countdown(problem)
        result = search.mcts(task, budget=10**6, seed=k)
        assert result.solved == solvable, problem  # unsolvable: the tree runs dry and it stops
        if solvable:
            assert countdown_answer_ok(problem, task.answer(result.moves))
        added = [ev[1].state for ev in result.events]
        assert len(added) == len(set(added)) == result.nodes_expanded


def test_mcts_is_deterministic_for_a_seed():
    def run(task, seed):
        r = search.mcts(task, budget=300, seed=seed)
        return r.solved, r.moves, r.nodes_expanded, [(ev[1].state, ev[2]) for ev in r.events]

    rng = random.Random(8)
    tasks = [Countdown(p) for p in Countdown.generate(5, rng)]
    tasks += [Maze(p) for p in Maze.generate(5, rng, height=10, width=10)]
    differs = 0
    for task in tasks:
        a, b = run(task, 1), run(task, 1)
        assert a == b
        differs += a != run(task, 2)
    assert differs >= len(tasks) // 2  # the seed is really used


# ------------------------------------------------------------------------------------------------
# budgets

ALGOS = ("bfs", "dfs", "beam", "astar", "mcts")


@pytest.mark.parametrize("algo", ALGOS)
def test_tiny_budget_fails_and_stays_within_budget(algo):
    rng = random.Random(21)
    countdown = [Countdown(p) for p in Countdown.generate(10, rng)]           # 3 moves to a goal
    mazes = [Maze(p) for p in Maze.generate(10, rng, height=10, width=10)]    # >= 9 moves to a goal
    for task in countdown + mazes:
        for budget in (0, 1):
            result = search.run_search(task, algo, budget=budget)
            assert not result.solved and result.moves == [] and result.nodes_expanded <= budget
        for budget in range(2, 30, 3):
            result = search.run_search(task, algo, budget=budget)
            assert result.nodes_expanded <= budget
            if result.solved:
                plan = task.answer(result.moves)
                assert task.check_answer(plan)


@pytest.mark.parametrize("algo", ALGOS)
def test_budget_truncates_the_same_search(algo):
    """A deterministic search with budget b is the unbounded search cut after b nodes: it fails for
    every b below the node count the search needed, and succeeds identically from there on."""
    rng = random.Random(4)
    problems = [Countdown(p) for p in Countdown.generate(4, rng)]
    problems += [Maze(p) for p in Maze.generate(4, rng, height=7, width=7)]
    for task in problems:
        full = search.run_search(task, algo, budget=10**6, seed=3)
        if not full.solved:
            assert algo == "beam"
            continue
        need = full.nodes_expanded
        for budget in sorted({0, 1, need // 2, need - 1, need, need + 5}):
            result = search.run_search(task, algo, budget=budget, seed=3)
            assert result.nodes_expanded <= budget
            if budget < need:
                assert not result.solved, (algo, budget, need)
            else:
                assert result.solved and result.moves == full.moves and result.nodes_expanded == need


def test_run_search_rejects_unknown_algorithm():
    with pytest.raises(ValueError, match="valid algorithms"):
        search.run_search(Maze({"grid": ["SG"]}), "dijkstra")


# ------------------------------------------------------------------------------------------------
# the dataset builder

def test_same_seed_gives_byte_identical_dataset(tmp_path, capsys):
    def build(tag, workers, task, algo, extra):
        problems, out = tmp_path / f"p{tag}.jsonl", tmp_path / f"o{tag}.jsonl"
        search.main(["--task", task, "--generate", "150", "--seed", "9", "--out", str(problems), *extra])
        search.main(["--task", task, "--algo", algo, "--problems", str(problems), "--out", str(out),
                     "--seed", "9", "--budget", "400", "--workers", str(workers)])
        return problems.read_bytes(), out.read_bytes()

    for task, algo, extra in (("countdown", "mcts", ["--n-nums", "4"]),
                              ("maze", "astar", ["--height", "6", "--width-cells", "6"])):
        p1, o1 = build(f"{task}1", 1, task, algo, extra)
        p2, o2 = build(f"{task}2", 2, task, algo, extra)   # >= 50 problems: really uses a Pool
        assert p1 == p2 and o1 == o2
        assert len(o1.splitlines()) == 150 and b'"trace": "' in o1
    capsys.readouterr()
