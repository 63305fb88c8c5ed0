"""Trusted slow references shared by the tests: written from the rules, independent of the project."""
import itertools
from collections import deque

ASCII_DIGITS = set("0123456789")


# ------------------------------------------------------------------------------------------------
# mazes

def maze_shortest(grid):
    """Cells on a shortest S->G path (S and G included), or None: plain BFS over the characters."""
    h, w = len(grid), len(grid[0])
    s = next((r, c) for r in range(h) for c in range(w) if grid[r][c] == "S")
    g = next((r, c) for r in range(h) for c in range(w) if grid[r][c] == "G")
    dist, queue = {s: 1}, deque([s])
    while queue:
        r, c = queue.popleft()
        if (r, c) == g:
            return dist[g]
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < h and 0 <= nc < w and grid[nr][nc] != "#" and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                queue.append((nr, nc))
    return None


def maze_path_ok(grid, cells):
    """A path of unit steps over free in-bounds cells, from S to G; cells are (row, col) pairs."""
    at = lambda cell: grid[cell[0]][cell[1]] if 0 <= cell[0] < len(grid) and 0 <= cell[1] < len(grid[0]) else "#"
    return (len(cells) >= 2 and at(cells[0]) == "S" and at(cells[-1]) == "G" and all(at(c) != "#" for c in cells)
            and all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(cells, cells[1:])))


# ------------------------------------------------------------------------------------------------
# countdown, with Stream of Search's rules: a+b, a*b, a-b if a>=b, a/b if exact

def countdown_results(a, b):
    out = [a + b, a * b]
    if a >= b:
        out.append(a - b)
    if b != 0 and a % b == 0:
        out.append(a // b)
    return out


_REACH = {}


def countdown_reachable(nums):
    """Every value that combines ALL of `nums`: recursion over ordered pairs."""
    key = tuple(sorted(nums))
    if key not in _REACH:
        if len(nums) == 1:
            _REACH[key] = {nums[0]}
        else:
            out = set()
            for i, j in itertools.permutations(range(len(nums)), 2):
                rest = [nums[k] for k in range(len(nums)) if k not in (i, j)]
                for c in countdown_results(nums[i], nums[j]):
                    out |= countdown_reachable(rest + [c])
            _REACH[key] = out
    return _REACH[key]


def countdown_line(line):
    """An interchange answer line "a op b=c" (spaces allowed, ASCII digits) -> (a, op, b, c) or None."""
    if not isinstance(line, str) or line.count("=") != 1:
        return None
    left, right = line.split("=")
    ops = [ch for ch in left if ch in "+-*/"]
    if len(ops) != 1:
        return None
    a, b = left.split(ops[0])
    parts = [x.strip(" \t\n\r\f\v") for x in (a, b, right)]
    if not all(p and set(p) <= ASCII_DIGITS for p in parts):
        return None
    return int(parts[0]), ops[0], int(parts[1]), int(parts[2])


def countdown_line_ok(table, a, op, b, c):
    """Apply one line to `table` (in place); False if the line breaks a rule."""
    for x in (a, b):
        if x not in table:
            return False
        table.remove(x)
    table.append(c)
    return {"+": a + b == c, "*": a * b == c, "-": a >= b and a - b == c, "/": b != 0 and b * c == a}[op]


def countdown_answer_ok(problem, answer):
    """Interchange answer lines: n-1 of them, each consuming two numbers still on the table, ending on
    the target alone."""
    if not isinstance(answer, list):
        return False
    table = list(problem["nums"])
    if len(answer) != len(table) - 1:
        return False
    for line in answer:
        parsed = countdown_line(line)
        if parsed is None or not countdown_line_ok(table, *parsed):
            return False
    return table == [problem["target"]]


# ------------------------------------------------------------------------------------------------
# fuzzing

def mutate(toks, rng, vocab):
    """1-4 random edits of a token list, of the kinds a model's mistakes take: cut, swap, delete, insert,
    replace, repeat, a number nudged or out of range, an operator swapped, a second answer."""
    toks = list(toks)
    for _ in range(rng.randint(1, 4)):
        if not toks:
            break
        i, j = rng.randrange(len(toks)), rng.randrange(len(toks))
        op = rng.randrange(9)
        if op == 0:
            toks = toks[:i]                                             # truncated
        elif op == 1:
            toks[i], toks[j] = toks[j], toks[i]
        elif op == 2:
            del toks[i]
        elif op == 3:
            toks.insert(i, rng.choice(vocab))
        elif op == 4:
            toks[i] = rng.choice(vocab)
        elif op == 5:
            toks = toks[:i] + toks[j:j + rng.randint(1, 12)] * rng.randint(1, 3) + toks[i:]  # repeated
        elif op == 6:                                                   # a number nudged or out of range
            nums = [k for k, t in enumerate(toks) if t and set(t) <= ASCII_DIGITS]
            if nums:
                k = rng.choice(nums)
                toks[k] = str(rng.choice([int(toks[k]) + rng.choice([-1, 1]), 0, 999, 1000, -1, 10 ** 40]))
        elif op == 7:                                                   # an operator swapped
            ops = [k for k, t in enumerate(toks) if t in ("+", "-", "*", "/")]
            if ops:
                toks[rng.choice(ops)] = rng.choice("+-*/")
        else:
            toks = toks + toks[toks.index("answer"):] if "answer" in toks else toks  # a second answer
    return toks
