"""
Specs for linearize.py: the trace format, reading traces back, the ablation options, and a fuzz of the
parser. The references here are hand-written traces, a hand-written number spelling, and small
independent answer checkers: none of them calls the project's code.
"""
import random
from collections import Counter

import pytest

import linearize
import search
from tasks import get_task
from tasks import number_tokens, read_number
from tasks.countdown import Countdown
from tasks.maze import Maze, MazeRowCol
from reference import countdown_answer_ok, maze_path_ok, mutate

EVENT_WORDS = {"close", "create", "go", "back", "at", "node", "sim"}
END_WORDS = {"answer", "fail"}


# ------------------------------------------------------------------------------------------------
# independent helpers

def ref_spell(n):
    """The number spelling, written from its definition: below 1000 one token, else D<first> d<rest>..."""
    s = str(n)
    return [s] if n < 1000 else ["D" + s[0]] + ["d" + ch for ch in s[1:]]


def clauses(tokens):
    """Split a trace into clauses: each starts at an event word or an end word."""
    out = []
    for tok in tokens:
        if tok in EVENT_WORDS or tok in END_WORDS or not out:
            out.append([tok])
        else:
            out[-1].append(tok)
    return out


def strip_costs(clause):
    """Remove `g N`, `h N` and `v N` fields (N a plain number, or D followed by d-digits)."""
    out, i = [], 0
    while i < len(clause):
        if clause[i] in ("g", "h", "v") and clause[0] != "answer":
            i += 2
            while i < len(clause) and clause[i].startswith("d") and len(clause[i]) == 2:
                i += 1
        else:
            out.append(clause[i])
            i += 1
    return out


def ref_maze_ok(problem, path):
    if not isinstance(path, list) or not all(isinstance(c, list) and len(c) == 2 and all(type(x) is int for x in c)
                                             for c in path):
        return False
    return maze_path_ok(problem["grid"], path)


def ref_ok(task, answer):
    return (countdown_answer_ok if isinstance(task, Countdown) else ref_maze_ok)(task.problem, answer)


def make(task, algo, fmt=None, budget=None, seed=0, **options):
    result = search.run_search(task, algo, budget=budget if budget is not None else 10**6, seed=seed)
    answer = task.answer(result.moves) if result.solved else None
    return result, answer, linearize.linearize(task, result, fmt or algo, answer=answer, seed=seed, **options)


def countdown_tasks(n, seed=0, **kw):
    return [Countdown(p) for p in Countdown.generate(n, random.Random(seed), **kw)]


def maze_tasks(n, side=7, seed=0):
    return [Maze(p) for p in Maze.generate(n, random.Random(seed), height=side, width=side)]


# ------------------------------------------------------------------------------------------------
# numbers

def test_number_tokens_round_trip():
    values = list(range(0, 2001)) + [99 ** 4, 99 ** 3 * 98, 10 ** 6, 123456789, 10 ** 29, 99999 ** 6]
    for n in values:
        toks = number_tokens(n)
        assert toks == ref_spell(n), n
        assert read_number(toks, 0) == (n, len(toks)), n
        assert read_number(["x", *toks, "y"], 1) == (n, 1 + len(toks)), n


def test_adjacent_big_numbers_stay_separate():
    seq = [1234, 5678, 7, 1000, 1000, 999, 96059601, 0, 10 ** 12]
    toks = sum((number_tokens(n) for n in seq), [])
    got, i = [], 0
    while (r := read_number(toks, i)) is not None:
        got.append(r[0])
        i = r[1]
    assert got == seq and i == len(toks)


@pytest.mark.parametrize("toks", [
    [], ["007"], ["01"], ["1000"], ["-1"], ["+1"], [" 1"], ["1.0"], ["D0", "d1", "d2", "d3"],
    ["D1"], ["D1", "d2", "d3"], ["d1", "d2", "d3", "d4"], ["\u00b2"], ["\u0662"], ["\uff11"], ["D\u0662"],
    ["9" * 5000], ["1" * 31], ["D"], ["Dx"], ["answer"], ["", "1"],
])
def test_read_number_rejects_non_canonical_spellings(toks):
    assert read_number(toks, 0) is None


def test_read_number_huge_digit_runs_do_not_raise():
    toks = ["D9"] + ["d9"] * 200
    # at most 31 digits are read (every value a trace can hold fits); the rest is left unread, not a crash
    assert read_number(toks, 0) == (int("9" * 31), 31)


# ------------------------------------------------------------------------------------------------
# exact traces, derived by hand

def test_exact_maze_astar_trace():
    task = Maze({"grid": ["S.G"]})
    result, answer, toks = make(task, "astar")
    assert " ".join(toks) == ("close c0_0 g 0 h 2 create c0_1 g 1 h 1 close c0_1 g 1 h 1 "
                              "create c0_2 g 2 h 0 close c0_2 g 2 h 0 answer c0_0 c0_1 c0_2")
    assert linearize.prompt_tokens(Maze({"grid": ["S.G", "#.#"]})) == [
        "<bos>", "maze", "2", "3", "start", "c0_0", "goal", "c0_2", "walls", "c1_0", "c1_2", "<sep>"]
    # Searchformer's spelling of the same maze: a cell is two numbers, the walls a grid of tokens
    rowcol = MazeRowCol({"grid": ["S.G"]})
    assert " ".join(make(rowcol, "astar")[2]) == ("close 0 0 g 0 h 2 create 0 1 g 1 h 1 close 0 1 g 1 h 1 "
                                                  "create 0 2 g 2 h 0 close 0 2 g 2 h 0 answer 0 0 0 1 0 2")
    assert linearize.prompt_tokens(rowcol)[1:-1] == ["maze", "1", "3", "start", "0", "0", "goal", "0", "2",
                                                     "grid", ".", ".", "."]


def test_exact_maze_dfs_trace_names_the_state_it_backs_up_to():
    task = Maze({"grid": ["#S.", "...", "G##"]})
    # from S = (0, 1) the closest-looking child is (1, 1) (h 2), then (1, 0) (h 1), then the goal
    assert " ".join(make(task, "dfs", costs=False)[2]) == "go c1_1 go c1_0 go c2_0 answer c0_1 c1_1 c1_0 c2_0"
    dead_end = Maze({"grid": ["S...", "....", ".#.G"]})
    toks = " ".join(make(dead_end, "dfs", costs=False)[2])
    # (2, 0) looks as close as any cell but leads nowhere: DFS backs up to (1, 0) and says where it is
    assert toks == "go c1_0 go c2_0 back c1_0 go c1_1 go c1_2 go c2_2 go c2_3 answer c0_0 c1_0 c1_1 c1_2 c2_2 c2_3"
    assert linearize.parse(dead_end, toks).legal
    assert not linearize.parse(dead_end, toks.replace("back c1_0", "back c0_0")).legal  # not the parent
    assert linearize.parse(dead_end, toks.replace("back c1_0", "back")).legal  # the older, bare spelling


def test_exact_countdown_traces():
    task = Countdown({"nums": [2, 3], "target": 6})
    # h = round(mean |n - 6|): start (3, 2) -> 3.5 -> 4; 5 -> 1; 1 -> 5; 6 -> 0
    assert " ".join(make(task, "bfs")[2]) == ("close 3 2 g 0 h 4 create 3 + 2 = 5 g 1 h 1 "
                                              "create 3 - 2 = 1 g 1 h 5 create 3 * 2 = 6 g 1 h 0 answer 3 * 2 = 6")
    assert " ".join(make(task, "dfs")[2]) == "go 3 * 2 = 6 h 0 answer 3 * 2 = 6"
    assert " ".join(make(task, "dfs", costs=False)[2]) == "go 3 * 2 = 6 answer 3 * 2 = 6"
    assert " ".join(make(task, "astar")[2]).endswith("create 3 * 2 = 6 g 1 h 0 close 6 g 1 h 0 answer 3 * 2 = 6")


def test_solution_format_is_exactly_the_answer():
    task = Countdown({"nums": [84, 62, 58, 48], "target": 96})
    result = search.dfs(task)
    toks = linearize.linearize(task, result, "solution", answer=["62-58=4", "48/4=12", "84+12=96"])
    assert " ".join(toks) == "answer 62 - 58 = 4 , 48 / 4 = 12 , 84 + 12 = 96"
    big = Countdown({"nums": [99, 99, 1, 1], "target": 9803})
    toks = linearize.linearize(big, search.dfs(big), "solution", answer=["99*99=9801", "1+1=2", "9801+2=9803"])
    assert toks == ["answer", "99", "*", "99", "=", "D9", "d8", "d0", "d1", ",", "1", "+", "1", "=", "2", ",",
                    "D9", "d8", "d0", "d1", "+", "2", "=", "D9", "d8", "d0", "d3"]
    maze = Maze({"grid": ["S.", "#G"]})
    toks = linearize.linearize(maze, search.astar(maze), "solution", answer=[[0, 0], [0, 1], [1, 1]])
    assert toks == ["answer", "c0_0", "c0_1", "c1_1"]
    assert linearize.linearize(maze, search.astar(maze, budget=0), "solution", answer=None) == ["fail"]
    for task in countdown_tasks(5) + maze_tasks(5):  # whatever the algorithm, only the answer is left
        for algo in ("bfs", "astar", "mcts"):
            result, answer, toks = make(task, algo, fmt="solution")
            assert toks[0] == "answer" and not set(toks) & (EVENT_WORDS | {"fail", "g", "h", "v"})
            assert linearize.parse(task, toks).answer == answer


# ------------------------------------------------------------------------------------------------
# parse(linearize(x)) gives back the search

CASES = [(algo, algo) for algo in ("bfs", "dfs", "beam", "astar", "mcts")] + [("mcts", "mcts-sim")]


@pytest.mark.parametrize("algo, fmt", CASES)
@pytest.mark.parametrize("costs", [True, False])
@pytest.mark.parametrize("task_name", ["countdown", "maze"])
def test_parse_gives_back_the_search(task_name, algo, fmt, costs):
    if task_name == "countdown":
        tasks = countdown_tasks(8, seed=1) + countdown_tasks(4, seed=2, n_nums=3) + countdown_tasks(3, seed=3, n_nums=5)
    else:
        tasks = maze_tasks(8, side=6, seed=1) + maze_tasks(4, side=10, seed=2)
    n_solved = n_failed = 0
    for k, task in enumerate(tasks):
        for budget in (10**6, 5):  # enough to solve (beam: usually), and too little: a `fail` trace
            result, answer, toks = make(task, algo, fmt, budget=budget, seed=k, costs=costs)
            parsed = linearize.parse(task, toks)
            assert parsed.legal and parsed.error is None, (parsed.error, toks)
            assert parsed.nodes == result.nodes_expanded, (parsed.nodes, result.nodes_expanded)
            assert parsed.answer == answer and parsed.correct == result.solved
            assert toks[-1] == "fail" or result.solved
            if result.solved:
                assert ref_ok(task, parsed.answer)
            # explored = the states in the order the search expanded/added them
            kinds = {"bfs": "close", "astar": "close", "dfs": "go", "beam": "go", "mcts": "node"}[algo]
            assert parsed.explored == [ev[1].state for ev in result.events if ev[0] == kinds]
            # a token list and a string parse alike, and generation stops at <eos>
            again = linearize.parse(task, " ".join(toks) + " <eos> close junk")
            assert (again.answer, again.nodes, again.legal) == (parsed.answer, parsed.nodes, parsed.legal)
            n_solved += result.solved
            n_failed += not result.solved
    assert n_solved >= 5 and n_failed >= 5


def test_parse_of_solution_format_has_no_nodes():
    for task in countdown_tasks(4) + maze_tasks(4):
        result, answer, toks = make(task, "astar", fmt="solution")
        parsed = linearize.parse(task, toks)
        assert parsed.answer == answer and parsed.correct and parsed.legal and parsed.nodes == 0


@pytest.mark.parametrize("text, error_at", [
    ("close 3 2 g 0 h 4 create 3 + 2 = 6 g 1 h 0 answer 3 * 2 = 6", 7),   # wrong arithmetic
    ("close 3 2 g 0 h 4 create 3 + 3 = 6 g 1 h 0 answer 3 * 2 = 6", 7),   # 3 used twice
    ("close 3 g 0 h 4 answer 3 * 2 = 6", 0),                              # a state never reached
    ("back answer 3 * 2 = 6", 0),                                          # back from the start
    ("go 3 * 2 = 6 h 0 go 6 - 6 = 0 answer 3 * 2 = 6", 8),                # 6 - 6: only one 6 left
    ("go 3 * 2 = 6 h 0 junk answer 3 * 2 = 6", 8),                         # an unknown word
    ("sim 3 * 2 = 6 2 - 1 = 1 v 10 answer 3 * 2 = 6", 6),                  # an illegal step of a path
    ("go 2 - 3 = 1 answer 3 * 2 = 6", 0),                                  # small minus large
])
def test_parse_flags_illegal_clauses(text, error_at):
    task = Countdown({"nums": [2, 3], "target": 6})
    parsed = linearize.parse(task, text)
    assert not parsed.legal and parsed.error.startswith(f"token {error_at}:"), parsed.error
    assert parsed.correct  # the answer section is judged on its own


def test_parse_judges_the_answer():
    task = Countdown({"nums": [2, 3], "target": 6})
    assert not linearize.parse(task, "answer 3 + 2 = 5").correct
    assert not linearize.parse(task, "answer 3 * 2 = 6 , 6 - 0 = 6").correct
    assert linearize.parse(task, "answer 3 * 2 = 7").answer == ["3*2=7"]
    bad = linearize.parse(task, "answer 3 * 2 =")
    assert bad.answer is None and not bad.correct and not bad.legal
    assert linearize.parse(task, "fail").answer is None and linearize.parse(task, "fail").legal
    maze = Maze({"grid": ["S.G"]})
    assert linearize.parse(maze, "answer c0_0 c0_1 c0_2").correct
    assert not linearize.parse(maze, "answer c0_0 c0_2").correct
    assert not linearize.parse(maze, "answer c0_0 c0_1 c0_").correct
    assert linearize.parse(MazeRowCol(maze.problem), "answer 0 0 0 1 0 2").correct


# ------------------------------------------------------------------------------------------------
# ablations: Dualformer dropping and the shuffled control

def ablation_cases():
    out = []
    for task in countdown_tasks(4, seed=6) + maze_tasks(4, side=8, seed=6):
        for algo in ("astar", "bfs", "dfs", "mcts"):
            out.append((task, algo, algo))
        out.append((task, "mcts", "mcts-sim"))
    return out


def test_dualformer_drops_are_exactly_the_clauses_removed():
    checked = Counter()
    for task, algo, fmt in ablation_cases():
        result, answer, full = make(task, algo, fmt, seed=2)
        body, tail = clauses(full)[:-1], clauses(full)[-1]
        assert tail[0] == "answer" and body  # every case here is solved and has a body
        variant = lambda **kw: linearize.linearize(task, result, fmt, answer=answer, seed=2, **kw)
        assert variant(drop_close=True) == sum((c for c in body if c[0] != "close"), []) + tail
        assert variant(drop_create=True) == sum((c for c in body if c[0] != "create"), []) + tail
        assert variant(drop_close=True, drop_create=True) == \
            sum((c for c in body if c[0] not in ("close", "create")), []) + tail
        assert variant(costs=False) == sum((strip_costs(c) for c in body), []) + tail
        assert not {"g", "h", "v"} & set(variant(costs=False)[:-len(tail)])
        # parsing still recovers the answer; without close clauses the trace is still legal
        for kw in ({"drop_close": True}, {"drop_create": True}, {"costs": False}, {"drop_frac": 0.5}):
            parsed = linearize.parse(task, variant(**kw))
            assert parsed.answer == answer and parsed.correct
        if isinstance(task, Maze):  # a maze move names the cell it reaches, so no parent is needed;
            # a countdown create ("63 + 35 = 98") without its close does not say which state it
            # came from, and parse's best guess can be wrong: legality is only checked for mazes
            assert linearize.parse(task, variant(drop_close=True)).legal
        checked[algo] += 1
        checked["dropped a close"] += any(c[0] == "close" for c in body)
        checked["dropped a create"] += any(c[0] == "create" for c in body)
    assert checked["dropped a close"] >= 8 and checked["dropped a create"] >= 8


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def test_drop_frac_keeps_an_ordered_subset_of_clauses():
    fractions_seen = []
    for task, algo, fmt in ablation_cases():
        result, answer, full = make(task, algo, fmt, seed=4)
        body, tail = clauses(full)[:-1], clauses(full)[-1]
        for frac in (0.0, 0.3, 0.7, 1.0):
            toks = linearize.linearize(task, result, fmt, answer=answer, seed=4, drop_frac=frac)
            kept = clauses(toks)
            assert kept[-1] == tail
            assert is_subsequence(kept[:-1], body)  # (mcts: the `at` clauses are dropped like any other)
            assert not Counter(toks) - Counter(full)  # a sub-multiset of the tokens
            if frac == 0.0:
                assert toks == full
            if frac == 1.0:
                assert toks == tail
            if 0 < frac < 1 and len(body) >= 20:
                fractions_seen.append((frac, (len(body) - len(kept) + 1) / len(body)))
        same = linearize.linearize(task, result, fmt, answer=answer, seed=4, drop_frac=0.3)
        assert same == linearize.linearize(task, result, fmt, answer=answer, seed=4, drop_frac=0.3)
    # the fraction dropped is about what was asked
    for frac in (0.3, 0.7):
        got = [g for f, g in fractions_seen if f == frac]
        assert len(got) >= 5 and abs(sum(got) / len(got) - frac) < 0.1, got


def test_shuffle_is_a_permutation_of_the_clauses():
    moved = 0
    for task, algo, fmt in ablation_cases():
        result, answer, full = make(task, algo, fmt, seed=1)
        shuffled = linearize.linearize(task, result, fmt, answer=answer, seed=1, shuffle=True)
        assert Counter(shuffled) == Counter(full)  # exactly the same token multiset
        a, b = clauses(full), clauses(shuffled)
        assert a[-1] == b[-1] and sorted(map(tuple, a)) == sorted(map(tuple, b))
        moved += a != b
        again = linearize.linearize(task, result, fmt, answer=answer, seed=1, shuffle=True)
        assert again == shuffled  # the seed decides the order
        # combined with the drops: a sub-multiset of the shuffled-free version with the same drops
        both = linearize.linearize(task, result, fmt, answer=answer, seed=1, shuffle=True, drop_close=True, costs=False)
        plain = linearize.linearize(task, result, fmt, answer=answer, seed=1, drop_close=True, costs=False)
        assert Counter(both) == Counter(plain)
    assert moved >= len(ablation_cases()) - 3


# ------------------------------------------------------------------------------------------------
# fuzz: parse never raises, and never calls a wrong answer correct

JUNK = ["\u00b2", "\u0662", "\uff11", "\u200b", "\U0001F600", "\x00", "\t", "\n", "é", "ß", "D", "d", "Dd",
        "D0", "d10", "-1", "1e3", "0x1f", "NaN", "None", "[", "]", "=", "==", "<eos>", "<pad>", "<bos>", "<sep>"]


def fuzz_inputs(real, vocab, rng, n):
    for k in range(n):
        kind = k % 10
        if kind == 0:
            toks = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
        elif kind == 1:  # vocab biased towards clause words, so that some clauses are legal
            words = ["close", "create", "go", "back", "at", "node", "sim", "answer", "g", "h", "v", ",", "="]
            toks = [rng.choice(words + [str(rng.randint(0, 12))] * 6) for _ in range(rng.randint(0, 40))]
        elif kind in (2, 3, 4, 5):  # mutated real traces
            toks = mutate(rng.choice(real), rng, vocab)
        elif kind == 6:  # answers alone, mutated: the most likely place for a false "correct"
            toks = list(rng.choice(real))
            toks = toks[toks.index("answer"):] if "answer" in toks else ["answer"]
            if len(toks) > 1:
                i = rng.randrange(1, len(toks))
                toks[i] = rng.choice([rng.choice(vocab), str(rng.randint(0, 120)), ","])
        elif kind == 7:  # unicode junk, as a raw string
            yield "".join(rng.choice(JUNK + [" ", "close ", "answer ", "1 "]) for _ in range(rng.randint(0, 30)))
            continue
        elif kind == 8:  # huge digit runs and oversized numbers
            toks = rng.choice([["answer", "9" * rng.randint(4, 6000)], ["close", "D9"] + ["d9"] * rng.randint(1, 300),
                               ["answer", "D1"] + ["d0"] * 40 + ["+", "1", "=", "D1"] + ["d0"] * 39 + ["d1"],
                               ["go", "1" * 5000, "+", "1", "=", "2"], ["at"] + ["D9", "d9"] * 50])
        else:  # empty and whitespace-only
            yield rng.choice(["", " ", "\n", "\t \n", []])
            continue
        yield toks if rng.random() < 0.5 else " ".join(toks)


@pytest.mark.parametrize("task_name", ["countdown", "maze"])
def test_fuzz_parse_never_raises_and_correct_means_correct(task_name):
    rng = random.Random(99 if task_name == "countdown" else 100)
    vocab = linearize.build_vocab(get_task(task_name)).itos + JUNK
    if task_name == "countdown":
        tasks = countdown_tasks(3, seed=7) + countdown_tasks(2, seed=8, n_nums=3, num_min=0, num_max=5, target_min=0)
    else:
        tasks = maze_tasks(3, side=6, seed=7) + maze_tasks(2, side=5, seed=8)
    n_correct = n_total = 0
    for task in tasks:
        real = [make(task, algo, fmt, seed=1)[2] for algo, fmt in CASES] + [make(task, "astar", "solution")[2]]
        for text in fuzz_inputs(real, vocab, rng, 1000):
            parsed = linearize.parse(task, text)
            n_total += 1
            if parsed.correct:
                n_correct += 1
                assert ref_ok(task, parsed.answer), (text, parsed.answer)
            elif parsed.answer is not None:
                assert not ref_ok(task, parsed.answer), (text, parsed.answer)
            assert parsed.nodes <= parsed.steps and parsed.legal_steps <= parsed.steps
            assert parsed.legal == (parsed.error is None)
    assert n_total == 5000 and n_correct >= 200  # the fuzz reached the answer checker, both ways
