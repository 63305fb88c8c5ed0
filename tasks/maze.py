"""
Grid mazes, as in Searchformer (Lehnert et al. 2024).

A grid of free cells and walls (30-50% walls), a start S and a goal G; move one step up, down, left or
right onto a free cell; find a path, ideally a shortest one. A state is a cell (row, col); the
heuristic is the Manhattan distance to the goal, which never overestimates, so A* plans are optimal.
Problems are written as rows of characters ("S.#..", "...#G": `#` wall, `.` free), and an answer is
the list of [row, col] cells from S to G inclusive. Every problem gets its own wall layout, and the
split a layout belongs to is a hash of the layout itself, so a layout is never in two splits.

How a maze is spelled for the model matters more than anything else here (README, pilot table). Two
encodings of the same problems, registered as two tasks:

- `maze` (default, up to 16x16): one token per cell (`c3_4`), and the prompt LISTS the walls: `maze 6 6 start c0_0
  goal c5_3 walls c0_2 c1_4 ...`. Whether a neighbour is free is then one token lookup; a 4-layer
  model learns DFS traces in this language to 0.977 held-out accuracy on 6x6 mazes (README).
- `maze-rowcol` (Searchformer's): a cell is two number tokens (`3 4`) and the walls are the grid of
  `.`/`#` tokens in reading order, so checking a neighbour needs position arithmetic. Same search,
  same answers; kept because it is what the peers use, and for the comparison.
"""
import re
from collections import deque

from tasks import ProblemError, Task, number_tokens, read_number, read_sequence, stable_hash

MAX_SIDE = 64
CELL_SIDE = 16  # the `maze` encoding has a token per cell of mazes up to 16x16 (256 words; a vocabulary
                # of 1,024 cells made every training step ~10% slower); larger mazes: maze-rowcol
_CELL = re.compile(r"c(0|[1-9]\d?)_(0|[1-9]\d?)", re.ASCII)  # one spelling per cell: no leading zeros
STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right: the fixed move order


def _find(grid, ch):
    return next((r, c) for r, row in enumerate(grid) for c, x in enumerate(row) if x == ch)


class Maze(Task):
    """Grid mazes in the one-token-per-cell encoding."""
    name = "maze"
    max_side = CELL_SIDE
    # the largest number in a trace is a cost g, at most the number of other cells (sizes are <= 16,
    # h <= 30, MCTS values <= 10): 256 number words instead of 1,019 make a CPU training step ~1.2x
    # faster (docs/benchmarks.md)
    max_number = CELL_SIDE * CELL_SIDE - 1
    tiny = ["--height", "5", "--width-cells", "5"]

    def __init__(self, problem):
        super().__init__(problem)
        self.grid = problem["grid"]
        self.h, self.w = len(self.grid), len(self.grid[0])
        self.s, self.g = _find(self.grid, "S"), _find(self.grid, "G")

    @staticmethod
    def check(problem):
        grid = problem.get("grid")
        if grid is None:
            raise ProblemError("missing field 'grid'")
        if not isinstance(grid, list) or not grid or not all(isinstance(r, str) for r in grid):
            raise ProblemError("field 'grid' must be a non-empty list of strings")
        if len({len(r) for r in grid}) != 1 or not grid[0]:
            raise ProblemError("field 'grid': rows must be non-empty and of equal length")
        if len(grid) > MAX_SIDE or len(grid[0]) > MAX_SIDE:
            raise ProblemError(f"field 'grid': at most {MAX_SIDE}x{MAX_SIDE} cells")
        text = "".join(grid)
        if set(text) - set("S.#G"):
            raise ProblemError("field 'grid': only the characters S . # G are allowed")
        if text.count("S") != 1 or text.count("G") != 1:
            raise ProblemError("field 'grid': exactly one S and one G are required")

    # --- search space ---------------------------------------------------------------------------
    def start(self):
        return self.s

    def free(self, r, c):
        return 0 <= r < self.h and 0 <= c < self.w and self.grid[r][c] != "#"

    def moves(self, state):
        r, c = state
        return [(r + dr, c + dc) for dr, dc in STEPS if self.free(r + dr, c + dc)]

    def apply(self, state, move):
        return move

    def is_goal(self, state):
        return state == self.g

    def heuristic(self, state):
        return abs(state[0] - self.g[0]) + abs(state[1] - self.g[1])

    def answer(self, moves):
        return [list(self.s)] + [list(m) for m in moves]

    def check_answer(self, answer):
        return verify(self.problem, answer)

    def answer_states(self, answer):
        return [tuple(cell) for cell in answer]

    # --- tokens: one token per cell, walls listed ----------------------------------------------
    def prompt_tokens(self):
        if self.h > self.max_side or self.w > self.max_side:
            raise ProblemError(f"the {self.name} encoding spells mazes up to {self.max_side}x{self.max_side}, "
                               f"this one is {self.h}x{self.w}")
        walls = [(r, c) for r in range(self.h) for c in range(self.w) if self.grid[r][c] == "#"]
        return ["maze", *number_tokens(self.h, self.num_cap), *number_tokens(self.w, self.num_cap), "start", *self.state_tokens(self.s),
                "goal", *self.state_tokens(self.g), "walls", *(tok for cell in walls for tok in self.state_tokens(cell))]

    def state_tokens(self, state):
        return [f"c{state[0]}_{state[1]}"]

    def read_state(self, toks, i):
        m = _CELL.fullmatch(toks[i]) if i < len(toks) else None
        return ((int(m[1]), int(m[2])), i + 1) if m else None

    def move_tokens(self, state, move):
        return self.state_tokens(move)

    def read_move(self, state, toks, i):
        got = self.read_state(toks, i)
        return got if got and got[0] in self.moves(state) else None

    def answer_tokens(self, answer):
        return sum((self.state_tokens(tuple(cell)) for cell in answer), [])

    def read_answer(self, toks):
        cells = read_sequence(toks, self.read_state)
        return [list(cell) for cell in cells] if cells else None

    @classmethod
    def vocab_words(cls):
        return ["maze", "start", "goal", "walls", *(f"c{r}_{c}" for r in range(CELL_SIDE) for c in range(CELL_SIDE))]

    @staticmethod
    def render(problem, ax, path=None, explored=None, title=None):
        render(problem, ax, path, explored, title)

    # --- data -----------------------------------------------------------------------------------
    @classmethod
    def generate_arguments(cls):
        return [(("--height",), dict(type=int, default=10, help="maze rows")),
                (("--width-cells", "--maze-width"), dict(dest="width", type=int, default=10, help="maze columns")),
                (("--wall-min",), dict(type=float, default=0.3, help="lowest wall density")),
                (("--wall-max",), dict(type=float, default=0.5, help="highest wall density")),
                (("--sizes",), dict(type=parse_sizes, default=None,
                                    help="square mazes of several sides, each drawn uniformly: 4-8 or 4,6,8 "
                                         "(overrides --height and --width-cells)"))]

    @staticmethod
    def split_of(grid):
        """test: a reserved tenth of all wall layouts (by hash); train: the rest."""
        walls = "".join("#" if x == "#" else "." for row in grid for x in row)
        return "test" if stable_hash(walls) % 10 == 0 else "train"

    @classmethod
    def generate(cls, n, rng, split="train", height=10, width=10, wall_min=0.3, wall_max=0.5, min_len=None,
                 sizes=None):
        """n random mazes of `split`: walls at a density drawn uniformly from [wall_min, wall_max],
        S and G on random free cells, kept only if solvable with a shortest plan of at least
        max(height, width) cells (Searchformer's rule), so that no maze is trivial. With `sizes`, each
        maze is square, its side drawn uniformly from them (the size mix of issue 20)."""
        if split not in ("train", "test"):
            raise ValueError(f"unknown maze split {split!r}; valid: train, test")
        sides = [(s, s) for s in sizes] if sizes else [(height, width)]
        if not all(2 <= h <= MAX_SIDE and 2 <= w <= MAX_SIDE for h, w in sides):
            raise ValueError(f"maze sides must be within 2..{MAX_SIDE}")
        problems, attempts = [], 0
        while len(problems) < n:
            attempts += 1
            if attempts > 1000 * (n + 10):
                raise ValueError("could not generate enough mazes: lower min_len or the wall density")
            height, width = rng.choice(sides) if sizes else sides[0]
            density = rng.uniform(wall_min, wall_max)
            cells = [["#" if rng.random() < density else "." for _ in range(width)] for _ in range(height)]
            free = [(r, c) for r in range(height) for c in range(width) if cells[r][c] == "."]
            if len(free) < 2:
                continue
            (sr, sc), (gr, gc) = rng.sample(free, 2)
            cells[sr][sc], cells[gr][gc] = "S", "G"
            grid = ["".join(row) for row in cells]
            if cls.split_of(grid) != split:
                continue
            length = shortest_path_length({"grid": grid})
            if length is not None and length >= (max(height, width) if min_len is None else min_len):
                problems.append({"grid": grid})
        return problems


class MazeRowCol(Maze):
    """The same mazes in Searchformer's encoding: a cell is two number tokens, walls a grid."""
    name = "maze-rowcol"
    max_side = MAX_SIDE
    max_number = None  # up to 64x64 cells: costs past 999 are spelled in digits

    def prompt_tokens(self):
        """The grid cell by cell (one token each): every maze of one size has its cells at the same
        positions, so the model can find cell (r, c) by position alone."""
        return ["maze", *number_tokens(self.h, self.num_cap), *number_tokens(self.w, self.num_cap), "start", *self.state_tokens(self.s),
                "goal", *self.state_tokens(self.g), "grid", *("#" if x == "#" else "." for row in self.grid for x in row)]

    def state_tokens(self, state):
        return [*number_tokens(state[0], self.num_cap), *number_tokens(state[1], self.num_cap)]

    def read_state(self, toks, i):
        r = read_number(toks, i, self.num_cap)
        c = read_number(toks, r[1], self.num_cap) if r else None
        return ((r[0], c[0]), c[1]) if c else None

    @classmethod
    def vocab_words(cls):
        return ["maze", "start", "goal", "grid", "#", "."]


CANVAS = 12  # the canvas encodings spell mazes up to 12x12


class MazeCanvas(Maze):
    """The maze drawn at an offset inside a 12x12 canvas, one token per canvas cell.

    Trained on mazes smaller than the canvas, each at its own offset, every cell token of the canvas
    is trained, so a larger maze (up to 12x12) is spelled in trained tokens only: the question of
    issue 20 becomes whether the search the model learned cares how big the maze is. The offset is a
    hash of the problem, so a problem always has the same tokens; answers stay in maze coordinates."""
    name = "maze-canvas"
    max_side = CANVAS
    max_number = CANVAS * CANVAS - 1
    tiny = ["--sizes", "4-5"]

    def __init__(self, problem):
        super().__init__(problem)
        h = stable_hash("/".join(self.grid))
        self.r0 = h % (CANVAS - self.h + 1) if self.h <= CANVAS else 0
        self.c0 = (h // CANVAS) % (CANVAS - self.w + 1) if self.w <= CANVAS else 0

    def prompt_tokens(self):
        """`maze from CELL to CELL start CELL goal CELL walls CELL ...`: the corners state the size (a
        side as a number would be a word no smaller maze trained), then as `maze`."""
        head = super().prompt_tokens()
        corners = ["from", *self.state_tokens((0, 0)), "to", *self.state_tokens((self.h - 1, self.w - 1))]
        return ["maze", *corners, *head[head.index("start"):]]

    @staticmethod
    def cell_tokens(r, c):
        return [f"c{r}_{c}"]

    def state_tokens(self, state):
        return self.cell_tokens(state[0] + self.r0, state[1] + self.c0)

    def read_cell(self, toks, i):
        return Maze.read_state(self, toks, i)

    def read_state(self, toks, i):
        got = self.read_cell(toks, i)
        return ((got[0][0] - self.r0, got[0][1] - self.c0), got[1]) if got else None

    @classmethod
    def vocab_words(cls):
        return ["maze", "start", "goal", "walls", "from", "to", *(w for r in range(CANVAS) for c in range(CANVAS)
                                                              for w in cls.cell_tokens(r, c))]


class MazeCanvasRC(MazeCanvas):
    """The canvas with a factorized cell: a row token and a column token (`y3 x4`), 24 words for 144
    cells, so that what the model learns about row 3 is shared by every cell in it."""
    name = "maze-canvas-rc"

    @staticmethod
    def cell_tokens(r, c):
        return [f"y{r}", f"x{c}"]

    def read_cell(self, toks, i):
        if i + 1 < len(toks) and _ROW.fullmatch(toks[i]) and _COL.fullmatch(toks[i + 1]):
            return (int(toks[i][1:]), int(toks[i + 1][1:])), i + 2
        return None

    @classmethod
    def vocab_words(cls):
        return ["maze", "start", "goal", "walls", "from", "to", *(f"y{r}" for r in range(CANVAS)),
                *(f"x{c}" for c in range(CANVAS))]


class MazeCanvasSum(MazeCanvas):
    """The canvas with a factorized cell EMBEDDING: the words are MazeCanvas's (`c3_4`, one position
    per cell), but the model adds a row vector and a column vector to each cell's own (`y3` + `x4`,
    words no trace writes; GPTConfig.parts). What is learned about row 3 holds for all twelve cells
    in it, and a neighbour shares one of its two parts with the cell."""
    name = "maze-canvas-sum"

    @classmethod
    def vocab_words(cls):
        return [*super().vocab_words(), *(f"y{r}" for r in range(CANVAS)), *(f"x{c}" for c in range(CANVAS))]

    @classmethod
    def word_parts(cls):
        return {f"c{r}_{c}": [f"y{r}", f"x{c}"] for r in range(CANVAS) for c in range(CANVAS)}


class MazeCanvasOpen(MazeCanvas):
    """The canvas, its prompt listing the OPEN cells instead of the walls (`open c1_5 c1_6 ...`). A step
    is legal exactly when its cell is in the list, so the model never has to work out where the maze
    ends: a step past the maze's edge was the canvas pilots' commonest error. ~1.5x the prompt."""
    name = "maze-canvas-open"

    def prompt_tokens(self):
        head = super().prompt_tokens()
        cells = [(r, c) for r in range(self.h) for c in range(self.w) if self.grid[r][c] != "#"]
        return [*head[:head.index("walls")], "open", *(tok for cell in cells for tok in self.state_tokens(cell))]

    @classmethod
    def vocab_words(cls):
        return ["open", *super().vocab_words()]


_ROW, _COL = re.compile(r"y(0|[1-9]\d?)", re.ASCII), re.compile(r"x(0|[1-9]\d?)", re.ASCII)


def parse_sizes(text):
    """`4-8` -> [4, 5, 6, 7, 8]; `4,6,8` -> [4, 6, 8]."""
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-"))
            sizes = list(range(lo, hi + 1))
        else:
            sizes = [int(x) for x in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or not all(2 <= s <= MAX_SIDE for s in sizes):
        raise ValueError(f"sizes {text!r}: expected LO-HI or a comma list of sides within 2..{MAX_SIDE}")
    return sizes


def shortest_path_length(problem):
    """Cells on a shortest S->G path (S and G included), by breadth-first search; None if none."""
    task = Maze(problem)
    dist, queue = {task.s: 1}, deque([task.s])
    while queue:
        cell = queue.popleft()
        if cell == task.g:
            return dist[cell]
        for nxt in task.moves(cell):
            if nxt not in dist:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    return None


def verify(problem, answer):
    """Strict check: `answer` is a list of [row, col] cells, from S to G, every step one cell up,
    down, left or right onto a free in-bounds cell. Never raises."""
    if not isinstance(problem, dict) or not isinstance(answer, list) or not answer:
        return False
    try:
        Maze.check(problem)
    except ProblemError:
        return False
    task = Maze(problem)
    cells = []
    for cell in answer:
        if not (isinstance(cell, (list, tuple)) and len(cell) == 2 and all(type(x) is int for x in cell)):
            return False
        cells.append(tuple(cell))
    if cells[0] != task.s or cells[-1] != task.g or not all(task.free(*cell) for cell in cells):
        return False
    return all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(cells, cells[1:]))


def is_optimal(problem, answer):
    return verify(problem, answer) and len(answer) == shortest_path_length(problem)


def render_ascii(problem, path=None, explored=None):
    """The grid as text; `*` marks the path, `o` cells a search expanded."""
    rows = [list(row) for row in problem["grid"]]
    for r, c in explored or []:
        if rows[r][c] == ".":
            rows[r][c] = "o"
    for r, c in path or []:
        if rows[r][c] in ".o":
            rows[r][c] = "*"
    return "\n".join("".join(row) for row in rows)


def render(problem, ax, path=None, explored=None, title=None):
    """Walls black, expanded cells shaded by expansion order (dark blue = early, pale = late), the path
    as a line, S green and G red, drawn into a matplotlib axis."""
    import numpy as np
    task = Maze(problem)
    img = np.ones((task.h, task.w, 3))
    for r in range(task.h):
        for c in range(task.w):
            if task.grid[r][c] == "#":
                img[r, c] = 0.15
    explored = list(explored or [])
    for k, (r, c) in enumerate(explored):
        shade = 0.35 + 0.5 * k / max(1, len(explored) - 1)
        if 0 <= r < task.h and 0 <= c < task.w and task.grid[r][c] != "#":
            img[r, c] = (shade, shade, 1.0)
    ax.imshow(img, interpolation="nearest")
    if path:
        ys, xs = zip(*path)
        ax.plot(xs, ys, color="orange", linewidth=2.5)
    ax.scatter([task.s[1]], [task.s[0]], c="green", s=80, zorder=3)
    ax.scatter([task.g[1]], [task.g[0]], c="red", s=80, zorder=3)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
