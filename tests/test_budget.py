"""budget.py against brute force, on per-problem records drawn at random: pass@k within a budget
against every k-subset of the samples, best-of-B-tokens against every order of the samples, "up"
against a recount written out problem by problem. And the rule under them all: an output that has
not ended within its budget is wrong, whatever its answer says; with no symbolic search to compare,
"solved by no symbolic search" is n/a, not "all"."""
import itertools
import random

import pytest

import budget
import evaluate
import linearize
from tasks import get_task
from tasks.maze import shortest_path_length

Maze = get_task("maze")
WALK = "go c0_1 go c0_2 go c1_2 go c2_2 answer c0_0 c0_1 c0_2 c1_2 c2_2".split()


def test_an_answer_cut_off_at_its_budget_is_wrong():
    maze, vocab = Maze({"grid": ["S..", "...", "..G"]}), linearize.build_vocab(Maze)
    ended, cut = vocab.encode(WALK + [linearize.EOS]), vocab.encode(WALK)
    assert evaluate.score(maze, vocab, ended).correct
    parsed = evaluate.score(maze, vocab, cut)  # the same right answer, but the budget ran out before its end
    assert not parsed.correct and "did not end within its budget" in parsed.error
    rows = [{"greedy": 1, "tokens": len(ended)}]
    assert budget.greedy_within(rows, len(ended)) == [1] and budget.greedy_within(rows, len(ended) - 1) == [0]


def records(rng, n_problems=40, n=4, algos=("bfs", "dfs")):
    rows = []
    for _ in range(n_problems):
        rows.append({"greedy": rng.random() < 0.6, "tokens": rng.randint(5, 60), "n": n,
                     "sample_correct": [int(rng.random() < 0.4) for _ in range(n)],
                     "sample_lens": [rng.randint(5, 60) for _ in range(n)],
                     "sym_tokens": {a: rng.choice([None, rng.randint(10, 90)]) for a in algos},
                     "needs_search": rng.random() < 0.5})
    return rows


def test_pass_at_k_within_a_budget_is_the_share_of_k_subsets_holding_a_sample_that_fits_and_verifies():
    rng = random.Random(0)
    for r in records(rng):
        for b, k in itertools.product((10, 30, 60), (1, 2, 4)):
            good = [c and m <= b for c, m in zip(r["sample_correct"], r["sample_lens"])]
            subsets = list(itertools.combinations(range(r["n"]), k))
            brute = sum(any(good[i] for i in s) for s in subsets) / len(subsets)
            assert budget.pass_within([r], b, k)[0] == pytest.approx(brute)


def test_best_of_b_tokens_is_the_share_of_sample_orders_that_reach_a_right_answer_within_b():
    rng = random.Random(1)
    for r in records(rng, n_problems=15):
        for b in (20, 50, 120):
            orders = list(itertools.permutations(range(r["n"])))

            def solved(order):
                spent = 0
                for i in order:
                    spent += r["sample_lens"][i]
                    if spent > b:
                        return False
                    if r["sample_correct"][i]:
                        return True
                return False
            exact = sum(map(solved, orders)) / len(orders)
            assert budget.best_of_tokens([r], b, orders=3000)[0] == pytest.approx(exact, abs=0.04)


def test_up_equals_a_recount_from_the_per_problem_records():
    rng = random.Random(2)
    rl, start, solution = records(rng), records(rng), records(rng)
    for b, k in itertools.product((20, 40, 70), (1, 2, 4)):
        count = 0
        for m, s, y in zip(rl, start, solution):
            rl_solves = m["greedy"] and m["tokens"] <= b
            start_solves = any(s["sample_correct"][i] and s["sample_lens"][i] <= b for i in range(k))
            symbolic_solves = any(t is not None and t <= b for t in m["sym_tokens"].values())
            solution_solves = any(y["sample_correct"][j] and sum(y["sample_lens"][:j + 1]) <= b for j in range(y["n"]))
            count += bool(rl_solves and not (start_solves or symbolic_solves or solution_solves))
        got = budget.up(rl, start, solution, b, k)
        assert got["count"] == count and got["n"] == len(rl)
        assert got["share"]["mean"] == pytest.approx(count / len(rl))


def test_with_no_symbolic_search_to_compare_up_and_the_symbolic_count_are_n_a():
    rng = random.Random(3)
    rows = records(rng, algos=())
    assert budget.symbolic_within(rows, 40) == {} and budget.up(rows, rows, rows, 40, 2) is None
    for r in rows:
        r |= {"answered": 1, "legal_steps": 3, "steps": 4, "nodes": 5, "sym_nodes": {}, "sym_at_model_nodes": {},
              "sym_any_at_model_nodes": 0, "c": 1, "n": 0}
    assert evaluate.summarize(rows, ks=())["solved_by_model_not_symbolic_at_same_nodes"] is None


def test_tokens_per_solved_problem_and_left_by_hand():
    a = [{"greedy": 1, "tokens": 10}, {"greedy": 1, "tokens": 30}, {"greedy": 0, "tokens": 50}]
    b = [{"greedy": 1, "tokens": 20}, {"greedy": 1, "tokens": 40}, {"greedy": 1, "tokens": 60}]
    assert budget.tokens_per_solved(a) == 45.0  # 90 tokens spent for 2 solved
    assert budget.tokens_per_solved(a, budget=32) == (10 + 30 + 32) / 2  # each cut at B; 30 <= 32 solved
    assert budget.tokens_per_solved(b, budget=32) == (20 + 32 + 32) / 1
    got = budget.left(a, b)
    assert got["change"] == pytest.approx(45 / 40 - 1) and got["ci"][0] <= got["change"] <= got["ci"][1]


def test_the_walk_is_the_shortest_trace_a_search_can_write():
    maze = Maze({"grid": ["S..", "...", "..G"]})
    assert budget.walk_tokens(maze, costs=False) == len(WALK) + 1  # the hand-written walk and its end token
    rng = random.Random(5)
    for problem in Maze.generate(30, rng, height=5, width=5):  # 3 tokens per cell: `go c` per step, then the answer
        cells = shortest_path_length(problem)
        assert budget.walk_tokens(Maze(problem), costs=False) == 3 * cells
        assert budget.walk_tokens(Maze(problem), costs=True) > 3 * cells  # each `go` then carries `h H`
    assert budget.walk_tokens(Maze({"grid": ["S#", "#G"]}), costs=False) is None


def test_the_ceilings_by_hand():
    walks = [12, 30, 45, None]  # budget 32: the first two walks fit
    start = [{"greedy": 1, "tokens": 40, "n": 1, "sample_correct": [1], "sample_lens": [20], "sym_tokens": {"dfs": None}},
             {"greedy": 1, "tokens": 60, "n": 1, "sample_correct": [0], "sample_lens": [20], "sym_tokens": {"dfs": None}},
             {"greedy": 0, "tokens": 50, "n": 1, "sample_correct": [0], "sample_lens": [20], "sym_tokens": {"dfs": 90}},
             {"greedy": 0, "tokens": 50, "n": 1, "sample_correct": [0], "sample_lens": [20], "sym_tokens": {"dfs": None}}]
    solution = [{"n": 1, "sample_correct": [0], "sample_lens": [8]}] * 4
    got = budget.ceilings(walks, start, solution, 32, 1)
    assert got["within"] == 0.5
    assert got["up"] == 0.25  # the second: its walk fits, and its start's sample, DFS and solution-only all fail
    assert got["left_unbounded"] == pytest.approx((12 + 30 + 45) / 3 / ((40 + 60 + 50 + 50) / 2) - 1)
