"""
Sizes: does the search a model learned carry over to mazes of sizes it never trained on?

An algorithm does not care how big its input is: depth-first search on a 10x10 maze is the same
procedure as on a 6x6 one. A model that learned a pattern of its training board does care. The size
curve asks directly: for each maze side, held-out test mazes drawn as the main test set is (as many
that need search as that do not), each model decoding greedily, scored by the strict verifier, and
the rate of legal trace clauses beside it. A model that implements the search keeps both up at a
size it never saw; one that memorized its board loses the legal-step rate first.

What can be asked depends on the encoding (tasks/maze.py). In `maze`, a cell is one token, so the
cells of a maze larger than any trained one are embeddings nothing trained. `maze-canvas` draws each
maze at its own offset inside a 12x12 canvas: trained on smaller mazes, every canvas cell is trained,
and a larger maze is spelled in trained tokens only. The pilots behind the choice are in
docs/design.md ("Maze sizes").

    python sizes.py --ckpt runs/cpu-sizes/maze-canvas/sft_dfs/ckpt.pt --sizes 4-10 --n 50 --out sizes.json
    python sizes.py --ckpt ... --sizes 10 --n 20 --show 3      # a few failing traces, where each goes wrong
"""
import argparse
import os
import random

import checkpoint
import evaluate
import linearize
import search
from tasks import load_problems, write_jsonl
from tasks.maze import parse_sizes


def stratified(task_cls, n, draw, first_round=100, rounds=100):
    """n problems that need search and n that do not, taken in order from draw(round) for round =
    first_round, first_round + 1, ... (each call: a list of problems). Deterministic given draw."""
    chosen, counts = [], {True: 0, False: 0}
    for r in range(first_round, first_round + rounds):
        for problem in draw(r):
            kind = search.needs_search(task_cls(problem))
            if counts[kind] < n:
                counts[kind] += 1
                chosen.append(problem)
        if min(counts.values()) >= n:
            return chosen
    raise SystemExit(f"error: could not draw {n} problems of each stratum in {rounds} rounds; change the sizes")


def size_test(task_cls, side, n, seed=0, split="test", **options):
    """The stratified held-out test set of one maze side (2n problems), the same for the same seed."""
    draw = lambda r: task_cls.generate(max(50, 2 * n), random.Random(f"{seed}/{side}/{r}"), split,
                                       sizes=[side], **options)
    return stratified(task_cls, n, draw)


def write_size_tests(task_cls, sides, n, folder, seed=0, **options):
    """data/size{S}.jsonl for each side; returns {side: path}."""
    paths = {}
    for side in sides:
        paths[side] = os.path.join(folder, f"size{side}.jsonl")
        write_jsonl(paths[side], size_test(task_cls, side, n, seed, **options))
    return paths


def trained_sides(task_cls, generate_flags):
    """The maze sides a preset's training mazes have (its search.py generation flags)."""
    opts = task_cls.generate_options(generate_flags)
    return opts.get("sizes") or sorted({opts["height"], opts["width"]})


def point(rows):
    """One size's numbers per stratum: greedy accuracy (with its CI), legal-step rate, answer rate."""
    return {name: {"n": s["n_problems"], "greedy": s["greedy_acc"], "greedy_ci": s["greedy_acc_ci"],
                   "legal_step_rate": s["legal_step_rate"], "answer_rate": s["answer_rate"], "tokens": s["mean_tokens"]}
            for name, s in evaluate.by_stratum(rows, ks=()).items()}


def _fits(vocab, task_cls, problem, block_size):
    try:
        return len(vocab.encode(linearize.prompt_tokens(task_cls(problem)))) < block_size
    except ValueError:  # larger than the encoding spells (a ProblemError), or words it does not have
        return False


def greedy_rows(model, vocab, task_cls, problems, batch_size=256, dtype="fp32"):
    """evaluate.evaluate's per-problem records, greedy only. A maze too large for the model's context
    (or its encoding) is a wrong answer, not a crash."""
    fits = [_fits(vocab, task_cls, p, model.config.block_size) for p in problems]
    done = evaluate.evaluate(model, vocab, task_cls, [p for p, ok in zip(problems, fits) if ok], n=0, algos=(),
                             batch_size=batch_size, dtype=dtype)["per_problem"] if any(fits) else []
    it = iter(done)
    return [next(it) if ok else {"problem": p, "greedy": 0, "answered": 0, "tokens": 0, "steps": 0, "legal_steps": 0,
                                 "needs_search": search.needs_search(task_cls(p)), "error": "does not fit the context",
                                 "n": 0, "c": 0, "nodes": 0, "sym_nodes": {}, "sym_at_model_nodes": {},
                                 "sym_any_at_model_nodes": 0}
            for p, ok in zip(problems, fits)]


def curve(ckpt, paths, batch_size=256, dtype="fp32"):
    """For one checkpoint over the size tests {side: problem file}: {side: {"strata": point, "greedy":
    per-problem 0/1, "needs_search": per-problem stratum}} (the lists, in file order, pair two models)."""
    model, vocab, task_cls = checkpoint.load(ckpt)
    out = {}
    for side, path in sorted(paths.items()):
        rows = greedy_rows(model, vocab, task_cls, load_problems(path, task_cls)[0], batch_size, dtype)
        out[str(side)] = {"strata": point(rows), "greedy": [r["greedy"] for r in rows],
                          "needs_search": [int(r["needs_search"]) for r in rows]}
    return out


def versus(a, b, stratum="needs_search"):
    """{side: paired comparison of curve a against curve b} on one stratum (the same problems)."""
    out = {}
    for side in a.keys() & b.keys():
        rows = lambda c: [{"greedy": g, "needs_search": k} for g, k in zip(c[side]["greedy"], c[side]["needs_search"])]
        keep = evaluate.STRATA[stratum]
        c = evaluate.compare_rows([r for r in rows(a) if keep(r)], [r for r in rows(b) if keep(r)])
        out[side] = {"n": c["n"], "diff": c["diff"], "ci95": c["ci95"]}
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def failures(ckpt, problems, k=3):
    """Up to k greedy outputs that are wrong, each with the first thing that went wrong in it."""
    model, vocab, task_cls = checkpoint.load(ckpt)
    problems = [p for p in problems if _fits(vocab, task_cls, p, model.config.block_size)]
    outs = evaluate.complete(model, vocab, evaluate.encode_prompts(vocab, task_cls, problems), batch_size=256, dtype="fp32")
    out = []
    for p, (ids, _) in zip(problems, outs):
        parsed = evaluate.score(task_cls(p), vocab, ids)
        if not parsed.correct and len(out) < k:
            out.append({"problem": p, "text": " ".join(vocab.decode(ids)), "error": parsed.error})
    return out


def _rate(x):
    return "-" if x is None else f"{x:.3f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", action="append", required=True, help="a checkpoint (repeatable)")
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("4-10"), help="maze sides: 4-10 or 4,8,10")
    p.add_argument("--n", type=int, default=50, help="test mazes per stratum and size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="sizes_data", help="where the size tests are written (and read, if there)")
    p.add_argument("--out", default=None, help="write {ckpt: {side: point}} here as JSON")
    p.add_argument("--show", type=int, default=0, help="print this many failing traces at the largest size")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    from distributed import set_threads
    set_threads("cpu", args.threads)
    task_cls = checkpoint.load(args.ckpt[0])[2]
    os.makedirs(args.data, exist_ok=True)
    paths = {s: os.path.join(args.data, f"size{s}.jsonl") for s in args.sizes}
    missing = [s for s, path in paths.items() if not os.path.exists(path)]
    write_size_tests(task_cls, missing, args.n, args.data, args.seed)
    results = {}
    for ckpt in args.ckpt:
        results[ckpt] = curve(ckpt, paths)
        print(ckpt)
        print("  side  all    needs  direct  legal(needs)")
        for side, pt in ((s, c["strata"]) for s, c in results[ckpt].items()):
            print(f"  {side:>4}  {pt['all']['greedy']:.3f}  {pt['needs_search']['greedy']:.3f}  "
                  f"{pt['direct']['greedy']:.3f}   {_rate(pt['needs_search']['legal_step_rate'])}")
        if args.show:
            side = max(args.sizes)
            for f in failures(ckpt, load_problems(paths[side], task_cls)[0], args.show):
                print(f"  {side}x{side}: {f['error']}\n    {f['text'][:300]}")
    if args.out:
        evaluate.save_json(args.out, results)


if __name__ == "__main__":
    main()
