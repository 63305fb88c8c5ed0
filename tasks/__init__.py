"""
Tasks: a reasoning problem seen as a search space.

Every search algorithm (search.py), the linearizer (linearize.py), training and evaluation talk to a
problem through one small interface, `Task`. A Task object wraps ONE problem (a dict in the JSONL
interchange format) and answers the questions a search needs: where do we start, which moves are
legal here, where does a move lead, are we done, how far do we seem to be. It also knows how to spell
its states and moves as word-level tokens, and how to read them back, so that a trace written by a
search -- or by a model imitating one -- can be replayed against the rules.

Adding a task = one new file in this folder with a Task subclass that sets `name`. Nothing else
changes: `registry()` imports every module here and collects the subclasses, and the command lines
(search.py, train_sft.py, ...) list whatever it finds. A task also declares its own generation
options (`generate_arguments`), its search-time options (`task_arguments`) and, optionally, a
picture (`render`). One file may register several variants (maze's encodings are two names).
"""
import functools
import json
import zlib


NUM_CAP = 1000  # numbers below this are one token each; larger ones are spelled digit by digit


class ProblemError(ValueError):
    """A problem (or a problem file) that breaks the format; the message names where and what."""


class Task:
    """One problem instance as a search space. States must be hashable; moves are task-defined."""
    name = None            # the registry key; a class without one (this base) is not a task
    splits = ("train", "test")
    tiny = []              # search.py generation flags for toy-sized problems (the smoke pipeline)
    max_number = None      # the largest number a trace of this task can hold (None: any); the vocabulary
                           # then holds only the numbers up to it, and every training step pays for each
                           # word of the vocabulary in the output layer
    num_cap = NUM_CAP      # numbers below this are one word each, the rest digit words (number_tokens)

    def __init__(self, problem):
        self.problem = problem

    # --- the search space -------------------------------------------------------------------
    def start(self):
        raise NotImplementedError

    def moves(self, state):
        """Legal moves from `state`, in a fixed deterministic order."""
        raise NotImplementedError

    def apply(self, state, move):
        raise NotImplementedError

    def is_goal(self, state):
        raise NotImplementedError

    def is_dead(self, state):
        """A non-goal state from which no move exists (a leaf that failed)."""
        return not self.is_goal(state) and not self.moves(state)

    def heuristic(self, state):
        """Integer estimate of the distance to a goal (smaller is better)."""
        raise NotImplementedError

    def answer(self, moves):
        """The interchange-format answer for a sequence of moves from the start state."""
        raise NotImplementedError

    def check_answer(self, answer):
        """The strict verifier: the module-level verify(problem, answer) of the task's file."""
        raise NotImplementedError

    def answer_states(self, answer):
        """The states a (verified) answer passes through, start included."""
        raise NotImplementedError

    # --- tokens: how states, moves and answers are written in a trace --------------------------
    def prompt_tokens(self):
        raise NotImplementedError

    def state_tokens(self, state):
        raise NotImplementedError

    def move_tokens(self, state, move):
        raise NotImplementedError

    def read_state(self, toks, i):
        """Read a state written by state_tokens at toks[i:]; return (state, next_i) or None."""
        raise NotImplementedError

    def read_move(self, state, toks, i):
        """Read a move written by move_tokens at toks[i:]; return (move, next_i) or None if the
        tokens do not spell a LEGAL move from `state`."""
        raise NotImplementedError

    def answer_tokens(self, answer):
        raise NotImplementedError

    def read_answer(self, toks):
        """Tokens of an answer section -> interchange answer, or None if unreadable."""
        raise NotImplementedError

    @classmethod
    def vocab_words(cls):
        """Every non-number word a trace of this task can contain (numbers are added centrally)."""
        raise NotImplementedError

    @classmethod
    def word_parts(cls):
        """{word: [part words]}: words whose vector the model adds their parts' vectors to (model.py,
        GPTConfig.parts), so that what it learns about a part holds for every word made of it. None
        by default."""
        return {}

    # --- data and options -------------------------------------------------------------------------
    @staticmethod
    def check(problem):
        """Raise ProblemError naming the field if `problem` is not a well-formed problem of this task."""
        raise NotImplementedError

    @classmethod
    def generate(cls, n, rng, split="train", **options):
        """n problems of `split`, drawn with `rng` (a random.Random); options from generate_arguments."""
        raise NotImplementedError

    @classmethod
    def generate_arguments(cls):
        """argparse (flags, kwargs) pairs for generate()'s options; their dest names are its keywords."""
        return []

    @classmethod
    def generate_options(cls, flags):
        """generate()'s keywords as search.py's generation flags set them, e.g. ["--height", "6"]."""
        import argparse
        p = argparse.ArgumentParser(prog=f"{cls.name} generation flags")
        dests = [p.add_argument(*names, **kw).dest for names, kw in cls.generate_arguments()]
        args = p.parse_args(flags)
        return {d: getattr(args, d) for d in dests}

    @classmethod
    def task_arguments(cls):
        """argparse (flags, kwargs) pairs for the constructor's options (e.g. a search heuristic)."""
        return []

    @staticmethod
    def render(problem, ax, path=None, explored=None, title=None):
        """Draw a problem on a matplotlib axis: explored states shaded by order, the path on top.
        Tasks without a picture keep this default, and the report leaves the picture out."""
        raise NotImplementedError

    @classmethod
    def can_render(cls):
        return cls.render is not Task.render


def number_tokens(n, cap=NUM_CAP):
    """One token per number below `cap` ("96"); from it up, digit tokens ("D9 d7 d0 d2": the first
    digit in capitals so that two large numbers side by side stay apart). The vocabulary stays small
    (~1k words at the default cap) yet covers every value a trace can hold (99*99*99*99 and beyond).
    A task chooses its cap (Task.num_cap): a smaller one trades words for tokens, and an arithmetic
    fact about two large numbers becomes digits the model writes one at a time."""
    if n < cap:
        return [str(n)]
    digits = str(n)
    return ["D" + digits[0]] + ["d" + ch for ch in digits[1:]]


def read_number(toks, i, cap=NUM_CAP):
    """Read a number written by number_tokens(·, cap) at toks[i]; return (value, next_i) or None. Only
    the canonical spelling is accepted, so every number has exactly one way to be written."""
    if i >= len(toks):
        return None
    tok = toks[i]
    if _is_decimal(tok) and len(tok) <= len(str(cap)) and tok == str(int(tok)) and int(tok) < cap:
        return int(tok), i + 1
    if not (len(tok) == 2 and tok[0] == "D" and _is_decimal(tok[1]) and tok[1] != "0"):
        return None
    j = i + 1
    while j < len(toks) and j - i <= 30 and len(toks[j]) == 2 and toks[j][0] == "d" and _is_decimal(toks[j][1]):
        j += 1
    value = int(tok[1] + "".join(t[1] for t in toks[i + 1:j]))
    return (value, j) if value >= cap else None


def read_sequence(toks, read):
    """Values read back to back until the tokens end, with read(toks, i) -> (value, next_i) or None;
    None if any piece is unreadable or there is none (an answer section that is a plain list)."""
    values, i = [], 0
    while i < len(toks):
        got = read(toks, i)
        if got is None:
            return None
        values.append(got[0])
        i = got[1]
    return values or None


def _is_decimal(text):
    return text.isascii() and text.isdigit()  # "²".isdigit() is True, and int("²") raises


def number_vocab(max_number=None, cap=NUM_CAP):
    """The number words: every number up to max_number (None: every number), as number_tokens spells it."""
    small = [str(n) for n in range(cap if max_number is None else min(max_number + 1, cap))]
    digits = [f"D{k}" for k in range(1, 10)] + [f"d{k}" for k in range(10)]
    return small + (digits if max_number is None or max_number >= cap else [])


def stable_hash(text):
    """A hash that is the same in every process (Python's hash() of str is salted)."""
    return zlib.crc32(text.encode())


def _records(path):
    """(where, text or object) per record: JSONL lines ("file:line"), or the items of one JSON array
    ("file:index"), which is how Stream of Search ships its problem files."""
    with open(path) as f:
        first = f.read(1)
        while first.isspace():
            first = f.read(1)
        f.seek(0)
        if first == "[":
            try:
                items = json.load(f)
            except json.JSONDecodeError as e:
                raise ProblemError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
            for index, item in enumerate(items):
                yield f"{path}:item {index}", item
            return
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield f"{path}:{lineno}", line


def read_jsonl(path, handle, skip_bad=False):
    """Call handle(row) for each JSON object line of `path` (or each item of a JSON array file). A
    bad record -- not JSON, not an object, or handle raising ValueError (ProblemError is one) --
    raises ProblemError naming file:line and the reason, or with skip_bad is skipped and counted.
    Returns the number skipped."""
    skipped = 0
    for where, record in _records(path):
        try:
            if isinstance(record, str):
                try:
                    record = json.loads(record)
                except json.JSONDecodeError as e:
                    raise ProblemError(f"not valid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise ProblemError("must be a JSON object (one problem a line, or a JSON array of them)")
            handle(record)
        except ValueError as e:
            if not skip_bad:
                raise ProblemError(f"{where}: {e}") from None
            skipped += 1
    return skipped


def load_problems(path, task_cls, skip_bad=False):
    """Read a JSONL problem file, every line checked by the task. Returns (problems, n_skipped)."""
    problems = []

    def keep(problem):
        task_cls.check(problem)
        problems.append(problem)

    skipped = read_jsonl(path, keep, skip_bad)
    return problems, skipped


def write_jsonl(path, rows):
    """Write rows atomically: a crash mid-write never leaves a half file under the real name. Rows may
    be a generator (search.py streams them): an error while producing them leaves no litter."""
    from files import atomic_write
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


@functools.cache
def registry():
    """{name: Task subclass} for every task file in this folder: each module is imported (once),
    and every subclass of Task that sets a `name` is a task."""
    import importlib
    import pkgutil
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found, todo = {}, list(Task.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.name:
            found[cls.name] = cls
    return dict(sorted(found.items()))


def get_task(name):
    tasks = registry()
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(tasks)}")
    return tasks[name]
