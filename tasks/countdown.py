"""
Countdown, with the rules of Stream of Search (Gandhi et al. 2024).

Given numbers (default four, from 1..99) and a target (10..100), combine ALL the numbers, each exactly
once, with n-1 binary operations into the target: a+b, a*b, a-b written larger-minus-smaller (never
negative) and a/b only when exact. A state is the multiset of numbers still on the table (kept as a
tuple sorted high to low); a move picks two of them and replaces them with their result; the goal is
one number left, equal to the target. Every state at the same depth has the same count of numbers, so
every solution has the same length: search here is about *finding* one, not about finding a short one.

The strict verifier consumes the input as a multiset, so reusing or skipping a number fails -- the
check SoS's own evaluator lacked.
"""
import re
from collections import Counter
from functools import lru_cache

from tasks import ProblemError, Task, number_tokens, read_number, stable_hash

# SoS shuffles the targets 10..100 with its seed and holds out these; using the same ones keeps our
# "unseen targets" numbers comparable to theirs.
SOS_HELD_OUT_TARGETS = (81, 96, 89, 39, 41, 62, 57, 14, 87)
OPS = ("+", "-", "*", "/")
MAX_NUMS = 6  # beyond this the search space explodes; refuse rather than hang
MAX_VALUE = 99_999  # caps nums and target: six such numbers multiply to under 10**30, which the answer
                    # format (30 digits) and read_number can spell, and the factor table stays small


def combine(a, op, b):
    """Result of `a op b` under the rules, or None if the operation is not allowed."""
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        return a - b if a >= b else None
    if op == "/":
        return a // b if b != 0 and a % b == 0 else None
    return None


def _remove_pair(state, a, b):
    rest = list(state)
    rest.remove(a)
    rest.remove(b)
    return rest


class Countdown(Task):
    name = "countdown"
    splits = ("train", "test", "test-seen")
    tiny = ["--n-nums", "3", "--num-max", "12", "--target-max", "40"]

    def __init__(self, problem, heuristic="sum"):
        super().__init__(problem)
        self.nums = tuple(problem["nums"])
        self.target = problem["target"]
        if heuristic not in ("sum", "mult"):
            raise ValueError(f"unknown countdown heuristic {heuristic!r}; valid: sum, mult")
        self.heuristic_kind = heuristic
        self._factors = [f for f in range(1, self.target + 1) if self.target % f == 0] or [0]

    @staticmethod
    def check(problem):
        nums, target = problem.get("nums"), problem.get("target")
        if nums is None:
            raise ProblemError("missing field 'nums'")
        if target is None:
            raise ProblemError("missing field 'target'")
        if not isinstance(nums, list) or not all(type(n) is int and n >= 0 for n in nums):
            raise ProblemError("field 'nums' must be a list of non-negative integers")
        if not 2 <= len(nums) <= MAX_NUMS:
            raise ProblemError(f"field 'nums' must hold 2..{MAX_NUMS} numbers, got {len(nums)}")
        if max(nums) > MAX_VALUE:
            raise ProblemError(f"field 'nums': numbers must be at most {MAX_VALUE}")
        if type(target) is not int or target < 0:
            raise ProblemError("field 'target' must be a non-negative integer")
        if target > MAX_VALUE:
            raise ProblemError(f"field 'target' must be at most {MAX_VALUE}")

    # --- search space ---------------------------------------------------------------------------
    def start(self):
        return tuple(sorted(self.nums, reverse=True))

    def moves(self, state):
        out, seen = [], set()
        for i in range(len(state)):
            for j in range(i + 1, len(state)):
                a, b = state[i], state[j]  # a >= b because states are sorted high to low
                for op in OPS:
                    c = combine(a, op, b)
                    if c is not None and (a, op, b) not in seen:
                        seen.add((a, op, b))
                        out.append((a, op, b, c))
        return out

    def apply(self, state, move):
        a, _, b, c = move
        return tuple(sorted(_remove_pair(state, a, b) + [c], reverse=True))

    def is_goal(self, state):
        return len(state) == 1 and state[0] == self.target

    def heuristic(self, state):
        """SoS's two heuristics, rounded to integers so that traces can print them as tokens.
        sum: mean distance of the numbers to the target; mult: mean distance to the nearest factor
        of the target (a number near a factor can be multiplied up to it)."""
        if self.heuristic_kind == "sum":
            dist = [abs(n - self.target) for n in state]
        else:
            dist = [min(abs(n - f) for f in self._factors) for n in state]
        return round(sum(dist) / len(dist))

    def answer(self, moves):
        return [f"{a}{op}{b}={c}" for a, op, b, c in moves]

    def check_answer(self, answer):
        return verify(self.problem, answer)

    def answer_states(self, answer):
        states = [self.start()]
        for line in answer:
            states.append(self.apply(states[-1], _split_line(line)))
        return states

    # --- tokens ---------------------------------------------------------------------------------
    def number(self, n):
        return number_tokens(n, self.num_cap)

    def prompt_tokens(self):
        return ["target", *self.number(self.target), "nums", *sum((self.number(n) for n in self.nums), [])]

    def state_tokens(self, state):
        return sum((self.number(n) for n in state), [])

    def move_tokens(self, state, move):
        a, op, b, c = move
        return [*self.number(a), op, *self.number(b), "=", *self.number(c)]

    def read_state(self, toks, i):
        nums = []
        while (r := read_number(toks, i, self.num_cap)) is not None:
            nums.append(r[0])
            i = r[1]
        return (tuple(sorted(nums, reverse=True)), i) if nums else None

    def read_move(self, state, toks, i):
        r = _read_op(toks, i, self.num_cap)
        if r is None:
            return None
        (a, op, b, c), i = r
        if combine(a, op, b) != c or Counter((a, b)) - Counter(state):
            return None
        return (a, op, b, c), i

    def answer_tokens(self, answer):
        toks = []
        for k, line in enumerate(answer):
            a, op, b, c = _split_line(line)
            toks += ([","] if k else []) + self.move_tokens(None, (a, op, b, c))
        return toks

    def read_answer(self, toks):
        lines, i = [], 0
        while i < len(toks):
            r = _read_op(toks, i, self.num_cap)
            if r is None:
                return None
            (a, op, b, c), i = r
            lines.append(f"{a}{op}{b}={c}")
            if i < len(toks):
                if toks[i] != ",":
                    return None
                i += 1
        return lines or None

    @classmethod
    def vocab_words(cls):
        # "try": the clause of a leaf checked and not entered (search.py --checks), a word of this
        # task's vocabulary only, so that the other tasks' vocabularies (and models) stay as they were
        return ["target", "nums", *OPS, "=", ",", "try"]

    # --- data -----------------------------------------------------------------------------------
    @classmethod
    def generate_arguments(cls):
        return [(("--n-nums",), dict(type=int, default=4, help="how many numbers (2-6)")),
                (("--num-min",), dict(type=int, default=1, help="numbers are drawn from num-min..num-max")),
                (("--num-max",), dict(type=int, default=99)),
                (("--target-min",), dict(type=int, default=10)),
                (("--target-max",), dict(type=int, default=100))]

    @classmethod
    def task_arguments(cls):
        return [(("--heuristic",), dict(choices=["sum", "mult"], default="sum", help="search heuristic (SoS's two)"))]

    @staticmethod
    def split_of(nums, target, held_out=SOS_HELD_OUT_TARGETS):
        """test: a held-out target (SoS's "unseen targets"); test-seen: a training target with a
        number multiset from a reserved tenth of all multisets ("seen targets, unseen numbers");
        train: everything else. A pure function of the problem, so splits never overlap."""
        if target in held_out:
            return "test"
        if stable_hash(" ".join(map(str, sorted(nums)))) % 10 == 0:
            return "test-seen"
        return "train"

    @classmethod
    def generate(cls, n, rng, split="train", n_nums=4, num_min=1, num_max=99, target_min=10,
                 target_max=100, held_out=SOS_HELD_OUT_TARGETS):
        """n solvable problems of `split`, drawn with `rng` (a random.Random): numbers first, then a
        target chosen among the values they can reach, so no problem is ever unsolvable."""
        if split not in ("train", "test", "test-seen"):
            raise ValueError(f"unknown countdown split {split!r}; valid: train, test, test-seen")
        if split == "test" and not any(target_min <= t <= target_max for t in held_out):
            raise ValueError("no held-out target lies in the target range: the test split is empty")
        problems, attempts = [], 0
        while len(problems) < n:
            attempts += 1
            if attempts > 1000 * (n + 10):
                raise ValueError("could not generate enough problems: the options leave too few solvable ones")
            nums = [rng.randint(num_min, num_max) for _ in range(n_nums)]
            targets = [t for t in sorted(reachable(tuple(sorted(nums))))
                       if target_min <= t <= target_max and cls.split_of(nums, t, held_out) == split]
            if targets:
                problems.append({"nums": nums, "target": rng.choice(targets)})
        return problems


# re.ASCII: \d is only 0-9 (as in read_number); int() would also take "٢" for 2
_OP_LINE = re.compile(r"^\s*(\d{1,30})\s*([-+*/])\s*(\d{1,30})\s*=\s*(\d{1,30})\s*$", re.ASCII)


def _split_line(line):
    m = _OP_LINE.match(line) if isinstance(line, str) else None
    if m is None:
        return None
    return int(m[1]), m[2], int(m[3]), int(m[4])


def _read_op(toks, i, cap):
    ra = read_number(toks, i, cap)
    if ra is None or ra[1] >= len(toks) or toks[ra[1]] not in OPS:
        return None
    op = toks[ra[1]]
    rb = read_number(toks, ra[1] + 1, cap)
    if rb is None or rb[1] >= len(toks) or toks[rb[1]] != "=":
        return None
    rc = read_number(toks, rb[1] + 1, cap)
    if rc is None:
        return None
    return (ra[0], op, rb[0], rc[0]), rc[1]


@lru_cache(maxsize=200_000)
def reachable(nums):
    """All values reachable by combining ALL of `nums` (a sorted tuple) under the rules."""
    if len(nums) == 1:
        return frozenset(nums)
    out = set()
    task = Countdown({"nums": list(nums), "target": 0})
    state = task.start()
    for move in task.moves(state):
        out |= reachable(tuple(sorted(task.apply(state, move))))
    return frozenset(out)


def verify(problem, answer):
    """Strict check: `answer` is a list of "a op b=c" strings that uses every input number exactly
    once (as a multiset), follows the rules, has n-1 lines and ends on the target. Never raises."""
    if not isinstance(answer, list) or not isinstance(problem, dict):
        return False
    nums, target = problem.get("nums"), problem.get("target")
    if not isinstance(nums, list) or len(answer) != len(nums) - 1:
        return False
    if not all(type(n) is int for n in nums) or type(target) is not int:
        return False  # (an unhashable entry would make Counter raise)
    pool = Counter(nums)
    for line in answer:
        parsed = _split_line(line)
        if parsed is None:
            return False
        a, op, b, c = parsed
        pool.subtract([a, b])
        if min(pool.values()) < 0 or combine(a, op, b) != c:
            return False
        pool[c] += 1
    return +pool == Counter([target])


class CountdownHybrid(Countdown):
    """The same problems and rules, with the numbers from 100 up spelled in digits (`D1 d4 d4` for
    144): 100 number words instead of 1,000, so a product of two numbers is no longer one memorized
    word but digits written one at a time (issue 22's encoding pilot)."""
    name = "countdown-hybrid"
    num_cap = 100


class CountdownDigits(Countdown):
    """The same, every number from 10 up in digits (`D4 d4` for 44): the fewest words, the longest
    traces."""
    name = "countdown-digits"
    num_cap = 10
