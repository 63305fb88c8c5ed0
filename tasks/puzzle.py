"""
The 8-puzzle: eight numbered tiles and a blank on a 3x3 board; slide a tile next to the blank into it,
until the board reads 1 2 3 / 4 5 6 / 7 8 _. The textbook A* domain (Hart, Nilsson and Raphael's
heuristic search; Russell and Norvig's running example): the sum of the tiles' Manhattan distances to
their places never overestimates, so A* plans are optimal.

A problem is {"board": [8, 1, 3, 4, 0, 2, 7, 6, 5]}: nine numbers in reading order, 0 the blank. An
answer is the list of tiles slid, in order; each must be next to the blank when it moves. Half of all
arrangements cannot be solved (a slide never changes the parity of the tiles' inversions), so `check`
refuses those, and the generator only draws solvable boards. A state is the board as a tuple; a move
is the tile that slides (written as its number, so `go 6` means "slide tile 6").

This file is the whole task: the registry in tasks/__init__.py finds it, and search, training,
evaluation and the pipeline run on it unchanged.
"""
from tasks import ProblemError, Task, number_tokens, read_number, read_sequence, stable_hash

SIDE = 3
GOAL = (1, 2, 3, 4, 5, 6, 7, 8, 0)


def inversions(board):
    tiles = [t for t in board if t]
    return sum(a > b for i, a in enumerate(tiles) for b in tiles[i + 1:])


def neighbours(cell):
    """Cells next to `cell` (an index 0..8), in a fixed order: up, down, left, right."""
    r, c = divmod(cell, SIDE)
    out = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        if 0 <= r + dr < SIDE and 0 <= c + dc < SIDE:
            out.append((r + dr) * SIDE + c + dc)
    return out


# assignment: add-a-task
class Puzzle(Task):
    name = "puzzle"
    tiny = ["--scramble", "6"]

    def __init__(self, problem):
        super().__init__(problem)
        self.board = tuple(problem["board"])

    @staticmethod
    def check(problem):
        board = problem.get("board")
        if board is None:
            raise ProblemError("missing field 'board'")
        if not isinstance(board, list) or not all(type(t) is int for t in board):
            raise ProblemError("field 'board' must be a list of integers")
        if len(board) != SIDE * SIDE:
            raise ProblemError(f"field 'board' must hold {SIDE * SIDE} numbers, got {len(board)}")
        if sorted(board) != list(range(SIDE * SIDE)):
            raise ProblemError(f"field 'board' must hold each of 0..{SIDE * SIDE - 1} exactly once")
        if inversions(board) % 2:
            raise ProblemError("field 'board': this arrangement cannot be solved (odd inversion parity)")

    # --- search space ---------------------------------------------------------------------------
    def start(self):
        return self.board

    def moves(self, state):
        return [state[cell] for cell in neighbours(state.index(0))]

    def apply(self, state, move):
        board = list(state)
        blank, tile = board.index(0), board.index(move)
        board[blank], board[tile] = move, 0
        return tuple(board)

    def is_goal(self, state):
        return state == GOAL

    def heuristic(self, state):
        """Sum of each tile's Manhattan distance to its place."""
        total = 0
        for cell, tile in enumerate(state):
            if tile:
                r, c = divmod(cell, SIDE)
                gr, gc = divmod(tile - 1, SIDE)
                total += abs(r - gr) + abs(c - gc)
        return total

    def answer(self, moves):
        return list(moves)

    def check_answer(self, answer):
        return verify(self.problem, answer)

    def answer_states(self, answer):
        states = [self.start()]
        for tile in answer:
            states.append(self.apply(states[-1], tile))
        return states

    # --- tokens ---------------------------------------------------------------------------------
    def prompt_tokens(self):
        return ["puzzle", *self.state_tokens(self.board)]

    def state_tokens(self, state):
        return [tok for tile in state for tok in number_tokens(tile, self.num_cap)]

    def move_tokens(self, state, move):
        return number_tokens(move, self.num_cap)

    def read_state(self, toks, i):
        tiles = []
        while len(tiles) < SIDE * SIDE and (r := read_number(toks, i, self.num_cap)) is not None:
            tiles.append(r[0])
            i = r[1]
        return (tuple(tiles), i) if sorted(tiles) == list(range(SIDE * SIDE)) else None

    def read_move(self, state, toks, i):
        r = read_number(toks, i, self.num_cap)
        return r if r is not None and r[0] in self.moves(state) else None

    def answer_tokens(self, answer):
        return [tok for tile in answer for tok in number_tokens(tile, self.num_cap)]

    def read_answer(self, toks):
        return read_sequence(toks, lambda t, i: read_number(t, i, self.num_cap))

    @classmethod
    def vocab_words(cls):
        return ["puzzle"]

    @staticmethod
    def render(problem, ax, path=None, explored=None, title=None):
        """The start board, tiles shaded by how far they are from their places; the title counts the
        boards a search explored and the slides of the plan."""
        import numpy as np
        board = problem["board"]
        task = Puzzle(problem)
        img = np.ones((SIDE, SIDE, 3))
        for cell, tile in enumerate(board):
            r, c = divmod(cell, SIDE)
            if tile == 0:
                img[r, c] = 0.15
            else:
                far = task.heuristic(tuple(t if t == tile else 0 for t in board)) / 4
                img[r, c] = (1.0, 1.0 - 0.5 * far, 1.0 - 0.8 * far)
                ax.text(c, r, str(tile), ha="center", va="center", fontsize=16)
        ax.imshow(img, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        notes = [f"{len(explored)} boards explored" if explored is not None else "",
                 f"plan: {len(path)} slides" if path is not None else ""]
        ax.set_title(" ".join(filter(None, [title, *notes])), fontsize=8)

    # --- data -----------------------------------------------------------------------------------
    @classmethod
    def generate_arguments(cls):
        return [(("--scramble",), dict(type=int, default=0, help="0: uniformly random solvable boards; "
                                       "K: K random slides back from the solved board (a plan of at most K)"))]

    @staticmethod
    def split_of(board):
        """test: a reserved tenth of all boards (by hash); train: the rest."""
        return "test" if stable_hash(" ".join(map(str, board))) % 10 == 0 else "train"

    @classmethod
    def generate(cls, n, rng, split="train", scramble=0):
        """n solvable, unsolved boards of `split`: uniformly random permutations kept when their
        inversion parity is even, or (scramble K) K random slides back from the goal, never undoing
        the slide just made, so that every plan is at most K long and easy boards can be drawn."""
        if split not in cls.splits:
            raise ValueError(f"unknown puzzle split {split!r}; valid: {', '.join(cls.splits)}")
        if scramble < 0:
            raise ValueError("--scramble must be at least 0")
        problems, attempts = [], 0
        while len(problems) < n:
            attempts += 1
            if attempts > 1000 * (n + 10):
                raise ValueError("could not generate enough boards: raise --scramble")
            if scramble:
                board, last = GOAL, None
                for _ in range(scramble):
                    tile = rng.choice([t for t in cls({"board": list(board)}).moves(board) if t != last])
                    board, last = cls({"board": list(board)}).apply(board, tile), tile
                board = list(board)
            else:
                board = rng.sample(range(SIDE * SIDE), SIDE * SIDE)
            if inversions(board) % 2 == 0 and tuple(board) != GOAL and cls.split_of(board) == split:
                problems.append({"board": board})
        return problems


# assignment: add-a-task
def verify(problem, answer):
    """Strict check: `answer` is a list of tiles; each, in turn, is next to the blank and slides into
    it; the board ends solved. Never raises."""
    if not isinstance(problem, dict) or not isinstance(answer, list):
        return False
    try:
        Puzzle.check(problem)
    except ProblemError:
        return False
    state = tuple(problem["board"])
    for tile in answer:
        if type(tile) is not int or not 1 <= tile <= SIDE * SIDE - 1:
            return False
        blank = state.index(0)
        if state.index(tile) not in neighbours(blank):
            return False
        board = list(state)
        board[blank], board[state.index(tile)] = tile, 0
        state = tuple(board)
    return state == GOAL
