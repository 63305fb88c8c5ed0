"""
Adversarial model output. A model in RL writes whatever earns reward, so everything that reads its
text -- linearize.parse, the tasks' verify, rl_objective.reward -- is fed random and mutated traces here
(truncated, repeated, out-of-range and huge numbers, wrong arity, unicode, empty) for both tasks.
Required: nothing raises, every reward lies in [0, 1], and nothing is ever marked correct unless an
independent judge, written here from the rules and reading the raw tokens itself, agrees.

The default suite runs 10,000 inputs; the @slow version runs 100,000 per task and prints its totals
(`pytest -m slow -s tests/test_fuzz.py`).
"""
import itertools
import random
import time
from collections import Counter

import pytest

import linearize
import search
import rl_objective
from tasks import get_task
from tasks.countdown import Countdown
from tasks.countdown import verify as countdown_verify
from tasks.maze import Maze
from tasks.maze import verify as maze_verify
from reference import ASCII_DIGITS, countdown_answer_ok, countdown_line_ok, maze_path_ok, mutate

# ------------------------------------------------------------------------------------------------
# the independent judge: raw tokens -> correct or not, from the rules alone



def ref_number(toks, i, cap=1000):
    """A number as traces spell it: one token below `cap` ("0".."999" by default) without leading
    zeros, or "D<1-9>" then "d<0-9>" tokens from the cap up. Returns (value, next_i) or None."""
    if i >= len(toks):
        return None
    t = toks[i]
    if t and set(t) <= ASCII_DIGITS and (t == "0" or t[0] != "0") and len(t) < len(str(cap)):
        return int(t), i + 1
    if len(t) == 2 and t[0] == "D" and t[1] in "123456789":
        digits, j = t[1], i + 1
        while j < len(toks) and len(toks[j]) == 2 and toks[j][0] == "d" and toks[j][1] in ASCII_DIGITS:
            digits += toks[j][1]
            j += 1
        return (int(digits), j) if len(digits) >= len(str(cap)) else None
    return None


def ref_answer_tokens(text):
    """The tokens after the first end word, if that word is `answer`: the model's final answer."""
    toks = text.split() if isinstance(text, str) else list(text)
    if "<eos>" in toks:
        toks = toks[:toks.index("<eos>")]
    for i, t in enumerate(toks):
        if t == "fail":
            return None
        if t == "answer":
            return toks[i + 1:]
    return None


def ref_countdown_correct(problem, toks, cap=1000):
    """Lines `a op b = c` separated by commas; each uses two numbers still on the table and puts back
    the result; n-1 lines; the last number left is the target."""
    if toks is None:
        return False
    groups, cur = [], []
    for t in toks:
        if t == ",":
            groups.append(cur)
            cur = []
        else:
            cur.append(t)
    groups.append(cur)
    if groups and not groups[-1] and len(groups) > 1:
        groups.pop()  # a trailing comma ends the list; it adds no line
    table = list(problem["nums"])
    if len(groups) != len(table) - 1:
        return False
    for g in groups:
        ra = ref_number(g, 0, cap)
        if ra is None or ra[1] >= len(g) or g[ra[1]] not in ("+", "-", "*", "/"):
            return False
        op = g[ra[1]]
        rb = ref_number(g, ra[1] + 1, cap)
        if rb is None or rb[1] >= len(g) or g[rb[1]] != "=":
            return False
        rc = ref_number(g, rb[1] + 1, cap)
        if rc is None or rc[1] != len(g):
            return False
        a, b, c = ra[0], rb[0], rc[0]
        if not countdown_line_ok(table, a, op, b, c):
            return False
    return table == [problem["target"]]


def ref_cell(tok):
    """A cell token `c<row>_<col>`: ASCII digits, no leading zeros (one spelling per cell), or None."""
    if not (tok.startswith("c") and tok.count("_") == 1):
        return None
    parts = tok[1:].split("_")
    if not all(p and set(p) <= ASCII_DIGITS and (p == "0" or p[0] != "0") for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def ref_maze_correct(problem, toks):
    if not toks:
        return False
    cells = [ref_cell(t) for t in toks]
    return None not in cells and maze_path_ok(problem["grid"], cells)


def ref_maze_answer_ok(problem, answer):
    if not isinstance(answer, list):
        return False
    cells = []
    for cell in answer:
        if not (isinstance(cell, (list, tuple)) and len(cell) == 2 and all(type(x) is int for x in cell)):
            return False
        cells.append(tuple(cell))
    return maze_path_ok(problem["grid"], cells)


# countdown-hybrid: the same judge, with numbers from 100 up in digits (its cap written here, not read)
REF_TEXT = {"countdown": ref_countdown_correct, "countdown-hybrid": lambda p, t: ref_countdown_correct(p, t, cap=100),
            "maze": ref_maze_correct}
REF_ANSWER = {"countdown": countdown_answer_ok, "countdown-hybrid": countdown_answer_ok, "maze": ref_maze_answer_ok}
VERIFY = {"countdown": countdown_verify, "countdown-hybrid": countdown_verify, "maze": maze_verify}


# ------------------------------------------------------------------------------------------------
# inputs

JUNK = ["\u00b2", "\u0662", "\uff11", "\u200b", "\u2003", "\x1c", "\U0001F600", "\x00", "é", "ß", "D", "d",
        "Dd", "D0", "d10", "-1", "+1", "1e3", "0x1f", "1.0", "NaN", "inf", "None", "[", "]", "==", "<eos>",
        "<pad>", "<bos>", "<sep>", "007", "1000", "D1", "d9", "99999999999999999999999999999999999",
        "c01_1", "c1_01", "c_1", "c1_", "c1_1_1", "C1_1", "c١_1", "c99_99", "c-1_0"]


def make_tasks(task_name):
    rng = random.Random(5)
    if task_name.startswith("countdown"):
        problems = (Countdown.generate(4, rng, n_nums=3, num_max=12, target_max=40)
                    + Countdown.generate(3, rng, n_nums=4, num_max=15, target_max=60)
                    + Countdown.generate(2, rng, n_nums=3, num_min=0, num_max=4, target_min=0)  # zeros, repeats
                    + [{"nums": [99, 99, 1, 1], "target": 9803}, {"nums": [1, 1, 1], "target": 99}])  # big; unsolvable
        return [get_task(task_name)(p) for p in problems]
    problems = Maze.generate(4, rng, height=5, width=5) + Maze.generate(3, rng, height=7, width=7) + [
        {"grid": ["S#G"]}, {"grid": ["S.", ".G"]}]  # unsolvable; tiny
    return [Maze(p) for p in problems]


def real_traces(task):
    """The traces a search writes for this task, in every format, plus its answers."""
    out = []
    for algo, fmt, checks in [("bfs", "bfs", None), ("dfs", "dfs", None), ("dfs", "dfs", True), ("beam", "beam", None),
                              ("astar", "astar", None), ("mcts", "mcts", None), ("mcts", "mcts-sim", None),
                              ("astar", "solution", None)]:
        result = search.run_search(task, algo, budget=300, seed=1, checks=checks)
        answer = task.answer(result.moves) if result.solved else None
        out.append(linearize.linearize(task, result, fmt, answer=answer, seed=1))
    return out


def fuzz_texts(task, rng, vocab, n):
    real = real_traces(task)
    answers = [t[t.index("answer"):] for t in real if "answer" in t] or [["answer"]]
    for k in range(n):
        kind = k % 12
        if kind == 0:
            toks = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
        elif kind == 1:  # clause words and small numbers: some clauses are legal by chance
            words = ["close", "create", "go", "back", "at", "node", "sim", "try", "answer", "fail", "g", "h", "v", ",", "=",
                     "+", "-", "*", "/"]
            toks = [rng.choice(words + [str(rng.randint(0, 12))] * 8) for _ in range(rng.randint(0, 40))]
        elif kind in (2, 3, 4, 5):
            toks = mutate(rng.choice(real), rng, vocab)
        elif kind in (6, 7):  # answers alone, mutated: where a false "correct" would come from
            toks = mutate(rng.choice(answers), rng, vocab)
        elif kind == 8:  # wrong arity: lines dropped or added, a cell short
            toks = list(rng.choice(answers))
            if task.name.startswith("countdown"):
                line = ["answer", *rng.choice([["1", "+", "1", "=", "2"], ["0", "*", "5", "=", "0"]])]
                toks = rng.choice([toks[:max(1, len(toks) - 6)], toks + [","] + line[1:], line])
            else:
                toks = rng.choice([toks[:-1], toks + toks[-2:], toks[:1] + toks[3:]])
        elif kind == 9:  # huge and out-of-range numbers
            big = rng.choice([["9" * rng.randint(4, 5000)], ["D9"] + ["d9"] * rng.randint(1, 300), ["D1"] + ["d0"] * 40,
                              [str(rng.randint(1000, 10 ** 6))], ["-1"], ["64"], ["999"]])
            toks = rng.choice(answers)[:rng.randint(1, 6)] + big + rng.choice(answers)[1:]
        elif kind == 10:  # unicode junk, as a raw string (split on unicode whitespace too)
            yield "".join(rng.choice(JUNK + [" ", "answer ", "1 ", "+ ", "= ", ", "]) for _ in range(rng.randint(0, 30)))
            continue
        else:  # empty, whitespace, or the real thing
            yield rng.choice(["", " ", "\n\t", [], rng.choice(real), " ".join(rng.choice(real))])
            continue
        yield toks if rng.random() < 0.5 else " ".join(toks)


def fuzz_answers(task, rng, n):
    """Interchange-format answers for verify: real ones, mutated ones, and junk of every type."""
    real = [task.answer(search.run_search(task, algo).moves) for algo in ("astar", "dfs", "bfs")
            if search.run_search(task, algo).solved] or [[]]
    junk = [None, 3, "x", [], [[]], [None], {"a": 1}, [1.5, 2], [True, False], [[True, 0]], ["1+1=2"] * 9,
            [["0", "0"]], [[0, 0, 0]], [(0, 0)], ["\u0661+\u0661=\u0662"], ["2 + 2 = 4 = 4"], ["99" * 40 + "+1=1"]]
    for k in range(n):
        kind = k % 4
        if kind == 0:
            yield rng.choice(junk)
            continue
        answer = [list(x) if isinstance(x, list) else x for x in rng.choice(real)]
        if not answer or kind == 1:
            yield answer
            continue
        i = rng.randrange(len(answer))
        if task.name.startswith("countdown"):
            line = answer[i]
            nudged = "".join(str((int(ch) + rng.randint(0, 9)) % 10) if ch.isdigit() and rng.random() < 0.3 else ch
                             for ch in line)
            answer[i] = rng.choice([nudged, line.replace("+", "-"), line.replace("*", "/"), line.replace("-", "+"),
                                    " " + line + " ", line.replace("=", " = "), line + "0", "0" + line, line[::-1]])
            if rng.random() < 0.3:
                answer = rng.choice([answer[:-1], answer + answer[-1:], answer[::-1]])
        else:
            r, c = answer[i]
            answer[i] = rng.choice([[r + 1, c], [r, c - 1], [r + 1, c + 1], [-1, c], [r, 10 ** 30], [c, r]])
            if rng.random() < 0.3:
                answer = rng.choice([answer[:-1], answer[1:], answer + answer[-2:-1], answer[::-1]])
        yield answer


# ------------------------------------------------------------------------------------------------
# the fuzz

def run_fuzz(task_name, n_per_task, seed):
    rng = random.Random(seed)
    vocab = linearize.build_vocab(get_task(task_name)).itos + JUNK
    tasks = make_tasks(task_name)
    totals = Counter()
    per_task = max(1, n_per_task // len(tasks))
    for task in tasks:
        problem = task.problem
        for text in fuzz_texts(task, rng, vocab, per_task):
            parsed = linearize.parse(task, text)
            ref = REF_TEXT[task_name](problem, ref_answer_tokens(text))
            assert parsed.correct == ref, (problem, text, parsed.answer)  # both ways: sound and complete
            if parsed.answer is not None:
                assert VERIFY[task_name](problem, parsed.answer) == REF_ANSWER[task_name](problem, parsed.answer)
            assert parsed.legal == (parsed.error is None) and parsed.legal_steps <= parsed.steps
            toks = text.split() if isinstance(text, str) else text
            fr = rng.choice([0.0, 0.1, 0.5, 1.0])
            gamma = rng.choice([None, 1.0, 0.999, 0.5, 1e-9])
            r = rl_objective.reward(task, toks, format_reward=fr, gamma=gamma)
            assert 0.0 <= r <= 1.0
            if ref:
                assert r == (1.0 if gamma is None else gamma ** len(toks))
            else:
                assert r in (0.0, fr)  # a wrong answer earns at most the format reward, never the prize
            totals["texts"] += 1
            totals["correct"] += ref
            totals["well_formed_wrong"] += parsed.answer is not None and not ref
            totals["illegal"] += not parsed.legal
        for answer in fuzz_answers(task, rng, per_task // 4):
            accepted = VERIFY[task_name](problem, answer)
            assert accepted == REF_ANSWER[task_name](problem, answer), (problem, answer)
            totals["answers"] += 1
            totals["answers_accepted"] += accepted
    return totals


def check_totals(task_name, totals, n):
    assert totals["texts"] >= 0.99 * n
    # the fuzz reached every verdict: correct answers, well-formed wrong ones, and illegal traces
    assert totals["correct"] > 0.01 * totals["texts"]
    assert totals["well_formed_wrong"] > 0.05 * totals["texts"]
    assert totals["illegal"] > 0.3 * totals["texts"]
    assert 0 < totals["answers_accepted"] < totals["answers"]


@pytest.mark.parametrize("task_name", ["countdown", "countdown-hybrid", "maze"])
def test_fuzz_parse_verify_reward(task_name):
    totals = run_fuzz(task_name, 5_000, seed=1)
    check_totals(task_name, totals, 5_000)


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["countdown", "countdown-hybrid", "maze"])
def test_fuzz_parse_verify_reward_100k(task_name):
    t0 = time.time()
    totals = run_fuzz(task_name, 100_000, seed=2)
    check_totals(task_name, totals, 100_000)
    print(f"\nfuzz {task_name}: {dict(totals)} in {time.time() - t0:.0f}s")


# ------------------------------------------------------------------------------------------------
# property: on small problems, verify accepts exactly the answers an independent check accepts

def all_line_sequences(nums):
    """Every sequence of n-1 lines `a op b=c` over the table, for each op with c the true result or
    an off-by-one or a floor division: all the right answers and many near misses."""
    if len(nums) == 1:
        yield []
        return
    for i, j in itertools.permutations(range(len(nums)), 2):
        a, b = nums[i], nums[j]
        rest = [nums[k] for k in range(len(nums)) if k not in (i, j)]
        for op, c in [("+", a + b), ("*", a * b), ("-", a - b), ("/", a // b if b else 0), ("+", a + b + 1),
                      ("/", a // b + 1 if b else 1)]:
            if c < 0:
                continue
            for tail in all_line_sequences(rest + [c]):
                yield [f"{a}{op}{b}={c}"] + tail


def test_verify_accepts_exactly_what_an_independent_check_accepts():
    rng = random.Random(3)
    seen = Counter()
    for _ in range(40):
        nums = [rng.randint(0, 9) for _ in range(3)]
        for target in {rng.randint(0, 30), nums[0] + nums[1] * nums[2]}:
            problem = {"nums": nums, "target": target}
            for answer in all_line_sequences(nums):
                accepted = countdown_verify(problem, answer)
                assert accepted == countdown_answer_ok(problem, answer), (problem, answer)
                seen[accepted] += 1
    assert seen[True] > 100 and seen[False] > 10 * seen[True]
    for side in (3, 4, 5):
        for problem in Maze.generate(5, rng, height=side, width=side, min_len=2):
            grid = problem["grid"]
            start = next((r, c) for r, row in enumerate(grid) for c, x in enumerate(row) if x == "S")
            for _ in range(300):  # random walks, walls and edges ignored
                path = [list(start)]
                for _ in range(rng.randint(0, 3 * side)):
                    dr, dc = rng.choice([(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (0, 2)])
                    path.append([path[-1][0] + dr, path[-1][1] + dc])
                assert maze_verify(problem, path) == ref_maze_answer_ok(problem, path), (grid, path)
                seen["maze", maze_verify(problem, path)] += 1
    assert seen["maze", True] > 10 and seen["maze", False] > 100
