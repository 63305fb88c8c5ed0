"""
Linearize: turn a search tree into a sequence of words a GPT can learn -- and read it back.

This is the heart of the project. A search (search.py) leaves an ordered log of what it did; this file
writes that log as text, one short clause per event, followed by the answer:

    close S g G h H     expand the node whose state is S (it is cost-so-far G, estimate H)
    create M g G h H    generate the child reached by move M from the node last closed
    go M h H            depth-first: step by move M into a child of the current node
    back S              depth-first: the child failed; return to its parent S (naming S spares the
                        model from counting how deep it is: a measured difference, README pilots)
    try M               depth-first with checks shown: the leaf reached by move M is checked where
                        it stands, not entered (Countdown's last combinations: search.py --checks)
    at S                MCTS: continue from the tree node S
    node M v V          MCTS: add the child reached by M from the current node; its rollout gave V/10
    sim M M .. M v V    MCTS, per-simulation: the whole path from the root, then the value
    answer A            the solution, written in the task's answer format  (or: fail)

A Countdown A* trace, for instance, reads `close 84 62 58 48 g 0 h 34 create 84 + 62 = 146 g 1 h 63
... answer 62 - 58 = 4 , 48 / 4 = 12 , 84 + 12 = 96`. The `solution` format keeps only the answer:
that is the baseline every trace format is measured against.

MCTS has no single natural linearization, so there are two. `mcts` writes the tree in the order
nodes were added, each once, with its value (Meta-CoT's choice): short, but the model must keep track
of where in the tree it is (an `at S` line moves it). `mcts-sim` writes every simulation as a full
path from the root: long (paths repeat), but each line is self-contained. Their lengths are measured
in the README.

Words are whole tokens: one per keyword, operator and number (numbers from the task's `num_cap` up,
1,000 by default, are spelled digit by digit), so a Countdown-4 DFS trace is a few hundred tokens
instead of SoS's ~3,000 BPE tokens. The vocabulary is fixed per task and saved beside the data.

`parse` replays ANY text -- a model's included -- against the task's rules: every referenced node
must exist and every move must be legal. It returns the answer, whether each step was legal, how many
nodes were explored and where the text first went wrong; it never raises.

For ablations: Dualformer-style dropping (costs, close clauses, create clauses, a random fraction of
events) and a shuffled-trace control (the same clauses in a scrambled order: if a model trained on
that does as well, it learned nothing from the *order* of the search).
"""
import json
import random
from dataclasses import dataclass, field

from files import atomic_write
from tasks import number_tokens, number_vocab, read_number

PAD, BOS, EOS, SEP = "<pad>", "<bos>", "<eos>", "<sep>"
EVENT_WORDS = ("close", "create", "go", "back", "at", "node", "sim", "try")
END_WORDS = ("answer", "fail")
# every task's vocabulary holds these; "try" only the vocabularies of tasks that declare it (Countdown),
# so that adding it changed no other task's vocabulary, and no model trained on one
KEYWORDS = ("close", "create", "go", "back", "at", "node", "sim", *END_WORDS, "g", "h", "v")


# ------------------------------------------------------------------------------------------------
# writing

def event_tokens(task, event, costs=True, sim=False):
    """The clause for one search event."""
    kind, node = event[0], event[1]
    if kind == "back":
        return ["back", *task.state_tokens(node.state)]
    if kind in ("close", "at"):
        toks = [kind, *task.state_tokens(node.state)]
    elif kind in ("create", "go", "try"):
        toks = [kind, *task.move_tokens(node.parent.state, node.move)]
    else:  # an MCTS addition: one move from the current node, or the full path from the root
        value = ["v", *number_tokens(round(10 * event[2]), task.num_cap)] if costs else []
        if sim:
            path, n = [], node
            while n.parent is not None:
                path.append(task.move_tokens(n.parent.state, n.move))
                n = n.parent
            return ["sim", *sum(reversed(path), []), *value]
        return ["node", *task.move_tokens(node.parent.state, node.move), *value]
    if costs and kind in ("go", "try"):
        toks += ["h", *number_tokens(node.h, task.num_cap)]  # depth-first: g is just the depth
    elif costs and kind != "at":
        toks += ["g", *number_tokens(node.g, task.num_cap), "h", *number_tokens(node.h, task.num_cap)]
    return toks


def _with_context(events):
    """MCTS adds nodes under different parents; insert an `at` the parent whenever it changes, so
    that each `node` clause is one move from the current node."""
    out, current = [], None
    for ev in events:
        parent = ev[1].parent
        if parent is not current:
            out.append(("at", parent))
            current = parent
        out.append(ev)
    return out


def linearize(task, result, fmt, answer=None, seed=0, costs=True, drop_close=False, drop_create=False,
              drop_frac=0.0, shuffle=False):
    """Tokens of one trace: the events of `result` (a SearchResult), then the answer. `fmt` is
    "solution" (the answer alone), "mcts-sim" (MCTS additions as whole paths) or the name of the
    algorithm that made the events (its log, clause by clause: no format needs registering)."""
    tail = ["answer", *task.answer_tokens(answer)] if answer is not None else ["fail"]
    if fmt == "solution":
        return tail
    events = result.events
    if fmt != "mcts-sim" and any(ev[0] == "node" for ev in events):
        events = _with_context(events)
    rng = random.Random(seed)
    events = [ev for ev in events
              if not (drop_close and ev[0] == "close") and not (drop_create and ev[0] == "create")
              and not (drop_frac and rng.random() < drop_frac)]
    if shuffle:
        rng.shuffle(events)
    body = [tok for ev in events for tok in event_tokens(task, ev, costs, sim=fmt == "mcts-sim")]
    return body + tail


def swap_traces(rows, seed=0):
    """The swapped-trace control (Stechly et al. 2025): each row keeps its own answer but gets the
    search clauses of ANOTHER problem's trace (a fixed random pairing, never itself). A model that
    learns as much from these as from the real traces was helped by the extra tokens, not by the
    search they describe."""
    if len(rows) < 2:
        raise ValueError("swapping traces needs at least two rows")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    partner = {order[k]: order[(k + 1) % len(order)] for k in range(len(order))}  # one cycle: no fixed point

    def split(trace):
        toks = trace.split()
        end = max((k for k, t in enumerate(toks) if t in END_WORDS), default=len(toks))
        return toks[:end], toks[end:]

    return [{**row, "trace": " ".join(split(rows[partner[i]]["trace"])[0] + split(row["trace"])[1])}
            for i, row in enumerate(rows)]


def pretty(text):
    """One clause per line, for reading a trace (README, debugging)."""
    lines = []
    for tok in text.split() if isinstance(text, str) else text:
        if tok in (*EVENT_WORDS, *END_WORDS) or not lines:
            lines.append(tok)
        else:
            lines[-1] += " " + tok
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# the vocabulary: fixed per task, saved beside the data

class Vocab:
    def __init__(self, tokens):
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate tokens")
        self.pad, self.bos, self.eos, self.sep = (self.stoi[t] for t in (PAD, BOS, EOS, SEP))

    def __len__(self):
        return len(self.itos)

    def encode(self, tokens):
        try:
            return [self.stoi[t] for t in tokens]
        except KeyError as e:
            raise ValueError(f"token {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids):
        return [self.itos[i] if 0 <= i < len(self.itos) else "<unk>" for i in ids]

    def save(self, path):
        with atomic_write(path) as f:
            json.dump({"tokens": self.itos}, f)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls(json.load(f)["tokens"])


def build_vocab(task_cls):
    words = [PAD, BOS, EOS, SEP, *KEYWORDS, *task_cls.vocab_words(), *number_vocab(task_cls.max_number, task_cls.num_cap)]
    return Vocab(dict.fromkeys(words))  # dedupe, keep first occurrence: deterministic order


def word_parts(task_cls, vocab):
    """The task's composed words (Task.word_parts) as token ids, for GPTConfig.parts; None if none."""
    return [[vocab.stoi[w], *(vocab.stoi[p] for p in parts)] for w, parts in task_cls.word_parts().items()] or None


def prompt_tokens(task):
    return [BOS, *task.prompt_tokens(), SEP]


# ------------------------------------------------------------------------------------------------
# reading: replay any text against the rules

@dataclass
class Parsed:
    answer: object = None       # the answer section, read into the task's answer format (or None)
    correct: bool = False       # the answer passes the strict verifier
    legal: bool = True          # every clause was legal
    steps: int = 0              # clauses read
    legal_steps: int = 0
    nodes: int = 0              # expansions (close), depth-first steps and checks (go / try), MCTS nodes (node / sim)
    error: str | None = None    # the first thing that went wrong, with its token position
    explored: list = field(default_factory=list)  # states in the order they were expanded/added
    spans: list = field(default_factory=list)     # (first token, end token, state) per legal clause


def _skip_values(toks, i, cap):
    """Skip the optional `g N h N` / `v N` cost fields; they are written for the model's benefit
    and are not checked (they depend on the heuristic a trace was made with)."""
    while i < len(toks) and toks[i] in ("g", "h", "v"):
        r = read_number(toks, i + 1, cap)
        i = r[1] if r else i + 1
    return i


def _next_clause(toks, i):
    while i < len(toks) and toks[i] not in EVENT_WORDS and toks[i] not in END_WORDS:
        i += 1
    return i


# assignment: parse
def parse(task, text):
    """Replay `text` (a string or a token list; generation stops at <eos>) against `task`."""
    toks = text.split() if isinstance(text, str) else list(text)
    if EOS in toks:
        toks = toks[:toks.index(EOS)]
    out = Parsed()
    start = task.start()
    known = {start: True}            # every state the trace has legally reached so far
    order = [start]                  # the same, newest last, to resolve a create with no context
    current, stack = start, [start]  # depth-first clauses move along a stack of states
    i = 0

    def fail(pos, why):
        out.legal = False
        if out.error is None:
            out.error = f"token {pos}: {why}"

    def reach(state):
        if state not in known:
            known[state] = True
            order.append(state)

    while i < len(toks):
        word, begin = toks[i], i
        if word in END_WORDS:
            if word == "answer":
                out.answer = task.read_answer(toks[i + 1:])
                out.correct = out.answer is not None and task.check_answer(out.answer)
                if out.answer is None:
                    fail(i, "unreadable answer")
            break
        if word not in EVENT_WORDS:
            fail(i, f"expected a clause, got {word!r}")
            i = _next_clause(toks, i + 1)
            continue
        out.steps += 1
        state = None
        if word == "back":
            named = task.read_state(toks, i + 1)  # `back S`; a bare `back` (older traces) is read too
            if len(stack) < 2:
                fail(i, "back from the start: nothing to return to")
            elif named is not None and named[0] != stack[-2]:
                fail(i, "back to a state that is not the parent of the current one")
            else:
                stack.pop()
                state = current = stack[-1]
                i = named[1] if named else i + 1
        elif word in ("close", "at"):
            r = task.read_state(toks, i + 1)
            if r is None or r[0] not in known:
                fail(i, f"{word} of a state the trace never reached")
            else:
                state, i = r
                current, stack = state, [state]
                if word == "close":
                    out.nodes += 1
                    out.explored.append(state)
        elif word in ("create", "go", "node", "try"):
            r = task.read_move(current, toks, i + 1)
            parent = current
            for candidate in reversed(order if word == "create" else []):
                if r is not None:  # a trace with its close clauses dropped names no parent
                    break
                r, parent = task.read_move(candidate, toks, i + 1), candidate
            if r is None:
                fail(i, f"{word}: not a legal move from any reached state")
            else:
                move, i = r
                state = task.apply(parent, move)
            if r is not None and word == "try" and task.moves(state):
                fail(begin, "try: the move does not reach a leaf (a node with moves is stepped into with go)")
                i = _next_clause(toks, i)  # the move was read: the next clause starts after it
                continue
            if r is not None:
                if word in ("go", "node", "try"):  # a try is a leaf checked: as much search work as a step
                    out.nodes += 1
                    out.explored.append(state)
                if word == "go":
                    stack.append(state)
                    current = state
                reach(state)
        else:  # sim: a path of moves from the start
            state, i = start, i + 1
            while i < len(toks) and toks[i] not in (*KEYWORDS, "try"):
                r = task.read_move(state, toks, i)
                if r is None:
                    fail(i, "sim: illegal move")
                    state = None
                    break
                state, i = task.apply(state, r[0]), r[1]
            if state is not None:
                out.nodes += state not in known
                if state not in known:
                    out.explored.append(state)
                reach(state)
        if state is not None:
            out.legal_steps += 1
            i = _skip_values(toks, i, task.num_cap)
            out.spans.append((begin, i, state))
            if i < len(toks) and toks[i] not in EVENT_WORDS and toks[i] not in END_WORDS:
                fail(i, f"unexpected {toks[i]!r} after a clause")
        i = _next_clause(toks, i if state is not None else i + 1)
    return out


def solution_mask(task, tokens):
    """Per token: True if it belongs to the solution path (clauses about states on the answer's
    path, and the answer itself), False on wrong branches. Meta-CoT's 'mask wrong branches' SFT
    variant trains only on the True tokens."""
    parsed = parse(task, tokens)
    on_path = set(task.answer_states(parsed.answer)) if parsed.correct else set()
    mask = [False] * len(tokens)
    for begin, end, state in parsed.spans:
        if state in on_path:
            mask[begin:end] = [True] * (end - begin)
    if "answer" in tokens:
        k = len(tokens) - 1 - tokens[::-1].index("answer")
        mask[k:] = [True] * (len(tokens) - k)
    return mask


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description="Pretty-print the traces of a search output file, one clause a line.",
                                epilog="example: python linearize.py data/dfs.jsonl -n 2")
    p.add_argument("file", help="JSONL written by search.py")
    p.add_argument("-n", type=int, default=1, help="how many rows to print")
    args = p.parse_args(argv)
    with open(args.file) as f:
        for _, line in zip(range(args.n), f):
            row = json.loads(line)
            print(pretty(row["trace"]), end="\n\n")


if __name__ == "__main__":
    main()
