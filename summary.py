"""
The summary: the sentences of a report, each a rule applied to the numbers of results.json.

A sentence is written only where its rule allows it: a comparison only between models that passed the
learned gate; "better" or "worse" only where the paired 95% CI excludes 0; no gap cited against a
control that falls below solution-only; RL "expanded" only where pass@k's CI is above 0 and pass@k
started below the ceiling (0.95), "reweighted" only where pass@1's CI is above 0, otherwise "no
detectable change". The trace model is compared at equal data (solution-only) and at equal tokens
(solution-only trained to its tokens, and the two controls), and over training seeds where the run
has them. `report.py` puts these sentences under its tables.
"""
import evaluate


CEILING = 0.95  # a pass@k this high leaves too few unsolved problems for a widened boundary to show


def _verdict(c, better, worse):
    lo, hi = c["ci95"]
    return better if lo > 0 else worse if hi < 0 else "no significant difference"


def _pair(c):
    return f"{c['acc_a']:.3f} vs {c['acc_b']:.3f}, {c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]"


def rl_verdict(e, stratum="needs_search"):
    """"left", "up", "both", "dropped the search" or "no change", from the CIs (rules in the README)."""
    a = e["answer"][stratum]
    ss, lw, lu = a["still_searching"], a["left_within"], a["left_unbounded"]
    not_worse = a["within"]["ci"][1] >= 0
    left = not_worse and any(x["ci"] is not None and x["ci"][1] < 0 for x in (lw, lu))
    up = a["up"] is not None and a["up"]["share"]["ci"][0] > 0
    dropped = ss["start"]["backtracks"] >= 0.5 and ss["rl"]["backtracks"] < 0.1 * ss["start"]["backtracks"]
    way = "both" if left and up else "left" if left else "up" if up else "no change"
    return f"dropped the search ({way})" if dropped else way


def size_summary(sec, t):
    """The size targets of issue 20, for the trace model t: inside the trained sides, and two cells larger."""
    sc = sec.res.get("size_curve")
    if not sc or t is None or "sizes" not in sec.models[t]:
        return []
    e, trained = sec.models[t], sc["trained_sides"]
    inside = [e["sizes"][str(s)]["all"] for s in trained if str(s) in e["sizes"]]
    worst, legal = min(p["greedy"] for p in inside), min(p["legal_step_rate"] or 0 for p in inside)
    out = [f"- {t} on the trained sides {min(trained)}..{max(trained)}: greedy at least {worst:.3f}, legal-step rate at "
           f"least {legal:.3f} (targets 0.90 and 0.95: {'met' if worst >= 0.9 and legal >= 0.95 else 'missed'})."]
    far = str(max(trained) + 2)
    if far in e["sizes"]:
        p, vs = e["sizes"][far], e.get("sizes_vs_solution", {}).get(far)
        line = f"- {t} on {far}x{far} mazes, two cells larger per side than any trained: greedy {p['all']['greedy']:.3f}"
        if vs and sec.learned("sft_solution"):
            line += (f"; against solution-only on needs search {vs['diff']:+.3f} [{vs['ci95'][0]:+.3f}, {vs['ci95'][1]:+.3f}]"
                     f" (targets 0.50 and +0.20: {'met' if p['all']['greedy'] >= 0.5 and vs['diff'] >= 0.2 else 'missed'})")
        out.append(line + ".")
    return out


def rl_boundary_verdict(c1, ck, k):
    """"expanded", "reweighted" or "no detectable change" for an RL run without a budget, from the
    paired CIs of pass@1 (c1) and pass@k (ck) against its start: expanded needs pass@k's CI above 0
    and its start below the ceiling; reweighted needs pass@1's CI above 0."""
    ceiling = ck["acc_b"] >= CEILING
    if ck["ci95"][0] > 0 and not ceiling:
        return "expanded: it solves problems its start never did"
    if ck["ci95"][1] < 0:
        return f"narrowed at k = {k}"
    rose = f"pass@{k} rose too, but from {ck['acc_b']:.3f}, at the ceiling, so no expansion is claimed" if ck["ci95"][0] > 0 \
        else f"pass@{k} at the ceiling ({ck['acc_b']:.3f}): a widened boundary could not show" if ceiling else \
        f"no detectable change at k = {k}"
    return ("reweighted: more often right at k = 1; " if c1["ci95"][0] > 0 else "no detectable change at k = 1; ") + rose


def _ratio(sec, a, b):
    ta, tb = sec.models[a].get("trained_tokens"), sec.models[b].get("trained_tokens")
    return f"{ta / tb:.1f}x" if ta and tb else "?"


def trace_sentences(sec, t):
    """The trace model against solution-only (equal data, then equal tokens) and its controls."""
    out = []
    solution = sec.partner("sft_solution", t)
    for s in evaluate.STRATA:
        c = sec.comparison(t, solution, s)
        if c:
            out.append(f"- {t} vs solution-only ({solution}), {s.replace('_', ' ')} (greedy, n = {c['n']}; equal data, {t} "
                       f"trained on {_ratio(sec, t, solution)} the tokens): {_pair(c)}: "
                       f"{_verdict(c, 'the trace model is better', 'solution-only is better')}.")
    c = sec.comparison(t, "sft_solution_matched", "needs_search")
    if c:
        out.append(f"- {t} vs solution-only trained to its tokens (sft_solution_matched, "
                   f"{_ratio(sec, 'sft_solution_matched', t)} of {t}'s), needs search: {_pair(c)}: "
                   f"{_verdict(c, 'the trace model is better at equal compute', 'solution-only is better at equal compute')}.")
    mine_solution = sec.models.get(solution, {}).get("strata", {}).get("needs_search", {}).get("greedy")
    for control in (sec.partner("sft_swapped", t), sec.partner("sft_shuffled", t)):
        c = sec.comparison(t, control, "needs_search")
        if not c:
            continue
        mine = sec.models[control]["strata"]["needs_search"]["greedy"]
        if mine_solution is not None and sec.learned(solution) and mine < mine_solution:
            out.append(f"- The {control[4:].split('_seed')[0]}-trace control ({control}) solves {mine:.3f} of the needs-search mazes, below "
                       f"solution-only ({mine_solution:.3f}): its tokens hurt, so no gap against it is cited (the table has it).")
            continue
        answers_only = sec.models[control]["gate"].get("rule", "").startswith("answers")
        out.append(f"- {t} vs the {control[4:].split('_seed')[0]}-trace control ({control}: the same tokens, no search in "
                   f"them), needs search: {_pair(c)}: "
                   f"{_verdict(c, 'the search in the trace matters, not only its tokens', 'the control did better')}"
                   + (" (the control is gated on its answers alone, its data's clauses seldom legal: it is compared as a "
                      "model that answers, and says nothing of a search)" if answers_only else "") + ".")
    return out


def seed_sentences(sec):
    """The headline pairs over training seeds, over the seeds at which both models passed the gate."""
    seeds = sec.res.get("seeds") or {}
    out = []
    for p in seeds.get("pairs", []):
        if not p["seeds"]:
            out.append(f"- Over training seeds, {p['a']} − {p['b']}: not compared, no seed at which both passed the gate.")
            continue
        x = p["strata"]["needs_search"]
        seeds_ = lambda xs: ("seed " if len(xs) == 1 else "seeds ") + ", ".join(map(str, xs))
        left = f"; {seeds_(p['left_out'])} left out, a model not learned" if p["left_out"] else ""
        out.append(f"- Over training {seeds_(p['seeds'])}{left}: {p['a']} − {p['b']}, needs search "
                   f"({p['metric']}): {x['diff']:+.3f} [{x['ci95'][0]:+.3f}, {x['ci95'][1]:+.3f}] (a CI over seeds and "
                   f"problems): {_verdict(x, 'A is better', 'B is better')}.")
    return out


def format_sentences(sec):
    """Which trace format is best to learn from (formats.formats): each learned format against the DFS
    model on needs search, and where a format did not learn, where its curve says it would."""
    table, out = sec.res.get("formats") or {}, []
    if not table:
        return out
    first = next(iter(table))
    for m, r in list(table.items())[1:]:
        if not r["learned"] and r["to_gate"]:
            out.append(f"- {m} passed the gate on validation (first at step {r['to_gate']['step']}) but not on the test set "
                       "and at its end together: not learned.")
        elif not r["learned"]:
            where = r["steps_to_gate"]
            out.append(f"- {m} did not pass the gate in {r['steps']} steps" + (f"; its last two validation points reach "
                       f"it at ~{where} steps (a straight-line extrapolation)." if where else "; its curve is not rising toward it."))
        elif table[first]["learned"]:
            c = r["vs_dfs"]["needs_search"]
            out.append(f"- {m} − {first}, needs search: {_pair(c)}: {_verdict(c, f'{m} better', f'{first} better')}; "
                       f"{_num(r['tokens_per_solved'])} tokens per solved maze against {_num(table[first]['tokens_per_solved'])}.")
    return out


def frontier_sentences(sec):
    """The data-size frontier (formats.frontier): at which multiple of the trace model's data solution-only
    is no longer detectably behind it on needs search, among the sizes trained."""
    fr = sec.res.get("frontier") or {}
    ref = fr.get("reference")
    if not ref or not sec.learned(ref["model"]):
        return []
    out = []
    for n, c in sorted(fr["catch_up"].items(), key=lambda kv: int(kv[0])):
        m = fr["solution"][n]["model"]
        if not sec.learned(m) or c["multiple"] <= 1:
            continue
        out.append(f"- Solution-only on {int(n):,} problems ({c['multiple']:g}x the data) − {ref['model']} on "
                   f"{ref['train_problems']:,}, needs search: {_pair(c)}: "
                   f"{_verdict(c, 'solution-only ahead', 'solution-only still behind')}.")
    return out


def summary(sec):
    out = [f"**What this {sec.task} run shows.**"]
    unlearned = [m for m, e in sec.models.items() if "gate" in e and not e["gate"]["passed"]]
    if unlearned:
        out.append(f"- Not learned (no conclusions drawn from them): {', '.join(unlearned)}.")
    t = sec.trace_model()
    if t is None:
        out.append("- No full-data trace model passed the learned gate, so this run cannot compare trace "
                   "training with anything.")
    else:
        out += trace_sentences(sec, t)
        small = f"{t}_small"
        c = sec.comparison(small, "sft_solution_small", "all")
        if c:
            out.append(f"- With {sec.models[small]['train_problems']} training problems: {small} vs sft_solution_small "
                       f"{_pair(c)}: {_verdict(c, 'traces win with less data', 'solution-only wins with less data')}.")
        out += size_summary(sec, t)
    out += format_sentences(sec) + frontier_sentences(sec) + seed_sentences(sec)
    for m, e in sec.models.items():
        if e["kind"] != "rl" or "answer" in e or "vs_init" not in e or e.get("seed", 0) or not sec.learned(e["init"]) \
                or not sec.learned(m):
            continue
        c1, ck = e["vs_init"]["pass@1"]["all"], e["vs_init"][f"pass@{sec.n}"]["all"]
        out.append(f"- {m} vs {e['init']}: **{rl_boundary_verdict(c1, ck, sec.n)}**. pass@1 {_pair(c1)}; pass@{sec.n} "
                   f"{_pair(ck)} (solved only after RL {ck['only_a']}, only before {ck['only_b']}).")
    for m, e in sec.budgeted_runs():
        a, b = e["answer"]["needs_search"], e["answer"]["budget"]
        lw, up = a["left_within"], a["up"]
        out.append(f"- {m}, RL from {e['init']} under a budget of {b} tokens, needs search: **{rl_verdict(e)}**. Within "
                   f"B: {a['within']['b']:.3f} → {a['within']['a']:.3f} ({_verdict(_as_compare(a['within']), 'better', 'worse')}); "
                   f"unbounded: {a['unbounded']['b']:.3f} → {a['unbounded']['a']:.3f} "
                   f"({_verdict(_as_compare(a['unbounded']), 'better', 'worse')}); tokens per solved problem within B "
                   f"{_num(lw['b'])} → {_num(lw['a'])}" + (f" ({100 * lw['change']:+.0f} %)" if lw['change'] is not None else "")
                   + (f"; solved by it alone within B: {up['count']} of {up['n']}" if up else "")
                   + (f" (a search that never backs up: at most {round(a['ceilings']['up'] * up['n'])}; within B at most "
                      f"{a['ceilings']['within']:.3f})" if up and a.get("ceilings") and a["ceilings"]["up"] is not None else "") + ".")
    n_seeds = max([len(t["seeds"]) for t in (sec.res.get("seeds") or {}).get("models", {}).values()], default=1)
    seeds = "One training seed per model" if n_seeds == 1 else f"{n_seeds} training seeds for the headline models"
    out.append(f"\n**What it does not show.** {seeds}, {sec.res['test_problems']['needs_search']} + "
               f"{sec.res['test_problems']['direct']} test problems{'' if sec.res.get('size_curve') else ', one problem size'} and small "
               "models trained for minutes: "
               "differences inside the CIs are noise, and nothing here speaks for larger scales.\n")
    return out


def _as_compare(p):
    return {"ci95": p["ci"]}


def _num(x):
    return "–" if x is None else f"{x:.1f}"
