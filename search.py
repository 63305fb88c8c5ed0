"""
Symbolic search over any Task: breadth-first, depth-first, beam, A* and Monte Carlo tree search.

Each algorithm is a plain function `algo(task, budget, ...) -> SearchResult`. Besides the answer, it
records an ordered event log -- the raw material a trace is written from (linearize.py):

    ("close", node)        a node is expanded (its children are about to be generated)
    ("create", node)       a child of the last expanded node enters the frontier
    ("go", node)           depth-first: step from the current node into its child `node`
    ("back", node)         depth-first: return from a failed child to its parent `node`
    ("try", node)          depth-first with checks: a leaf child checked without stepping into it
    ("node", node, value)  MCTS adds a node to its tree; value = its rollout's return
    ("sim", node, value)   the same MCTS step, seen as a whole simulation from the root

Adding an algorithm is one function decorated with `@algorithm`: the command line, the trace
formats, evaluate's symbolic baselines and the report's budget sweep all read the ALGOS registry.

The node budget counts expansions (depth-first: nodes stepped into or checked; MCTS: nodes added to the tree). A search that would exceed it
stops and reports failure, so that a model and a symbolic search can be compared at equal budgets.
Every algorithm is deterministic; MCTS draws from its own seeded random generator.

Run `python search.py --help` for the command line: generate problems, or search a problem file and
write one JSONL row per problem with the answer, the node count and the linearized trace.
"""
import argparse
import array
import heapq
import inspect
import math
import os
import random
import statistics
import sys
from dataclasses import dataclass, field

import linearize
from tasks import ProblemError, get_task, load_problems, registry, write_jsonl


@dataclass(eq=False)
class Node:
    state: object
    parent: "Node | None" = None
    move: object = None
    g: int = 0
    h: int = 0

    def moves(self):
        """The moves from the root to this node."""
        out, node = [], self
        while node.parent is not None:
            out.append(node.move)
            node = node.parent
        return out[::-1]


@dataclass
class SearchResult:
    solved: bool
    moves: list            # the solution's moves from the start, or [] when unsolved
    nodes_expanded: int
    events: list = field(default_factory=list)


@dataclass
class Algorithm:
    fn: object
    default_budget: int | None = None  # the budget when none is given (None: unbounded)
    complete: bool = True              # finds a solution whenever one exists (a fair baseline)


ALGOS = {}


def algorithm(default_budget=None, complete=True):
    """Register a search function under its own name."""
    def register(fn):
        ALGOS[fn.__name__] = Algorithm(fn, default_budget, complete)
        return fn
    return register


def child_of(task, node, move):
    state = task.apply(node.state, move)
    return Node(state, node, move, node.g + 1, task.heuristic(state))


def start_node(task):
    return Node(task.start(), h=task.heuristic(task.start()))


@algorithm()
def bfs(task, budget=None):
    """Breadth-first: expand nodes in the order they were created (a FIFO queue). Like SoS, the goal
    test happens when a child is generated, which is safe here because every move costs the same:
    the first goal generated is still one with the fewest moves."""
    root = start_node(task)
    if task.is_goal(root.state):
        return SearchResult(True, [], 0, [])
    frontier, seen, events, expanded, head = [root], {root.state}, [], 0, 0
    while head < len(frontier) and (budget is None or expanded < budget):
        node = frontier[head]
        head += 1
        expanded += 1
        events.append(("close", node))
        for move in task.moves(node.state):
            child = child_of(task, node, move)
            if child.state not in seen:
                seen.add(child.state)
                frontier.append(child)
                events.append(("create", child))
                if task.is_goal(child.state):
                    return SearchResult(True, child.moves(), expanded, events)
    return SearchResult(False, [], expanded, events)


@algorithm()
def dfs(task, budget=None, prune=None, random_order=0.0, seed=0, checks=False):
    """Depth-first in the style of Stream of Search: at each node, generate the children and sort
    them by heuristic (best first; optionally drop those with h > `prune`). With `random_order` p, a
    node tries its children in a random order instead, with probability p (seeded): traces with
    choices in them, which a model trained on them can be made to choose among by RL. With `checks`,
    the leaves are written too (below)."""
    return _depth_first(task, budget, prune, None, random_order, seed, checks)


def _depth_first(task, budget, prune, width, random_order=0.0, seed=0, checks=False):
    """Depth-first over the children sorted best first (only the best `width`, if given). If one is
    the goal, step into it and stop; otherwise step into each child that is not a dead end, in
    order, and write an explicit `back` when returning from one that failed. Each step into a node
    is one "go" event and counts against the budget; a state is entered once.

    Without `checks` a dead end is skipped unwritten: a Countdown node with two numbers left backs up
    at once when no combination makes the target, and the model must do every combination in its
    head at one token. With `checks`, each child that is a leaf (no moves of its own) is checked
    first, one "try" event each in the task's move order (not the heuristic's, which the model
    would have to sort in its head), and the search stops at the one that is the goal. A try counts
    against the budget as a step does."""
    root = start_node(task)
    if task.is_goal(root.state):
        return SearchResult(True, [], 0, [])
    events, seen, visited, rng = [], {root.state}, 0, random.Random(seed)

    def visit(node):
        nonlocal visited
        children = [child_of(task, node, m) for m in task.moves(node.state)]
        children = [c for c in children if c.state not in seen and (prune is None or c.h <= prune)]
        if checks:
            for leaf in [c for c in children if not task.moves(c.state)]:
                if budget is not None and visited >= budget:
                    return None
                visited += 1
                events.append(("try", leaf))
                if task.is_goal(leaf.state):
                    return leaf
            children = [c for c in children if task.moves(c.state)]
        children.sort(key=lambda c: c.h)  # stable: ties keep the task's move order
        if random_order and rng.random() < random_order:
            rng.shuffle(children)
        goals = [c for c in children if task.is_goal(c.state)]
        for child in goals[:1] or children[:width]:
            if child.state in seen or (not goals and task.is_dead(child.state)):
                continue  # reached meanwhile below a sibling, or a dead end seen at generation
            if budget is not None and visited >= budget:
                return None
            visited += 1
            seen.add(child.state)
            events.append(("go", child))
            if goals:
                return child
            found = visit(child)
            if found is not None:
                return found
            events.append(("back", node))
        return None

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    goal = visit(root)
    return SearchResult(goal is not None, goal.moves() if goal else [], visited, events)


@algorithm(complete=False)
def beam(task, budget=None, width=3, prune=None):
    """Beam best-first (SoS's BFS with a beam): depth-first over only the `width` best children of
    each node. Cheaper than full DFS, and incomplete -- it can miss solutions outside the beam."""
    return _depth_first(task, budget, prune, width)


# assignment: astar
@algorithm()
def astar(task, budget=None):
    """A*: always expand the open node with the smallest f = g + h. Ties go to the smaller h (the
    node that looks closer to the goal), then to the node created first -- a fixed, documented order,
    so traces are reproducible. With an admissible h (Manhattan distance on mazes) plans are optimal."""
    root = start_node(task)
    counter = 0
    heap = [(root.g + root.h, root.h, counter, root)]
    best_g, closed, events, expanded = {root.state: 0}, set(), [], 0
    while heap:
        _, _, _, node = heapq.heappop(heap)
        if node.state in closed or node.g > best_g[node.state]:
            continue  # a stale entry: the state was reached more cheaply since
        if budget is not None and expanded >= budget:
            break
        expanded += 1
        closed.add(node.state)
        events.append(("close", node))
        if task.is_goal(node.state):
            return SearchResult(True, node.moves(), expanded, events)
        for move in task.moves(node.state):
            child = child_of(task, node, move)
            if child.state in closed or child.g >= best_g.get(child.state, math.inf):
                continue
            best_g[child.state] = child.g
            counter += 1
            heapq.heappush(heap, (child.g + child.h, child.h, counter, child))
            events.append(("create", child))
    return SearchResult(False, [], expanded, events)


@dataclass(eq=False)
class _TreeNode:
    node: Node
    untried: list
    children: list = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    exhausted: bool = False  # nothing left to discover below: selection skips it


def rollout_value(task, state, rng, depth):
    """Play random legal moves from `state` for up to `depth` steps: 1 if a goal is reached, else
    1 / (1 + h) of the last state, so near misses still rank above far ones."""
    for _ in range(depth):
        if task.is_goal(state):
            return 1.0
        moves = task.moves(state)
        if not moves:
            break
        state = task.apply(state, rng.choice(moves))
    return 1.0 if task.is_goal(state) else 1.0 / (1.0 + task.heuristic(state))


@algorithm(default_budget=2000)
def mcts(task, budget=2000, c=1.4, seed=0, rollout_depth=None):
    """Monte Carlo tree search with UCT (as Meta-CoT used; no learned prior). One iteration: walk
    down by the UCT score, add one untried child (in random order), estimate it with a random
    rollout, and back the value up. A state enters the tree at most once, so the tree is finite; the
    search stops at a goal, when the budget of added nodes is spent, or when the tree is exhausted."""
    rng = random.Random(seed)
    budget = ALGOS["mcts"].default_budget if budget is None else budget
    rollout_depth = rollout_depth or 4 * len(task.state_tokens(task.start())) + 16
    root_node = start_node(task)
    if task.is_goal(root_node.state):
        return SearchResult(True, [], 0, [])

    def new_tree_node(node):
        moves = [] if task.is_goal(node.state) else task.moves(node.state)
        rng.shuffle(moves)
        return _TreeNode(node, moves)

    root = new_tree_node(root_node)
    seen, events, added = {root_node.state}, [], 0
    while not root.exhausted and added < budget:
        path = [root]
        while not path[-1].untried and path[-1].children:
            parent = path[-1]
            live = [ch for ch in parent.children if not ch.exhausted]
            if not live:
                parent.exhausted = True
                break
            log_n = math.log(parent.visits + 1)
            path.append(max(live, key=lambda ch: ch.value_sum / (ch.visits or 1)
                            + c * math.sqrt(log_n / (ch.visits or 1))))
        leaf = path[-1]
        child_node = None
        while leaf.untried and child_node is None:
            candidate = child_of(task, leaf.node, leaf.untried.pop())
            child_node = candidate if candidate.state not in seen else None
        if child_node is None:
            # nothing new below this leaf: mark it, and its ancestors if they ran dry too
            for tree_node in reversed(path):
                if tree_node.untried or any(not ch.exhausted for ch in tree_node.children):
                    break
                tree_node.exhausted = True
            continue
        seen.add(child_node.state)
        added += 1
        child = new_tree_node(child_node)
        leaf.children.append(child)
        value = rollout_value(task, child_node.state, rng, rollout_depth)
        events.append(("node", child_node, value))
        if task.is_goal(child_node.state):
            return SearchResult(True, child_node.moves(), added, events)
        for tree_node in path + [child]:
            tree_node.visits += 1
            tree_node.value_sum += value
    return SearchResult(False, [], added, events)


def run_search(task, algo, budget=None, seed=0, **options):
    """Run a registered algorithm by name, passing only the options (seed included) it takes; an
    option left at None keeps the algorithm's own default."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; valid algorithms: {', '.join(ALGOS)}")
    fn = ALGOS[algo].fn
    takes = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in {**options, "seed": seed}.items() if k in takes and v is not None}
    return fn(task, budget, **kwargs)


def needs_search(task):
    """Whether a problem needs search at all: depth-first search, always trying the child that looks
    closest first, has to back up at least once. The rest are solved by greedy descent."""
    return any(ev[0] == "back" for ev in dfs(task).events)


# ------------------------------------------------------------------------------------------------
# the dataset builder: search a problem file on all cores, deterministically

def problem_seed(seed, index):
    """Each problem's own seed, independent of how problems are spread over worker processes."""
    return (seed * 1_000_003 + index) % (2**31)


@dataclass
class SearchJob:
    """What search.py's main hands every worker: the same for each problem of a file."""
    task_cls: type
    algo: str
    budget: int | None = None
    seed: int = 0
    fmt: str | None = None               # the trace format; None: the algorithm's own
    task_options: dict = field(default_factory=dict)   # the task's constructor options
    options: dict = field(default_factory=dict)        # the algorithm's options (prune, width, c)
    trace_options: dict = field(default_factory=dict)  # linearize's options (costs, dropping, shuffle)


def _search_one(item):
    index, problem, job = item
    task = job.task_cls(problem, **job.task_options)
    seed = problem_seed(job.seed, index)
    result = run_search(task, job.algo, job.budget, seed=seed, **job.options)
    answer = task.answer(result.moves) if result.solved else None
    trace = linearize.linearize(task, result, job.fmt or job.algo, answer=answer, seed=seed, **job.trace_options)
    return {**problem, "solved": result.solved, "solution": answer,
            "nodes_expanded": result.nodes_expanded, "trace": " ".join(trace)}


def iter_search(problems, job, workers=None):
    """Search every problem (all cores by default), yielding rows in input order as they finish.
    Nothing holds all the rows: a caller that writes each one out keeps memory flat however large the
    file (imap hands out jobs lazily, and reorders only the few rows that finish early)."""
    from multiprocessing import Pool
    from tqdm import tqdm
    items = ((i, p, job) for i, p in enumerate(problems))
    workers = workers or os.cpu_count() or 1
    bar = dict(total=len(problems), desc=f"{job.algo} search", disable=len(problems) < 2000)
    if workers == 1 or len(problems) < 50:
        yield from tqdm(map(_search_one, items), **bar)
        return
    with Pool(workers) as pool:
        yield from tqdm(pool.imap(_search_one, items, chunksize=64), **bar)


def search_file(problems, job, workers=None):
    """All rows of iter_search as a list (for small files; search.py's main streams instead)."""
    return list(iter_search(problems, job, workers))


def length_stats(lengths):
    lengths = sorted(lengths)
    if not lengths:
        return {"mean": 0, "median": 0, "p90": 0, "max": 0}
    return {"mean": round(statistics.fmean(lengths), 1), "median": statistics.median(lengths),
            "p90": lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))], "max": lengths[-1]}


def add_task_arguments(parser, task_cls):
    """Add the task's own options and its generation options to an argparse parser; returns
    (constructor option names, generation option names)."""
    own = parser.add_argument_group(f"{task_cls.name} options")
    task_dests = [own.add_argument(*flags, **kw).dest for flags, kw in task_cls.task_arguments()]
    gen = parser.add_argument_group(f"{task_cls.name} problem generation (with --generate)")
    gen_dests = [gen.add_argument(*flags, **kw).dest for flags, kw in task_cls.generate_arguments()]
    return task_dests, gen_dests


def main(argv=None):
    # --task decides which task options exist, so it is read first
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--task", choices=list(registry()))
    task_name = first.parse_known_args(argv)[0].task
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n"
                                "  python search.py --task countdown --generate 1000 --split test --out P.jsonl\n"
                                "  python search.py --task countdown --algo dfs --problems P.jsonl --out O.jsonl\n"
                                "  python search.py --task maze --generate 500 --height 10 --width-cells 10 --out M.jsonl\n"
                                "  python search.py --task maze --help      (the task's own options)")
    p.add_argument("--task", required=True, choices=list(registry()))
    p.add_argument("--algo", choices=list(ALGOS), help="search algorithm (with --problems)")
    p.add_argument("--problems", help="input problems: JSONL in the interchange format, or a JSON array")
    p.add_argument("--out", required=True, help="output JSONL")
    p.add_argument("--budget", type=int, default=None, help="node budget: max expansions (MCTS: nodes added; default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=["solution", "mcts-sim", *ALGOS], default=None,
                   help="trace format (default: the algorithm's own; mcts also has mcts-sim)")
    p.add_argument("--prune", type=int, default=None, help="dfs/beam: skip children with h above this")
    p.add_argument("--random-order", type=float, default=None,
                   help="dfs: at each node, with this probability, try the children in a random order (default 0)")
    p.add_argument("--checks", action="store_true", help="dfs only (the other algorithms ignore it): write each "
                   "leaf checked (a 'try' clause) instead of skipping dead ends unwritten")
    p.add_argument("--width", type=int, default=3, help="beam width")
    p.add_argument("--c", type=float, default=None, help="MCTS exploration constant (default 1.4)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed problem lines (counted) instead of failing")
    t = p.add_argument_group("trace options (Dualformer-style dropping, and the shuffled control)")
    t.add_argument("--no-costs", action="store_true", help="omit the g/h/v cost fields")
    t.add_argument("--drop-close", action="store_true", help="omit close clauses")
    t.add_argument("--drop-create", action="store_true", help="omit create clauses")
    t.add_argument("--drop-frac", type=float, default=0.0, help="drop each clause with this probability")
    t.add_argument("--shuffle", action="store_true", help="scramble the clause order (the shuffled-trace control)")
    g = p.add_argument_group("problem generation (instead of --problems)")
    g.add_argument("--generate", type=int, metavar="N", help="write N generated problems to --out")
    g.add_argument("--split", default="train", help="which split to draw from (the task's splits; e.g. train, test)")
    task_cls = get_task(task_name) if task_name in registry() else None
    task_dests, gen_dests = add_task_arguments(p, task_cls) if task_cls else ([], [])
    args = p.parse_args(argv)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    except OSError as e:
        sys.exit(f"error: cannot create the folder of --out {args.out}: {e.strerror}")

    if args.generate is not None:
        if args.split not in task_cls.splits:
            p.error(f"--split {args.split}: {args.task} has the splits {', '.join(task_cls.splits)}")
        try:
            problems = task_cls.generate(args.generate, random.Random(args.seed), args.split,
                                         **{d: getattr(args, d) for d in gen_dests})
        except ValueError as e:
            sys.exit(f"error: {e}")
        write_jsonl(args.out, problems)
        print(f"wrote {len(problems)} {args.task} problems ({args.split}) to {args.out}")
        return
    if not args.algo or not args.problems:
        p.error("give --algo and --problems to search, or --generate N to make problems")
    try:
        problems, skipped = load_problems(args.problems, task_cls, skip_bad=args.skip_bad)
    except (ProblemError, OSError) as e:
        sys.exit(f"error: {e}")
    if skipped:
        print(f"skipped {skipped} malformed problem lines")
    job = SearchJob(task_cls, args.algo, args.budget, args.seed, args.format,
                    task_options={d: getattr(args, d) for d in task_dests},
                    options={"prune": args.prune, "width": args.width, "c": args.c, "random_order": args.random_order,
                             "checks": args.checks or None},
                    trace_options={"costs": not args.no_costs, "drop_close": args.drop_close,
                                   "drop_create": args.drop_create, "drop_frac": args.drop_frac, "shuffle": args.shuffle})
    # stream rows to the file as they arrive, keeping only three numbers per row for the summary
    solved, lengths, nodes = 0, array.array("l"), array.array("l")

    def counted(rows):
        nonlocal solved
        for r in rows:
            solved += r["solved"]
            lengths.append(len(r["trace"].split()))
            nodes.append(r["nodes_expanded"])
            yield r

    write_jsonl(args.out, counted(iter_search(problems, job, args.workers)))
    linearize.build_vocab(task_cls).save(os.path.join(os.path.dirname(os.path.abspath(args.out)), f"vocab-{args.task}.json"))
    print(f"{args.task} {args.algo}: solved {solved}/{len(nodes)} ({100 * solved / max(1, len(nodes)):.1f}%), "
          f"nodes expanded mean {statistics.fmean(nodes) if nodes else 0:.1f}")
    print("trace tokens: " + "  ".join(f"{k} {v}" for k, v in length_stats(lengths).items()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
