"""
RL's objective: what one sampled completion earns, and the loss that turns it into a gradient.

RL post-training (train_rl.py) samples G completions of each prompt from the model and scores each
with a reward built on the strict verifier. This file is everything between the score and the
gradient, and none of it knows how the samples were drawn:

1. `judge`: the reward. The model's text is replayed by linearize.parse against the task's rules;
   its own claims count for nothing.
2. `advantages`: how much better a sample did than its siblings. REINFORCE subtracts the group's
   mean (or, with RLOO, the mean of the other G-1); GRPO also divides by the group's std. A group
   whose G rewards are equal gets zero everywhere: it teaches nothing.
3. `policy_loss`: -A x log p, written as PPO's clipped ratio so that the same samples can be used for
   more than one pass, plus an optional KL penalty to the starting model (`kl_k3`) and an entropy
   bonus.
4. `sequences` and `completion_logprobs`: the prompt+completion rows and the log-probability of
   every completion token under the policy that sampled it (the tempered one, at temperature T).

The reward: 1 for an answer the verifier accepts, 0 otherwise -- unparseable text and the model's
own claims included. Optional: `--format-reward F` for a well-formed but wrong answer (TinyZero's
0.1), and `--gamma` multiplies a correct answer's reward by gamma^tokens (Meta-CoT's discount:
cheaper searches earn more).
"""
import torch

import linearize
from model import autocast_ctx


# ------------------------------------------------------------------------------------------------
# 1. the reward

def judge(task, tokens, format_reward=0.0, gamma=None, finished=True, legal=False):
    """(reward, correct, what the text did) of one completion (a list of token strings): its nodes,
    legal and all clauses, and backtracks. `finished`: the completion ended (an output cut off by its
    budget earns nothing, whatever it says). `legal`: only a trace whose every clause is legal counts
    (a search that jumps between cells to reach a right answer sooner earns nothing). The reward's
    documented range is [0, 1]. Never raises."""
    parsed = linearize.parse(task, tokens)
    correct = parsed.correct and finished and (parsed.legal or not legal)
    if correct:
        value = gamma ** len(tokens) if gamma is not None else 1.0
    else:
        value = format_reward if parsed.answer is not None and finished else 0.0
    return value, correct, {"nodes": parsed.nodes, "legal_steps": parsed.legal_steps, "steps": parsed.steps,
                            "backtracks": sum(t == "back" for t in tokens)}


def reward(task, tokens, format_reward=0.0, gamma=None):
    return judge(task, tokens, format_reward, gamma)[0]


# ------------------------------------------------------------------------------------------------
# 2-4. the pieces that differ between algorithms, and the log-probs they need

# assignment: grpo
def advantages(rewards, group, algo="grpo", rloo=False, use_std=True, eps=1e-6):
    """rewards: (P*G,) with each prompt's G samples adjacent. Returns advantages of the same shape."""
    r = rewards.view(-1, group)
    mean = r.mean(dim=1, keepdim=True)
    if algo == "reinforce":
        baseline = (r.sum(dim=1, keepdim=True) - r) / (group - 1) if rloo and group > 1 else mean
        return (r - baseline).flatten()
    adv = r - mean
    if use_std:
        adv = adv / (r.std(dim=1, keepdim=True, unbiased=False) + eps)
    return adv.flatten()


# assignment: grpo
def kl_k3(logp, ref_logp):
    """Per-token KL(policy || reference) estimate, k3 = exp(ref - p) - (ref - p) - 1: unbiased,
    always >= 0, and exactly 0 where the two models agree."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


# assignment: grpo
def policy_loss(logp, old_logp, adv, mask, clip=0.2, ref_logp=None, kl=0.0, norm="token", entropy=None, bonus=0.0):
    """Clipped surrogate (PPO/GRPO). With one pass over fresh samples, ratio == 1 and this is exactly
    REINFORCE's -A * log p gradient. logp/old_logp/ref_logp/entropy/mask: (N, T); adv: (N,). `bonus`
    rewards the policy's entropy at each token, against the collapse to one output per prompt."""
    ratio = torch.exp(logp - old_logp)
    a = adv[:, None]
    per_token = -torch.minimum(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a)
    if ref_logp is not None and kl:
        per_token = per_token + kl * kl_k3(logp, ref_logp)
    if entropy is not None and bonus:
        per_token = per_token - bonus * entropy
    mask = mask.float()
    if norm == "token":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def sequences(prompts, completions, pad_id):
    """Right-padded [prompt + completion] rows, the targets' positions and a mask of completion
    tokens, for recomputing log-probs: right padding keeps every row's positions starting at 0."""
    rows = [p + c for p, c in zip(prompts, completions)]
    T = max(map(len, rows))
    idx = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T - 1, dtype=torch.bool)
    for b, (p, c) in enumerate(zip(prompts, completions)):
        idx[b, :len(p) + len(c)] = torch.tensor(p + c)
        mask[b, len(p) - 1:len(p) + len(c) - 1] = True
    return idx[:, :-1], idx[:, 1:], mask


def completion_logprobs(model, x, y, mask, dtype="auto", temperature=1.0, entropy=False):
    """log p of each completion token (0 elsewhere) under the policy sampled from (softmax(logits /
    temperature)), in fp32; the matmuls in `dtype` (model.autocast_ctx). entropy=True: also the
    policy's entropy per token (0 elsewhere)."""
    with autocast_ctx(x.device.type, dtype):
        out = model.token_logprobs(x, y, temperature, entropy)
    return (out[0] * mask, out[1] * mask) if entropy else out * mask
