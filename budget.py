"""
Budgets: what a model solves with a fixed number of generated tokens, and where RL moved it.

A model that searches in its own context buys accuracy with tokens, so its accuracy alone says
little: the question (Meta-CoT's) is whether the curve of accuracy against tokens moved *up* (problems
nothing solved before) or *left* (the same problems, cheaper). Every solver is therefore held to the
same budget B of generated tokens. The prompt is free, the end token counts, and an output that has
not ended within B tokens is wrong (evaluate.score), whatever its answer says:

- greedy within B: the model's one greedy output ends within B tokens and verifies;
- pass@k within B: k samples of at most B tokens each (the unbiased estimator, over the samples that
  ended within B);
- best of B tokens: samples drawn one after another while their total stays within B, solved if one
  verifies. This is what a solution-only model does with the tokens a trace model spends on one
  search (the comparison "To Backtrack or Not to Backtrack" asks for);
- a symbolic search within B: its whole trace, in the training format, ends within B tokens.

All of it is computed from evaluate.py's per-problem records (lengths and verdicts of the greedy
output and of every sample, the symbolic searches' trace lengths), so a budget costs no decoding.

Then stage 3's question, asked of an RL model and its supervised start on the same problems:

- up: problems the RL model solves greedily within B that NONE of these solve: its start with k
  samples of B tokens, any symbolic search within B, solution-only with best of B tokens;
- left: generated tokens per solved problem against its start and against the symbolic teacher;
- still searching: its legal-step rate, backtracks per problem, and states entered against the
  teacher's on the same problems. An RL model that stopped writing a search says so here;
- the ceilings: what a model that writes the search but never backs up would reach (its walk is the
  shortest trace of the format), so that "up" and "within B" are read against the most any model
  that still searches could do, not against 1.
"""
import statistics

import numpy as np

import linearize
from evaluate import SYMBOLIC, STRATA, bootstrap_ci, pass_at_k, paired_bootstrap
from search import ALGOS, SearchResult, child_of, run_search, start_node


def greedy_within(rows, budget):
    """Per problem: 1 if the greedy output verified and ended within `budget` tokens."""
    return [int(bool(r["greedy"]) and r["tokens"] <= budget) for r in rows]


def pass_within(rows, budget, k):
    """Per problem: pass@k over samples of at most `budget` tokens (a longer one counts as wrong)."""
    return [pass_at_k(r["n"], sum(c and n <= budget for c, n in zip(r["sample_correct"], r["sample_lens"])), k)
            for r in rows]


def best_of_tokens(rows, budget, orders=16, seed=0):
    """Per problem: the chance that samples drawn one after another, while their total length stays
    within `budget`, include a correct one; averaged over `orders` fixed shuffles of the n samples
    (the samples are exchangeable, so every order is as likely; more orders, less noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for r in rows:
        lens, correct, hits = np.asarray(r["sample_lens"]), np.asarray(r["sample_correct"], bool), 0
        for _ in range(orders):
            perm = rng.permutation(len(lens))
            taken = np.cumsum(lens[perm]) <= budget
            hits += bool(correct[perm][taken].any())
        out.append(hits / orders if len(lens) else 0.0)
    return out


def symbolic_within(rows, budget, algos=None):
    """{algo: per problem 1 if its whole trace ends within `budget` tokens}, and "any" of them;
    {} when the records hold no symbolic search (nothing to compare with: n/a, not "none")."""
    algos = [a for a in (algos or SYMBOLIC) if rows and a in rows[0].get("sym_tokens", {})]
    if not algos:
        return {}
    out = {a: [int(r["sym_tokens"][a] is not None and r["sym_tokens"][a] <= budget) for r in rows] for a in algos}
    out["any"] = [int(any(out[a][i] for a in algos)) for i in range(len(rows))]
    return out


def _mean_ci(values):
    return {"mean": statistics.fmean(values) if values else 0.0, "ci": list(bootstrap_ci(values))}


def budget_table(rows, budgets, ks=(1,)):
    """{B: {stratum: {greedy, pass@k, best_of_tokens (each mean and CI), n}}} for one model."""
    out = {}
    for b in budgets:
        out[str(b)] = {}
        for name, keep in STRATA.items():
            part = [r for r in rows if keep(r)]
            cell = {"n": len(part), "greedy": _mean_ci(greedy_within(part, b))}
            if part and part[0]["n"]:
                cell |= {f"pass@{k}": _mean_ci(pass_within(part, b, k)) for k in ks if k <= part[0]["n"]}
                cell["best_of_tokens"] = _mean_ci(best_of_tokens(part, b))
            out[str(b)][name] = cell
    return out


def symbolic_table(rows, budgets):
    """{B: {stratum: {algo or "any": share of problems whose symbolic trace ends within B}}}."""
    out = {}
    for b in budgets:
        out[str(b)] = {}
        for name, keep in STRATA.items():
            part = [r for r in rows if keep(r)]
            out[str(b)][name] = {a: statistics.fmean(v) if v else 0.0 for a, v in symbolic_within(part, b).items()}
    return out


def rivals(start_rows, solution_rows, budget, k, sym_rows=None):
    """Per problem: 1 if a rival of the RL model solves it within `budget`: its start with k samples of
    `budget` tokens (any of its first k correct), any symbolic search whose trace fits, or solution-only
    sampling one answer after another within the budget (in the order drawn). None where a rival's
    records are missing (nothing to compare with). The symbolic searches are read from `sym_rows`
    (default: the start's records; every model's records carry the same ones)."""
    sym = symbolic_within(sym_rows if sym_rows is not None else start_rows or [], budget)
    if not sym or start_rows is None or solution_rows is None:
        return None
    start = [int(any(c and n <= budget for c, n in list(zip(r["sample_correct"], r["sample_lens"]))[:k])) for r in start_rows]
    solution = [int(bool(_first_within(r, budget))) for r in solution_rows]
    return {"start": start, "symbolic": sym["any"], "solution": solution,
            "any": [int(s or y or z) for s, y, z in zip(start, sym["any"], solution)]}


def up(rl_rows, start_rows, solution_rows, budget, k):
    """Problems the RL model solves greedily within `budget` that none of its rivals solve (`rivals`).
    The count, its share with a bootstrap CI, and each rival's own count; None where a rival is missing."""
    rival = rivals(start_rows, solution_rows, budget, k, sym_rows=rl_rows)
    if rival is None:
        return None
    mine = greedy_within(rl_rows, budget)
    alone = [int(m and not r) for m, r in zip(mine, rival["any"])]
    return {"budget": budget, "k": k, "n": len(alone), "count": sum(alone), "share": _mean_ci(alone),
            "rl_solved": sum(mine), "start_solved": sum(rival["start"]),
            "symbolic_solved": sum(rival["symbolic"]), "solution_solved": sum(rival["solution"])}


def walk_tokens(task, costs=True):
    """Generated tokens of the shortest trace a searching model can write for this problem: depth-first
    straight along a shortest solution (breadth-first finds one), never backing up, then the answer and
    the end token. None if the problem has no solution. Written by linearize itself, so it is the
    training format's own cost (a maze: 3 tokens per cell of the path)."""
    found = run_search(task, "bfs")
    if not found.solved:
        return None
    node, events = start_node(task), []
    for move in found.moves:
        node = child_of(task, node, move)
        events.append(("go", node))
    walk = SearchResult(True, found.moves, len(events), events)
    return len(linearize.linearize(task, walk, "dfs", answer=task.answer(found.moves), costs=costs)) + 1


def ceilings(walks, start_rows, solution_rows, budget, k):
    """What a model that writes the search but never backs up would reach, the best any RL model of this
    format can do: its accuracy within `budget` (its walk fits), its up (the walk fits and no rival
    solves it) and its left unbounded (tokens per solved problem, all solved, against the start's).
    `walks`: walk_tokens per problem, aligned with the rows."""
    fits = [int(w is not None and w <= budget) for w in walks]
    rival = rivals(start_rows, solution_rows, budget, k)
    start = tokens_per_solved(start_rows)
    solved = [w for w in walks if w is not None]
    return {"within": statistics.fmean(fits) if fits else None,
            "up": statistics.fmean(int(f and not r) for f, r in zip(fits, rival["any"])) if rival and fits else None,
            "left_unbounded": statistics.fmean(solved) / start - 1 if solved and start else None}


def _first_within(r, budget):
    """Whether one of the samples that fit in `budget` tokens, taken in the order drawn, is correct."""
    total = 0
    for c, n in zip(r["sample_correct"], r["sample_lens"]):
        total += n
        if total > budget:
            return False
        if c:
            return True
    return False


def tokens_per_solved(rows, budget=None):
    """Generated tokens of all problems (each cut at `budget`) over the problems solved within it."""
    solved = sum(greedy_within(rows, budget or float("inf")))
    spent = sum(min(r["tokens"], budget or r["tokens"]) for r in rows)
    return spent / solved if solved else None


def left(a_rows, b_rows, budget=None, iters=2000, seed=0):
    """Tokens per solved problem of A and of B on the same problems, and A's change relative to B
    (negative: fewer tokens) with a bootstrap CI from resampling problems (pairs kept together)."""
    a, b = tokens_per_solved(a_rows, budget), tokens_per_solved(b_rows, budget)
    if a is None or b is None:
        return {"a": a, "b": b, "change": None, "ci": None}
    rng, changes = np.random.default_rng(seed), []
    for _ in range(iters):
        idx = rng.integers(0, len(a_rows), len(a_rows))
        ra, rb = tokens_per_solved([a_rows[i] for i in idx], budget), tokens_per_solved([b_rows[i] for i in idx], budget)
        if ra is not None and rb is not None:
            changes.append(ra / rb - 1)
    return {"a": a, "b": b, "change": a / b - 1, "ci": [float(np.percentile(changes, 2.5)), float(np.percentile(changes, 97.5))]}


def paired(a, b):
    """Mean of a - b over problems, with its paired bootstrap 95 % CI."""
    if not a:
        return None
    diff, lo, hi = paired_bootstrap(a, b)
    return {"a": statistics.fmean(a), "b": statistics.fmean(b), "diff": diff, "ci": [lo, hi]}


def symbolic_tokens_per_solved(rows, algo, budget=None):
    """A symbolic search's tokens per solved problem, each trace cut at `budget`, as for a model."""
    lens = [r["sym_tokens"].get(algo) for r in rows]
    solved = sum(n is not None and n <= (budget or n) for n in lens)
    spent = sum(min(n if n is not None else float("inf"), budget or float("inf")) for n in lens)
    return spent / solved if solved and spent != float("inf") else None


def rl_answer(rl_rows, start_rows, solution_rows, budget, k, teacher="dfs", walks=None):
    """Stage 3's answer for one RL run, per stratum: accuracy within the budget and unbounded against
    its supervised start (paired CIs), up, left (against the start and the symbolic teacher, within
    the budget and unbounded), whether it still searches (against its start), and, given `walks`
    (walk_tokens per problem), the ceilings a search that never backs up would reach."""
    out = {"budget": budget, "k": k}
    for name, keep in STRATA.items():
        idx = [i for i, r in enumerate(rl_rows) if keep(r)]
        rl, start = [rl_rows[i] for i in idx], [start_rows[i] for i in idx]
        solution = [solution_rows[i] for i in idx] if solution_rows is not None else None
        out[name] = {
            "within": paired(greedy_within(rl, budget), greedy_within(start, budget)),
            "unbounded": paired([r["greedy"] for r in rl], [r["greedy"] for r in start]),
            "pass_within": paired(pass_within(rl, budget, k), pass_within(start, budget, k)),
            "up": up(rl, start, solution, budget, k),
            "left_within": left(rl, start, budget), "left_unbounded": left(rl, start),
            "teacher_tokens_per_solved": {"within": symbolic_tokens_per_solved(rl, teacher, budget),
                                          "unbounded": symbolic_tokens_per_solved(rl, teacher)},
            "still_searching": {"rl": still_searching(rl, teacher), "start": still_searching(start, teacher)}}
        if walks is not None:
            out[name]["ceilings"] = ceilings([walks[i] for i in idx], start, solution, budget, k)
    return out


def still_searching(rows, teacher="dfs"):
    """Is the model still writing a search? Its legal-step rate, backtracks per problem, and states
    entered against its teacher's on the problems it solved."""
    steps = sum(r["steps"] for r in rows)
    solved = [r for r in rows if r["greedy"]]
    return {"legal_step_rate": sum(r["legal_steps"] for r in rows) / steps if steps else None,
            "backtracks": statistics.fmean(r["backtracks"] for r in rows) if rows else 0.0,
            "states": statistics.fmean(r["nodes"] for r in solved) if solved else None,
            "teacher_states": statistics.fmean(r["sym_nodes"][teacher] for r in solved)
            if solved and teacher in solved[0]["sym_nodes"] else None}


def symbolic_sweep(task_cls, problems, budgets, costs=True, checks=False):
    """Each complete symbolic search at several node budgets (and its own default, last): its solve
    rate and the length of the trace it writes, i.e. its own compute-accuracy curve. `costs`,
    `checks`: the training format's cost fields and DFS's written checks (search.py --checks)."""
    res = {}
    for algo in SYMBOLIC:
        res[algo] = []
        for budget in list(budgets) + [ALGOS[algo].default_budget]:
            solved = tokens = 0
            for i, problem in enumerate(problems):
                task = task_cls(problem)
                r = run_search(task, algo, budget, seed=i, checks=checks or None)
                solved += r.solved
                tokens += len(linearize.linearize(task, r, algo, task.answer(r.moves) if r.solved else None, costs=costs))
            res[algo].append({"budget": budget, "acc": solved / len(problems), "tokens": tokens / len(problems)})
    return res
