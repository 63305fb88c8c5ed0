"""
Countdown's trace that shows its checks (search.py --checks: a `try` clause per leaf combination) and
its number spellings (Task.num_cap: one word per number below the cap, digits from it up), each
against an independent count written here from the rules.
"""
import itertools
import random

import pytest

import linearize
import search
from tasks import get_task, number_tokens, number_vocab, read_number
from tasks.countdown import Countdown, reachable

CAPS = {"countdown": 1000, "countdown-hybrid": 100, "countdown-digits": 10}


def spelled(n, cap):
    """The spelling from its definition: a word below the cap, else a capital first digit and d-digits."""
    text = str(n)
    return [text] if n < cap else ["D" + text[0]] + ["d" + ch for ch in text[1:]]


@pytest.mark.parametrize("name", sorted(CAPS))
def test_every_number_the_task_can_produce_round_trips_in_its_spelling(name):
    task_cls = get_task(name)
    cap = task_cls.num_cap
    assert cap == CAPS[name]
    words = set(linearize.build_vocab(task_cls).itos)
    # every value Countdown-4 from 1..99 can hold (a product of four such numbers at most), the
    # small ones all, the large ones sampled, and the largest the format can spell
    values = list(range(0, 12_000)) + random.Random(0).sample(range(12_000, 99 ** 4 + 1), 5_000) + [99 ** 4, 10 ** 29]
    for n in values:
        toks = number_tokens(n, cap)
        assert toks == spelled(n, cap)
        assert read_number(toks + ["="], 0, cap) == (n, len(toks))
        assert set(toks) <= words, (n, toks)
    # one spelling per number: another cap's spelling, a leading zero or a short digit run is refused
    assert read_number(["150"], 0, 100) is None and read_number(["D5"], 0, 100) is None  # 5 is a word
    assert read_number(["D1", "d5", "d0"], 0, 1000) is None and read_number(["07"], 0, 100) is None
    assert len(number_vocab(None, cap)) == cap + 19


def leaf_moves(a, b, target):
    """The leaf combinations of two numbers a >= b, in the rules' order (+, -, *, /), up to the first
    that makes the target: what a `try` run at a two-number node must list."""
    out = []
    for op, c in (("+", a + b), ("-", a - b), ("*", a * b), ("/", a // b if b and a % b == 0 else None)):
        if c is not None:
            out.append((a, op, b, c))
            if c == target:
                break
    return out


@pytest.mark.parametrize("name", sorted(CAPS))
def test_dfs_with_checks_lists_every_leaf_combination_and_solves_exactly_the_solvable(name):
    task_cls, rng = get_task(name), random.Random(1)
    problems = [{"nums": [rng.randint(1, 30) for _ in range(3)], "target": rng.randint(1, 100)} for _ in range(150)]
    problems += Countdown.generate(40, rng, n_nums=4, num_max=20, target_max=80)
    solved = 0
    for problem in problems:
        task = task_cls(problem)
        result = search.run_search(task, "dfs", checks=True)
        assert result.solved == (problem["target"] in reachable(tuple(sorted(problem["nums"]))))  # brute force
        solved += result.solved
        answer = task.answer(result.moves) if result.solved else None
        toks = linearize.linearize(task, result, "dfs", answer=answer, costs=False)
        parsed = linearize.parse(task, toks)
        assert parsed.legal and parsed.correct == result.solved and parsed.nodes == result.nodes_expanded
        # every run of `try` clauses is exactly the rules' leaf combinations of the node it is at
        stack, k = [task.start()], 0
        clauses = linearize.pretty(toks).split("\n")
        while k < len(clauses):
            word, *rest = clauses[k].split()
            if word == "go":
                stack.append(task.apply(stack[-1], task.read_move(stack[-1], rest, 0)[0]))
            elif word == "back":
                stack.pop()
            elif word == "try":
                run = list(itertools.takewhile(lambda c: c.startswith("try "), clauses[k:]))
                a, b = stack[-1]
                assert [task.read_move(stack[-1], c.split()[1:], 0)[0] for c in run] == leaf_moves(a, b, problem["target"])
                assert len(stack[-1]) == 2
                k += len(run)
                continue
            k += 1
    assert 50 < solved < len(problems)


def test_parse_checks_the_arithmetic_of_every_try_clause():
    task = Countdown({"nums": [49, 37, 9], "target": 21})
    good = "go 49 - 37 = 12 try 12 + 9 = 21 answer 49 - 37 = 12 , 12 + 9 = 21".split()
    p = linearize.parse(task, good)
    assert p.legal and p.correct and p.steps == p.legal_steps == 2 and p.nodes == 2
    for bad, why in [("try 12 + 9 = 22", "wrong sum"), ("try 12 - 9 = 21", "wrong difference"),
                     ("try 12 + 8 = 20", "a number not on the table"), ("try 9 - 12 = 0", "negative: smaller first"),
                     ("try 12 / 9 = 1", "inexact division"), ("try 12 +", "cut short")]:
        text = ["go", "49", "-", "37", "=", "12", *bad.split(), "back", "49", "37", "9"]
        p = linearize.parse(task, text)
        assert not p.legal and p.legal_steps == 2 and p.error.startswith("token 6: try"), (why, p.error)
    # a try checks a leaf: a move that leaves numbers to combine is stepped into with go, never tried
    p = linearize.parse(task, "try 49 - 37 = 12 go 49 - 37 = 12 try 12 + 9 = 21 answer 49 - 37 = 12 , 12 + 9 = 21".split())
    assert not p.legal and p.error.startswith("token 0: try: the move does not reach a leaf") and p.legal_steps == 2
    # a try does not move the search: the next clause is still read from the node it was made at
    p = linearize.parse(task, "go 49 - 37 = 12 try 12 + 9 = 21 try 12 * 9 = 108 back 49 37 9 go 37 - 9 = 28".split())
    assert p.legal and p.legal_steps == 5


def test_the_try_word_is_in_countdowns_vocabulary_only():
    assert "try" in linearize.build_vocab(Countdown).stoi
    for name in ("maze", "maze-canvas", "puzzle"):  # their vocabularies, and the models trained on them, unchanged
        assert "try" not in linearize.build_vocab(get_task(name)).stoi


def test_the_budgets_count_the_symbolic_teachers_tokens_in_its_own_format():
    """With --checks the teacher writes its tries, so the tokens a budget charges the symbolic DFS are
    those of that trace, not of the shorter one without them."""
    import budget
    import evaluate
    task = Countdown({"nums": [32, 17, 8], "target": 68})
    for checks in (False, True):
        result = search.run_search(task, "dfs", checks=checks or None)
        written = len(linearize.linearize(task, result, "dfs", task.answer(result.moves), costs=False)) + 1
        assert evaluate.symbolic_cost(task, "dfs", costs=False, checks=checks) == (result.nodes_expanded, written)
    plain, checked = (evaluate.symbolic_cost(task, "dfs", False, c)[1] for c in (False, True))
    assert checked > plain + 20
    sweep = {c: budget.symbolic_sweep(Countdown, [task.problem], [1000], costs=False, checks=c)["dfs"][0]["tokens"] for c in (False, True)}
    assert sweep[True] == checked - 1 and sweep[False] == plain - 1  # (the sweep counts no end token)


def test_a_control_whose_data_is_almost_never_legal_is_gated_on_its_answers_and_says_so():
    """The swapped control's data is ~0.1 % legal (Countdown) or ~4 % (mazes): 95 % of that is no test,
    so the gate rests on the answers, the rule says so, and the report's cell names it."""
    import evaluate
    import report
    import results
    log = [{"step": 100, "val_acc": 0.5, "val_legal_step_rate": 0.0005, "val_answer_rate": 1.0}]
    def gated(answers, legal, data):
        test = {"legal_step_rate": legal, "answer_rate": answers}
        return results.gate_with_margin(evaluate.gate(test, data), log, data)
    swapped = gated(1.0, 0.0005, 0.001)  # half its data's tiny rate: the legal-steps rule would fail it
    assert swapped["passed"] and swapped["rule"] == "answers, data seldom legal" and swapped["margin"] == 0.05
    assert "answers only: its data's clauses are 0.001 legal" in report._gate_cell(swapped)
    assert not gated(0.9, 0.0005, 0.001)["passed"]  # and its answers still have to be there
    shuffled = gated(1.0, 0.15, 0.187)  # the shuffled control's data is legal often enough to be a test
    assert shuffled["rule"] == "legal steps" and not shuffled["passed"]
