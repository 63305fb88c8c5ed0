"""
Evaluate: the measuring stick every result in this project is read with.

A model is given held-out problems and its output is replayed by linearize.parse and judged by the
task's strict verifier -- never by the model's own claim. We report:

- greedy accuracy (one deterministic attempt per problem);
- pass@k from n samples at a temperature, with the unbiased estimator of Chen et al. (2021):
  1 - C(n-c, k) / C(n, k) for c correct out of n, averaged over problems;
- Cover@tau: the fraction of problems whose per-sample success rate is at least tau (pass@k at large
  k rewards lucky guessing in small answer spaces; Cover@tau does not);
- generated tokens per problem (the compute the model spent), the rate of trace clauses that were
  legal, and the nodes the model explored against the nodes the symbolic search needed -- including
  how many problems the model solved that the symbolic search could not solve within the same number
  of nodes.

Every metric is also given per stratum: problems that NEED search (depth-first search, trying the
child that looks closest first, has to back up at least once: search.needs_search) and problems a
greedy walk solves directly. Trace training can only show its worth on the first kind.

The learned gate: a comparison between models that never learned their training language is not a
result. A model passes the gate when, greedily on held-out problems, it emits an answer at least 95%
of the time and its trace clauses are legal at least 95% as often as the clauses of its own training
traces are (1.0 for real search traces; a control's scrambled or borrowed traces score lower by
construction, and the model is held to what it was shown).

`--compare A.json B.json` pairs two evaluations on the same problems: how many problems only A
solved, only B, and a paired bootstrap 95% confidence interval for the accuracy difference.
"""
import argparse
import json
import os
import statistics

import numpy as np
import torch

import linearize
import checkpoint
from distributed import global_sum, set_threads
from files import atomic_write
from model import DTYPES, autocast_ctx
from search import ALGOS, needs_search, run_search
from tasks import ProblemError, load_problems

GATE = 0.95  # the learned gate's threshold, for the answer rate and the relative legal-step rate
SELDOM_LEGAL = 0.05  # below this legal-step rate a trace file's clauses cannot gate a model on its legality


# ------------------------------------------------------------------------------------------------
# estimators

def pass_at_k(n, c, k):
    """Unbiased pass@k: the chance that k of the n samples, drawn without replacement, include a
    correct one. Computed as a product to stay stable for large n."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def cover_at(rates, tau):
    return sum(r >= tau for r in rates) / max(1, len(rates))


def paired_bootstrap(a, b, iters=10_000, seed=0):
    """Mean of a - b over problems, with a 95% CI from resampling problems (pairs kept together)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(iters, len(a)))
    diffs = (a[idx] - b[idx]).mean(axis=1)
    return float((a - b).mean()), float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def bootstrap_ci(values, iters=2000, seed=0):
    """95% CI of a mean by resampling problems."""
    v = np.asarray(values, float)
    if len(v) == 0:
        return 0.0, 0.0
    means = v[np.random.default_rng(seed).integers(0, len(v), size=(iters, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


# ------------------------------------------------------------------------------------------------
# running a model on problems

def encode_prompts(vocab, task_cls, problems):
    return [vocab.encode(linearize.prompt_tokens(task_cls(p))) for p in problems]


@torch.no_grad()
def complete(model, vocab, prompts, temperature=0.0, top_k=None, batch_size=64, seed=0, device="cpu",
             max_new_tokens=None, dtype="auto"):
    """Continue each prompt (a list of token ids) once. Returns (generated ids, their log-probs) per
    prompt, cut after <eos>. Prompts are batched left-padded, as model.generate expects. dtype: as in
    model.autocast_ctx (bf16 also makes the KV cache bf16)."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    outs = []
    for s in range(0, len(prompts), batch_size):
        chunk = prompts[s:s + batch_size]
        T = max(map(len, chunk))
        idx = torch.full((len(chunk), T), vocab.pad, dtype=torch.long)
        for b, p in enumerate(chunk):
            idx[b, T - len(p):] = torch.tensor(p)
        budget = model.config.block_size - T if max_new_tokens is None else min(max_new_tokens, model.config.block_size - T)
        with autocast_ctx(device, dtype):
            toks, logps, lens = model.generate(idx.to(device), budget, temperature=temperature, top_k=top_k,
                                               eos_id=vocab.eos, pad_id=vocab.pad, prompt_lens=[len(p) for p in chunk],
                                               generator=gen)
        for b in range(len(chunk)):
            n = int(lens[b])
            outs.append((toks[b, :n].tolist(), logps[b, :n]))
    return outs


def score(task, vocab, ids):
    """Parse generated ids against the rules (garbage included: parse never raises). An output that
    did not end (no end token within its budget or the context) is wrong, whatever its answer says:
    an answer cut short at B tokens must not count as solved within B."""
    parsed = linearize.parse(task, vocab.decode(ids))
    if not ids or ids[-1] != vocab.eos:
        parsed.correct = False
        parsed.error = parsed.error or f"token {len(ids)}: the output did not end within its budget"
    return parsed


def greedy_counts(model, vocab, task_cls, problems, device="cpu", dtype="auto"):
    """Greedy decoding on `problems`: counts of correct answers, answers emitted, legal and all trace
    clauses (sums, so that shards of a problem set add up)."""
    outs = complete(model, vocab, encode_prompts(vocab, task_cls, problems), temperature=0.0, device=device,
                    dtype=dtype)
    parsed = [score(task_cls(p), vocab, ids) for p, (ids, _) in zip(problems, outs)]
    return {"n": len(problems), "correct": sum(p.correct for p in parsed),
            "answered": sum(p.answer is not None for p in parsed),
            "legal_steps": sum(p.legal_steps for p in parsed), "steps": sum(p.steps for p in parsed)}


def sharded_greedy_stats(model, vocab, task_cls, problems, device, rank, world, dtype="auto"):
    """Held-out greedy accuracy, answer rate and legal-step rate (as in the learned gate), with the
    problems split across ranks (rank r takes every world-th one) and the counts summed: N processes
    evaluate N times faster, and every rank gets the numbers one process would compute."""
    shard = problems[rank::world]
    counts = greedy_counts(model, vocab, task_cls, shard, device, dtype) if shard else {}
    total = {k: global_sum(counts.get(k, 0), world) for k in ("n", "correct", "answered", "legal_steps", "steps")}
    n = max(1, total["n"])
    return {"val_acc": total["correct"] / n, "val_answer_rate": total["answered"] / n,
            "val_legal_step_rate": _rate(total["legal_steps"], total["steps"])}


SYMBOLIC = tuple(name for name, spec in ALGOS.items() if spec.complete)
_PER_PROBLEM = {}  # (what, task, problem) -> value: the same for every model evaluated on a problem set


def _per_problem(what, task, problem, compute):
    """compute(), once per problem however many models are evaluated on it (the searches behind
    the strata and the node counts do not depend on the model)."""
    key = (what, task.name, json.dumps(problem, sort_keys=True))
    if key not in _PER_PROBLEM:
        _PER_PROBLEM[key] = compute()
    return _PER_PROBLEM[key]


def symbolic_cost(task, algo, costs=True, checks=False):
    """(nodes expanded, tokens of the whole trace in the training format with its end token, or None
    if the search failed) of one unbounded symbolic search: what it spends against a model. `checks`:
    DFS writes the leaves it checks (search.py --checks), as the model's teacher did."""
    r = run_search(task, algo, checks=checks or None)
    tokens = len(linearize.linearize(task, r, algo, task.answer(r.moves), costs=costs)) + 1 if r.solved else None
    return r.nodes_expanded, tokens


def evaluate(model, vocab, task_cls, problems, n=32, temperature=1.0, ks=(1, 8, 32), taus=(0.5,), algos=SYMBOLIC,
             device="cpu", seed=0, batch_size=64, max_new_tokens=None, dtype="auto", costs=False, checks=False):
    """All metrics for one model on one problem set, plus per-problem records for --compare and the
    budgets (budget.py). `costs`, `checks`: the format of the symbolic traces whose tokens budgets count."""
    from tqdm import tqdm
    prompts = encode_prompts(vocab, task_cls, problems)
    longest = max(map(len, prompts), default=0)
    if longest >= model.config.block_size:
        raise ValueError(f"a prompt of {longest} tokens does not fit the checkpoint's block_size "
                         f"{model.config.block_size}: these problems are larger than the model was trained on")
    greedy = complete(model, vocab, prompts, 0.0, batch_size=batch_size, device=device, max_new_tokens=max_new_tokens,
                      dtype=dtype)
    sampled = []
    if n:
        flat = [p for p in prompts for _ in range(n)]
        for s in tqdm(range(0, len(flat), batch_size * 4), desc="sampling", disable=len(flat) < 1000):
            sampled += complete(model, vocab, flat[s:s + batch_size * 4], temperature, batch_size=batch_size,
                                max_new_tokens=max_new_tokens,
                                seed=seed + s, device=device, dtype=dtype)
    rows = []
    for i, problem in enumerate(problems):
        task = task_cls(problem)
        g = score(task, vocab, greedy[i][0])
        samples = [score(task, vocab, ids) for ids, _ in sampled[i * n:(i + 1) * n]]
        # each symbolic search, unbounded (its nodes, and the tokens of its whole trace with the end
        # token, None if it failed) and then held to the node count the model used
        sym = {a: _per_problem(f"{a} costs={costs} checks={checks}", task, problem, lambda: symbolic_cost(task, a, costs, checks))
               for a in algos}
        sym_matched = {a: int(run_search(task, a, budget=g.nodes, checks=checks or None).solved) for a in algos}
        rows.append({"problem": problem, "greedy": int(g.correct), "answered": int(g.answer is not None),
                     "needs_search": _per_problem("needs_search", task, problem, lambda: needs_search(task)),
                     "tokens": len(greedy[i][0]), "nodes": g.nodes,
                     "steps": g.steps, "legal_steps": g.legal_steps, "error": g.error,
                     "answer": g.answer, "explored": [list(s) for s in g.explored],
                     "backtracks": sum(t == "back" for t in vocab.decode(greedy[i][0])),
                     "c": sum(s.correct for s in samples), "n": n,
                     "sample_tokens": statistics.fmean(len(ids) for ids, _ in sampled[i * n:(i + 1) * n]) if n else 0,
                     "sample_lens": [len(ids) for ids, _ in sampled[i * n:(i + 1) * n]],
                     "sample_correct": [int(s.correct) for s in samples],
                     "sample_legal": sum(s.legal_steps for s in samples), "sample_steps": sum(s.steps for s in samples),
                     "sym_nodes": {a: v[0] for a, v in sym.items()}, "sym_tokens": {a: v[1] for a, v in sym.items()},
                     "sym_at_model_nodes": sym_matched, "sym_any_at_model_nodes": int(any(sym_matched.values()))})
    return summarize(rows, ks, taus) | {"per_problem": rows}


def summarize(rows, ks=(1, 8, 32), taus=(0.5,)):
    greedy = [r["greedy"] for r in rows]
    n = rows[0]["n"] if rows else 0
    out = {"n_problems": len(rows), "n_samples": n, "greedy_acc": statistics.fmean(greedy) if rows else 0.0,
           "greedy_acc_ci": bootstrap_ci(greedy),
           "answer_rate": statistics.fmean(r["answered"] for r in rows) if rows else 0.0,
           "mean_tokens": statistics.fmean(r["tokens"] for r in rows) if rows else 0.0,
           "legal_step_rate": _rate(sum(r["legal_steps"] for r in rows), sum(r["steps"] for r in rows)),
           "model_nodes_mean": statistics.fmean(r["nodes"] for r in rows) if rows else 0.0,
           "symbolic": {a: {"nodes_mean": statistics.fmean(r["sym_nodes"][a] for r in rows),
                            "acc_at_model_nodes": statistics.fmean(r["sym_at_model_nodes"][a] for r in rows)}
                        for a in (rows[0]["sym_nodes"] if rows else {})},
           # a model whose text names no nodes (solution-only) has no node count to match, and with no
           # symbolic search to compare there is nothing to match it with: n/a, not "all"
           "solved_by_model_not_symbolic_at_same_nodes": None if not any(r["nodes"] for r in rows)
           or not any(r["sym_nodes"] for r in rows) else sum(r["greedy"] and not r["sym_any_at_model_nodes"] for r in rows),
           "solved_by_model_not_symbolic_ci": bootstrap_ci([r["greedy"] and not r["sym_any_at_model_nodes"] for r in rows])}
    if n:
        out["pass_at_k"] = {}
        for k in ks:
            if k <= n:
                vals = [pass_at_k(n, r["c"], k) for r in rows]
                out["pass_at_k"][str(k)] = {"mean": statistics.fmean(vals), "ci": bootstrap_ci(vals)}
        out["cover"] = {str(t): cover_at([r["c"] / n for r in rows], t) for t in taus}
        out["mean_sample_tokens"] = statistics.fmean(r["sample_tokens"] for r in rows)
        out["sample_legal_step_rate"] = _rate(sum(r["sample_legal"] for r in rows), sum(r["sample_steps"] for r in rows))
    return out


def _rate(part, whole):
    return part / whole if whole else None  # a solution-only model writes no trace clauses at all


STRATA = {"all": lambda r: True, "needs_search": lambda r: r["needs_search"], "direct": lambda r: not r["needs_search"]}


def by_stratum(rows, ks=(1, 8, 32), taus=(0.5,)):
    """summarize() on all problems, on those that need search and on those that do not."""
    return {name: summarize([r for r in rows if keep(r)], ks, taus) for name, keep in STRATA.items()}


def gate(res, data_legal_rate=1.0):
    """The learned gate (module docstring): answers emitted and clauses as legal as the training
    traces' own. `data_legal_rate` is None for solution-only data (no clauses to imitate). Data whose
    clauses are almost never legal (below SELDOM_LEGAL: the swapped control, another problem's trace,
    0.1-4 % legal) is no test either, since 95 % of a tiny rate is nothing: both are gated on their
    answers alone, and `rule` says which rule judged ("answers", "answers, data seldom legal", "legal
    steps"), so that a report treats such a model as one that answers, not one that searches. (The
    shuffled control's data, ~19 % legal, keeps the legal-steps rule.)"""
    legal = res["legal_step_rate"]
    relative = None if data_legal_rate is None or legal is None else legal / max(data_legal_rate, 1e-9)
    rule = ("answers" if data_legal_rate is None else "answers, data seldom legal" if data_legal_rate < SELDOM_LEGAL
            else "legal steps")
    passed = res["answer_rate"] >= GATE and (rule != "legal steps" or (relative is not None and relative >= GATE))
    return {"passed": bool(passed), "legal_step_rate": legal, "answer_rate": res["answer_rate"],
            "data_legal_step_rate": data_legal_rate, "relative_legal_step_rate": relative, "rule": rule}


def data_legal_rate(task_cls, rows):
    """How legal the clauses of a trace file are against their own problems (None: no clauses)."""
    legal = steps = 0
    for row in rows:
        parsed = linearize.parse(task_cls(row), row["trace"])
        legal, steps = legal + parsed.legal_steps, steps + parsed.steps
    return _rate(legal, steps)


def compare_rows(ra, rb, k=None):
    """Paired comparison of two models' per-problem records on the same problems: greedy (k None)
    or pass@k, problems solved only by A / only by B, and the bootstrap CI of the difference."""
    if k is None:
        sa, sb = [r["greedy"] for r in ra], [r["greedy"] for r in rb]
    else:  # solved at k = at least one correct sample among n (the empirical boundary at k = n)
        sa, sb = [pass_at_k(r["n"], r["c"], k) for r in ra], [pass_at_k(r["n"], r["c"], k) for r in rb]
    diff, lo, hi = paired_bootstrap(sa, sb) if sa else (0.0, 0.0, 0.0)
    return {"metric": "greedy" if k is None else f"pass@{k}", "n": len(sa),
            "acc_a": statistics.fmean(sa) if sa else 0.0, "acc_b": statistics.fmean(sb) if sb else 0.0,
            "only_a": sum(x >= 0.5 and y < 0.5 for x, y in zip(sa, sb)),
            "only_b": sum(y >= 0.5 and x < 0.5 for x, y in zip(sa, sb)),
            "diff": diff, "ci95": [lo, hi]}


def compare(a_path, b_path, k=None):
    """Per-problem comparison of two evaluation files on the same problems."""
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    ra, rb = a["per_problem"], b["per_problem"]
    if k is not None and k > min(r["n"] for r in ra + rb):
        raise SystemExit(f"error: pass@{k} needs at least {k} samples per problem; {a_path} and {b_path} "
                         f"have {min(r['n'] for r in ra + rb)} (evaluate with --n {2 * k})")
    if len(ra) != len(rb):
        raise SystemExit(f"error: {a_path} has {len(ra)} problems, {b_path} has {len(rb)}: not the same set")
    return {"a": a_path, "b": b_path} | compare_rows(ra, rb, k)


def print_table(name, res):
    pk = res.get("pass_at_k", {})
    print(f"{'model':<28}{'greedy':>8}{'CI95':>15}" + "".join(f"{'pass@' + k:>9}" for k in pk)
          + f"{'cover.5':>9}{'tokens':>8}{'legal':>7}{'nodes':>7}")
    ci = res["greedy_acc_ci"]
    print(f"{name[:27]:<28}{res['greedy_acc']:>8.3f}{f'[{ci[0]:.2f},{ci[1]:.2f}]':>15}"
          + "".join(f"{v['mean']:>9.3f}" for v in pk.values())
          + f"{res.get('cover', {}).get('0.5', float('nan')):>9.3f}{res['mean_tokens']:>8.1f}"
          + (f"{res['legal_step_rate']:>7.3f}" if res["legal_step_rate"] is not None else f"{'-':>7}")
          + f"{res['model_nodes_mean']:>7.1f}")
    for algo, sym in res["symbolic"].items():
        print(f"  symbolic {algo:<6} needs {sym['nodes_mean']:.1f} nodes on average; held to the model's node count "
              f"it solves {sym['acc_at_model_nodes']:.3f}")
    beyond = res["solved_by_model_not_symbolic_at_same_nodes"]
    print("  problems the model solved that no symbolic search solved within the model's node count: "
          + ("n/a (its text names no nodes)" if beyond is None else str(beyond)))
    strata = by_stratum(res["per_problem"])
    print("  greedy by stratum: " + ", ".join(f"{name.replace('_', ' ')} {st['greedy_acc']:.3f} (n = {st['n_problems']})"
                                              for name, st in strata.items())
          + f"; answers emitted {res['answer_rate']:.3f}")


def save_json(path, obj):
    with atomic_write(path) as f:
        json.dump(obj, f)


def main(argv=None):
    p = argparse.ArgumentParser(description="Evaluate a checkpoint on held-out problems with the strict verifier.",
                                epilog="examples:\n  python evaluate.py --ckpt runs/x/ckpt.pt --problems data/test.jsonl --out eval.json\n"
                                       "  python evaluate.py --compare a.json b.json\n"
                                       "  python evaluate.py --compare a.json b.json --compare-k 16",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", help="checkpoint written by train_sft.py or train_rl.py")
    p.add_argument("--problems", help="problems in the interchange format: JSONL, or a JSON array (SoS's files)")
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--n", type=int, default=32, help="samples per problem for pass@k (use n >= 2k)")
    p.add_argument("--k", default="1,8,32", help="comma-separated k values")
    p.add_argument("--tau", default="0.5", help="comma-separated Cover@tau thresholds")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--algos", default=",".join(SYMBOLIC), help="symbolic searches to compare node counts with")
    p.add_argument("--costs", action="store_true", help="count the symbolic searches' trace tokens with their cost fields")
    p.add_argument("--checks", action="store_true", help="... and DFS's with the leaves it checks written (search.py --checks)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N problems")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="cap on generated tokens per sample (default: the model's context; an output cut short is wrong)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", choices=DTYPES, default="auto",
                   help="decoding precision; auto: bf16 on a CUDA GPU, fp32 on a CPU (where bf16 decoded at "
                        "0.86-1.24x fp32 with 16-256 rows, docs/benchmarks.md)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--skip-bad", action="store_true")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="paired comparison of two result files")
    p.add_argument("--compare-k", type=int, default=None, help="with --compare: compare pass@k instead of greedy")
    args = p.parse_args(argv)

    if args.compare:
        res = compare(*args.compare, k=args.compare_k)
        print(f"{res['metric']}: A {res['acc_a']:.3f}  B {res['acc_b']:.3f}  only A {res['only_a']}  only B {res['only_b']}  "
              f"A-B {res['diff']:+.3f}  95% CI [{res['ci95'][0]:+.3f}, {res['ci95'][1]:+.3f}]")
        return res
    if not args.ckpt or not args.problems:
        p.error("give --ckpt and --problems (or --compare)")
    from model import pick_device, resolve_dtype
    device = args.device or pick_device()
    set_threads(device, args.threads)
    model, vocab, task_cls = checkpoint.load(args.ckpt, device)
    try:
        problems, _ = load_problems(args.problems, task_cls, skip_bad=args.skip_bad)
    except (ProblemError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    problems = problems[:args.limit]
    ks = [int(k) for k in args.k.split(",")]
    try:
        res = evaluate(model, vocab, task_cls, problems, args.n, args.temperature, ks, [float(t) for t in args.tau.split(",")],
                       [a for a in args.algos.split(",") if a], device, args.seed, args.batch_size, args.max_new_tokens,
                       resolve_dtype(args.dtype, device)[0], args.costs, args.checks)
    except ValueError as e:
        raise SystemExit(f"error: {args.problems} with {args.ckpt}: {e}") from None
    res = {"ckpt": args.ckpt, "problems": args.problems, "task": task_cls.name, "temperature": args.temperature} | res
    print_table(os.path.basename(os.path.dirname(os.path.abspath(args.ckpt))), res)
    if args.out:
        save_json(args.out, res)
    return res


if __name__ == "__main__":
    main()
