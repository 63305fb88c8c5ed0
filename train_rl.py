"""
RL post-training: make a trace-trained GPT better at what the verifier rewards.

Supervised training taught the model to imitate one search procedure. RL lets it discover which of
its own procedures actually succeed: sample G completions per problem (the model's own traces, with
the log-probability of every token), score each with a reward built on the strict verifier, and push
up the log-probability of completions that did better than their siblings. The algorithms differ only
in small, swappable pieces:

- reinforce: advantage = reward - mean reward of the group (`--rloo`: the mean of the OTHER G-1
  samples, an unbiased leave-one-out baseline). One gradient step per batch, on-policy.
- grpo: advantage = (r - mean) / std within the group (`--no-std` drops the division: Dr. GRPO); the
  policy ratio to the sampling policy is clipped PPO-style, which allows `--ppo-epochs` > 1 passes
  over the same samples; `--kl BETA` adds a penalty to the frozen starting model (k3 estimator).
- expert-iteration (STaR / Searchformer bootstrapping): keep the correct samples (shortest first),
  fine-tune on them with the SFT loss, repeat.

`--norm token` averages the loss over all generated tokens of the batch (long traces weigh more);
`--norm sequence` averages each sequence first. A group whose G rewards are all equal has zero
advantage and teaches nothing: its fraction is logged, because it is usually why RL stalls.

What a sample earns and how that becomes a loss (the reward, the advantages, the clipped ratio and
the KL term) is the chapter before this one: rl_objective.py.
"""
import argparse
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass

import torch

import budget
import runlog
import checkpoint
from checkpoint import config_differences, load_checkpoint, save_checkpoint
from distributed import average_gradients, finish_distributed, gather_shards, global_sum, init_distributed, set_threads
from evaluate import complete, encode_prompts, evaluate, summarize
from model import DTYPES, pick_device, resolve_dtype
from rl_objective import advantages, completion_logprobs, judge, kl_k3, policy_loss, sequences
from tasks import ProblemError, load_problems


# ------------------------------------------------------------------------------------------------
# the optimizer step

def update(model, optimizer, loss, grad_clip, world):
    """One optimizer step on `loss`: zero the gradients, backpropagate, then `step`."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return optimizer_step(model, optimizer, grad_clip, world)


def optimizer_step(model, optimizer, grad_clip, world):
    """The optimizer step on the gradients accumulated so far, averaged over ranks first (every rank
    made its own rollouts: distributed.average_gradients). Returns the gradient norm; a non-finite
    one skips the step, so that the weights (and the next checkpoint) stay good while the caller
    stops the run."""
    average_gradients(model, world)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip).item()
    if math.isfinite(norm):
        optimizer.step()
    return norm


# ------------------------------------------------------------------------------------------------
# one RL step, generic over the reward so that it can be tested on a toy problem

@dataclass
class RLConfig:
    """The settings one RL step needs (train_rl's flags of the same names)."""
    algo: str = "grpo"            # reinforce | grpo | expert-iteration
    group: int = 8                # samples per prompt
    temperature: float = 1.0
    max_new_tokens: int | None = None
    rloo: bool = False
    use_std: bool = True
    ppo_epochs: int = 1
    clip: float = 0.2
    kl: float = 0.0
    norm: str = "token"
    grad_clip: float = 1.0
    micro_batch: int | None = None  # rows per forward/backward in the update (None: all at once)
    dtype: str = "auto"             # the forward passes' precision (model.autocast_ctx)
    entropy: float = 0.0            # weight of the entropy bonus
    rounds: int = 1                 # dynamic sampling: draw up to this many batches of prompts per step


def rollouts(model, vocab, prompts, reward_fn, cfg, generator, device):
    """cfg.group samples per prompt, judged. Returns (flat prompts, completions, rewards, correct,
    statistics)."""
    model.eval()
    flat = [p for p in prompts for _ in range(cfg.group)]
    outs = complete(model, vocab, flat, cfg.temperature, batch_size=len(flat), device=device,
                    seed=int(torch.randint(0, 2**31, (1,), generator=generator)), max_new_tokens=cfg.max_new_tokens,
                    dtype=cfg.dtype)
    completions = [ids for ids, _ in outs]
    judged = [reward_fn(i // cfg.group, ids) for i, ids in enumerate(completions)]
    rewards = torch.tensor([r for r, _, _ in judged], dtype=torch.float32)
    correct = [c for _, c, _ in judged]
    groups = rewards.view(-1, cfg.group)
    stats = {"reward": rewards.mean().item(), "reward_std": rewards.std().item() if len(rewards) > 1 else 0.0,
             "correct": statistics.fmean(correct),
             "zero_var_groups": (groups.max(1).values == groups.min(1).values).float().mean().item(),
             "gen_len": statistics.fmean(map(len, completions)), "gen_tokens": sum(map(len, completions))}
    for key in ("nodes", "backtracks"):  # what the completions did, where the reward says
        if all(key in info for _, _, info in judged):
            stats[key] = statistics.fmean(info[key] for _, _, info in judged)
    if all("steps" in info for _, _, info in judged) and sum(info["steps"] for _, _, info in judged):
        stats["legal_step_rate"] = sum(i["legal_steps"] for _, _, i in judged) / sum(i["steps"] for _, _, i in judged)
    model.train()
    return flat, completions, rewards, correct, stats


# assignment: expert-iteration
def expert_iteration_step(model, optimizer, vocab, prompts, reward_fn, cfg, generator, device="cpu", world=1):
    """STaR / Searchformer bootstrapping: sample, keep the shortest correct sample of each prompt,
    and fine-tune on the kept ones with the SFT loss (cfg.ppo_epochs passes)."""
    flat, completions, _, correct, stats = rollouts(model, vocab, prompts, reward_fn, cfg, generator, device)
    keep = []
    for g in range(len(prompts)):
        best = [i for i in range(g * cfg.group, (g + 1) * cfg.group) if correct[i]]
        if best:
            keep.append(min(best, key=lambda i: len(completions[i])))
    stats["kept"] = len(keep)
    if not global_sum(len(keep), world):
        return stats  # nothing correct anywhere: no update (AdamW would still move the weights)
    rows = keep or [0]  # a rank with nothing kept still joins the gradient average, with weight 0
    x, y, mask = sequences([flat[i] for i in rows], [completions[i] for i in rows], vocab.pad)
    x, y, mask = x.to(device), y.to(device), mask.to(device) & bool(keep)
    for _ in range(cfg.ppo_epochs):
        logp = completion_logprobs(model, x, y, mask, cfg.dtype)
        loss = -(logp.sum() / mask.sum().clamp(min=1))
        stats["grad_norm"] = update(model, optimizer, loss, cfg.grad_clip, world)
    stats |= {"loss": loss.item(), "rl_tokens": int(mask.sum().item()) * cfg.ppo_epochs}
    return stats


def sample_groups(model, vocab, prompts, reward_fn, cfg, generator, device):
    """The step's rollouts. With cfg.rounds > 1 (DAPO's dynamic sampling) `prompts` holds cfg.rounds
    batches, rolled out one at a time; only groups whose rewards differ are kept (a group of equal
    rewards has no advantage and only dilutes the update), until a batch's worth is kept or the
    batches run out. Returns the kept (prompts, completions, rewards) and the FIRST batch's statistics
    (what the policy does on fresh prompts), with the prompts drawn and the groups kept."""
    per, G = len(prompts) // cfg.rounds, cfg.group
    flat, completions, rewards = [], [], []
    for r in range(cfg.rounds):
        f, c, rw, _, st = rollouts(model, vocab, prompts[r * per:(r + 1) * per],
                                   lambda g, ids, r=r: reward_fn(r * per + g, ids), cfg, generator, device)
        if r == 0:
            stats = st
        else:  # (the first batch's statistics, but every batch's decoding cost)
            stats["gen_tokens"] += st["gen_tokens"]
        for g in range(per):
            rows = range(g * G, (g + 1) * G)
            if cfg.rounds == 1 or rw[rows[0]:rows[-1] + 1].unique().numel() > 1:
                flat += [f[i] for i in rows]
                completions += [c[i] for i in rows]
                rewards += rw[rows[0]:rows[-1] + 1].tolist()
        if len(flat) >= per * G:
            break
    n = min(len(flat), per * G)
    stats |= {"prompts_drawn": (r + 1) * per, "groups_kept": n // G}
    return flat[:n], completions[:n], torch.tensor(rewards[:n], dtype=torch.float32), stats


def rl_step(model, ref, optimizer, vocab, prompts, reward_fn, cfg, generator, device="cpu", world=1):
    """Sample cfg.group completions for each prompt, reward them, and update the model by policy
    gradient (reinforce / grpo). reward_fn(prompt_index, completion_ids) -> (reward, correct, info).
    A step whose every group has equal rewards carries no signal and changes no weight (AdamW's
    momentum would still move them), unless a KL or entropy term pulls. Returns a dict of statistics."""
    if cfg.algo == "expert-iteration":
        return expert_iteration_step(model, optimizer, vocab, prompts, reward_fn, cfg, generator, device, world)
    flat, completions, rewards, stats = sample_groups(model, vocab, prompts, reward_fn, cfg, generator, device)
    adv = advantages(rewards, cfg.group, cfg.algo, cfg.rloo, cfg.use_std).to(device) if flat else rewards
    signal = bool(flat) and (bool(adv.any()) or cfg.kl > 0 or cfg.entropy > 0)
    if not global_sum(int(signal), world):
        return stats | {"grad_norm": 0.0, "loss": 0.0, "updated": 0}
    x, y, mask = sequences(flat, completions, vocab.pad) if flat else (torch.zeros(0, 1, dtype=torch.long),) * 2 + (
        torch.zeros(0, 1, dtype=torch.bool),)
    # Micro-batches bound the memory of the update: all G x P rollouts at once, padded to the longest,
    # do not fit a GPU once rows run to thousands of tokens. Each micro-batch's loss is weighted by its
    # share of the normalizer (tokens, or sequences), so the summed gradients are the full batch's.
    size = cfg.micro_batch or max(1, len(flat))
    parts = [slice(s, s + size) for s in range(0, len(flat), size)]
    total = mask.sum().clamp(min=1) if cfg.norm == "token" else torch.tensor(max(1, len(flat)))
    weights = [(mask[s].sum() if cfg.norm == "token" else torch.tensor(len(mask[s]))) / total for s in parts]
    x, y, mask = x.to(device), y.to(device), mask.to(device)
    logprobs = lambda m, s, **kw: completion_logprobs(m, x[s], y[s], mask[s], cfg.dtype, cfg.temperature, **kw)
    with torch.no_grad():
        old_logp = torch.cat([logprobs(model, s) for s in parts]) if parts else mask.float()
        ref_logp = torch.cat([logprobs(ref, s) for s in parts]) if ref is not None and parts else None
    epochs = cfg.ppo_epochs if cfg.algo == "grpo" else 1
    ent_sum = 0.0  # the policy's entropy where it sampled, before this step's update
    for epoch in range(epochs):  # (a rank left with no rollouts still joins each gradient average)
        optimizer.zero_grad(set_to_none=True)
        loss, kl_sum = 0.0, 0.0
        for s, w in zip(parts, weights):
            logp, ent = logprobs(model, s, entropy=True)
            part = policy_loss(logp, old_logp[s], adv[s], mask[s], cfg.clip, None if ref_logp is None else ref_logp[s],
                               cfg.kl, cfg.norm, ent, cfg.entropy)
            (part * w.item()).backward()  # (one part: w is exactly 1.0, and so is the gradient's scale)
            loss += part.item() * w.item()
            ent_sum += ent.detach().sum().item() if epoch == 0 else 0.0
            if ref_logp is not None:
                kl_sum += (kl_k3(logp.detach(), ref_logp[s]) * mask[s]).sum().item()
        stats["grad_norm"] = optimizer_step(model, optimizer, cfg.grad_clip, world)
    n_tok = mask.sum().clamp(min=1).item()
    stats |= {"entropy": ent_sum / n_tok, "surprisal": -old_logp.sum().item() / n_tok, "loss": loss, "updated": 1,
              "rl_tokens": int(mask.sum().item()) * epochs}  # completion tokens back-propagated (the SFT count's analogue)
    if ref_logp is not None:
        stats["kl"] = kl_sum / n_tok
    return stats


# ------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="RL post-training of a checkpoint against the strict verifier.",
                                epilog="example: python train_rl.py --init runs/astar/ckpt.pt --problems data/train.jsonl "
                                       "--val data/test.jsonl --out runs/astar_grpo --algo grpo")
    p.add_argument("--init", required=True, help="starting checkpoint (from train_sft.py)")
    p.add_argument("--problems", required=True, help="training problems (interchange JSONL)")
    p.add_argument("--val", help="held-out problems for greedy accuracy / pass@k during training")
    p.add_argument("--out", required=True, help="run folder: ckpt.pt, log.jsonl, rl.png")
    p.add_argument("--algo", choices=["reinforce", "grpo", "expert-iteration"], default="grpo")
    p.add_argument("--rloo", action="store_true", help="reinforce: leave-one-out baseline")
    p.add_argument("--no-std", action="store_true", help="grpo: do not divide advantages by the group std (Dr. GRPO)")
    p.add_argument("--ppo-epochs", type=int, default=1, help="grpo: passes over each batch (clipped ratio); "
                   "expert-iteration: SFT passes over the kept samples")
    p.add_argument("--clip", type=float, default=0.2)
    p.add_argument("--kl", type=float, default=0.0, help="KL penalty to the starting model (k3)")
    p.add_argument("--norm", choices=["token", "sequence"], default="token")
    p.add_argument("--group", type=int, default=8, help="samples per prompt (G)")
    p.add_argument("--prompts", type=int, default=16, help="prompts per step")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature; for reinforce/grpo the policy IS the tempered distribution "
                        "softmax(logits / T), whose log-probs the update uses, so the update stays on-policy")
    p.add_argument("--entropy", type=float, default=0.0, help="weight of an entropy bonus per token (reinforce/grpo)")
    p.add_argument("--dynamic-rounds", type=int, default=1,
                   help="dynamic sampling (DAPO): draw up to this many batches of prompts per step and train only on "
                        "groups whose rewards differ (1: off)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="cap on generated tokens (default: the context)")
    p.add_argument("--budget", type=int, default=None,
                   help="the budget the run is judged within (its validation's val_acc_within_budget; default: "
                        "--max-new-tokens). Rollouts may run longer than it: expert iteration then keeps the "
                        "shortest verified sample of a search that does not fit yet")
    p.add_argument("--micro-batch", type=int, default=None,
                   help="rollouts per forward/backward in the update, gradients accumulated (default: all at once; "
                        "lower it when long rollouts do not fit the GPU's memory)")
    p.add_argument("--format-reward", type=float, default=0.0, help="reward for a well-formed wrong answer")
    p.add_argument("--legal-trace", action="store_true",
                   help="reward a verified answer only if every clause of the trace before it is legal")
    p.add_argument("--gamma", type=float, default=None, help="discount a correct answer by gamma^tokens")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-n", type=int, default=100)
    p.add_argument("--eval-samples", type=int, default=8, help="samples per problem for pass@k during training")
    p.add_argument("--no-initial-eval", action="store_true", help="skip evaluating the starting checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", choices=DTYPES, default="auto",
                   help="precision of sampling and the update; auto: bf16 on a CUDA GPU, fp32 on a CPU "
                        "(RL is mostly decoding, which bf16 does not speed up there; docs/benchmarks.md)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--skip-bad", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.temperature <= 0:
        p.error("--temperature must be positive (sampling; greedy decoding is for evaluation)")
    if args.group < 2 and args.algo != "expert-iteration":
        p.error("--group must be at least 2: advantages compare samples of the same prompt")
    for name in ("steps", "prompts", "ppo_epochs", "eval_every", "dynamic_rounds"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    # the reward's documented range is [0, 1]; these two are the only ways a user could leave it
    if not 0.0 <= args.format_reward <= 1.0:
        p.error("--format-reward must lie in [0, 1]")
    if args.gamma is not None and not 0.0 < args.gamma <= 1.0:
        p.error("--gamma must lie in (0, 1]")
    if args.budget is None:
        args.budget = args.max_new_tokens
    elif args.budget <= 0:
        p.error("--budget must be positive")
    return args


def train(args):
    from tqdm import tqdm
    device = args.device or pick_device()
    set_threads(device, args.threads)
    rank, world, device = init_distributed(device)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path, log_path = os.path.join(args.out, "ckpt.pt"), os.path.join(args.out, "log.jsonl")
    model, vocab, task_cls = checkpoint.load(args.init, device)
    try:
        problems, skipped = load_problems(args.problems, task_cls, skip_bad=args.skip_bad)
        val, skipped_val = load_problems(args.val, task_cls, skip_bad=args.skip_bad) if args.val else (None, 0)
    except (ProblemError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    if rank == 0 and skipped + skipped_val:
        print(f"skipped {skipped + skipped_val} malformed problem lines")
    val = val[:args.eval_n] if val else None
    dtype, why = resolve_dtype(args.dtype, device)
    if rank == 0:
        print(f"precision {dtype} ({why})")
    # the frozen starting model: the KL penalty's anchor, and in any case the yardstick of how far RL moved
    ref = checkpoint.load(args.init, device)[0].eval()
    ref.requires_grad_(False)
    cfg = RLConfig(args.algo, args.group, args.temperature, args.max_new_tokens, args.rloo, not args.no_std,
                   args.ppo_epochs, args.clip, args.kl, args.norm, args.grad_clip, args.micro_batch, dtype, args.entropy,
                   args.dynamic_rounds)
    prompts = encode_prompts(vocab, task_cls, problems)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    step = 0
    if args.resume and os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path)
        diff = config_differences(ckpt["config"], model.config, ckpt_path)
        if ckpt["vocab"] != vocab.itos or diff:
            diff = diff or "the vocabularies differ (field 'vocab')"
            raise SystemExit(f"error: {ckpt_path} does not continue {args.init}: {diff}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step = ckpt["step"]
        if rank == 0:
            runlog.trim_log(log_path, step)
            print(f"resumed {ckpt_path} at step {step}")
    elif rank == 0 and os.path.exists(log_path):
        os.remove(log_path)
    torch.manual_seed(args.seed)

    def log(row):
        if rank == 0:
            runlog.append(log_path, row)

    def save():
        if rank == 0:
            save_checkpoint(ckpt_path, model=model.state_dict(), optimizer=optimizer.state_dict(),
                            config=asdict(model.config), vocab=vocab.itos, task=task_cls.name, step=step,
                            rng=torch.get_rng_state(), args={k: v for k, v in vars(args).items()
                                                             if isinstance(v, (int, float, str, bool))})

    def run_eval():
        # every rank evaluates its share of the held-out problems; rank r's records come back in
        # their original places, so the summary is computed as if one process had done it all
        ks = [k for k in (1, 8, 32, 64) if k <= args.eval_samples]
        shard = val[rank::world]
        rows = evaluate(model, vocab, task_cls, shard, n=args.eval_samples, temperature=1.0, ks=ks, algos=(),
                        device=device, seed=args.seed + rank, dtype=dtype)["per_problem"] if shard else []
        rows = gather_shards(rows, len(val), rank, world)
        res = summarize(rows, ks)
        row = {"step": step, "val_acc": res["greedy_acc"], "val_legal_step_rate": res["legal_step_rate"],
               "val_tokens": res["mean_tokens"], **{f"pass@{k}": v["mean"] for k, v in res.get("pass_at_k", {}).items()}}
        if args.budget:  # evaluation decodes unbounded; within the budget is read off the lengths
            row["val_acc_within_budget"] = statistics.fmean(budget.greedy_within(rows, args.budget))
        log(row)
        return row

    if val and step == 0 and not args.no_initial_eval:
        before = run_eval()
        if rank == 0:
            tqdm.write(f"before RL: {before}")
    bar = tqdm(total=args.steps, initial=step, disable=rank != 0 or args.quiet, desc=f"rl {args.algo}")
    t0 = time.time()
    while step < args.steps:
        # which prompts a step uses is a pure function of (seed, step, rank): resumable, disjoint per rank
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step * 7919 + rank)
        pick = torch.randint(0, len(prompts), (args.prompts * args.dynamic_rounds,), generator=gen).tolist()
        tasks = [task_cls(problems[i]) for i in pick]
        stats = rl_step(model, ref, optimizer, vocab, [prompts[i] for i in pick],
                        lambda g, ids: judge(tasks[g], vocab.decode(ids), args.format_reward, args.gamma,
                                             finished=bool(ids) and ids[-1] == vocab.eos, legal=args.legal_trace),
                        cfg, gen, device, world)
        step += 1
        stats["reward"] = global_sum(stats["reward"], world) / world
        log({"step": step, **stats, "time": time.time() - t0})
        bar.update(1)
        bar.set_postfix(reward=f"{stats['reward']:.3f}", zero_var=f"{stats['zero_var_groups']:.2f}")
        for what in ("loss", "grad_norm"):
            if not math.isfinite(stats.get(what, 0.0)):
                raise SystemExit(f"error: {what} is {stats[what]} at RL step {step}; stopping without saving. "
                                 f"Last good checkpoint: {ckpt_path if os.path.exists(ckpt_path) else args.init}")
        if val and (step % args.eval_every == 0 or step == args.steps):
            row = run_eval()
            if rank == 0:
                bar.write(f"step {step}: {row}")
        if step % args.eval_every == 0 or step == args.steps:
            save()
    bar.close()
    if rank == 0:
        runlog.plot_log(log_path, os.path.join(args.out, "rl.png"), f"{args.algo} from {args.init}",
                        ["reward", "zero_var_groups"], ["val_acc"], xlabel="RL step")
        print(f"done: {step} RL steps in {time.time() - t0:.0f}s; checkpoint {ckpt_path}")
    finish_distributed(world)
    return ckpt_path


if __name__ == "__main__":
    train(parse_args())
