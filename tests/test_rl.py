"""RL pieces by hand, the reward on adversarial text, and every algorithm on a toy problem."""
import random

import pytest
import torch

import linearize
import rl_objective
import train_rl
from model import GPT, GPTConfig
from tasks.countdown import Countdown
from tasks.maze import Maze


def test_group_mean_and_rloo_baselines():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])  # two groups of three
    assert torch.allclose(rl_objective.advantages(r, 3, "reinforce"),
                          torch.tensor([2 / 3, -1 / 3, -1 / 3, 0, 0, 0]))
    # leave-one-out: sample 0's baseline is the mean of samples 1 and 2, i.e. 0
    assert torch.allclose(rl_objective.advantages(r, 3, "reinforce", rloo=True),
                          torch.tensor([1.0, -0.5, -0.5, 0, 0, 0]))


def test_grpo_advantages_with_and_without_std():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0])
    mean, std = 0.25, (0.75 ** 2 / 4 + 3 * 0.25 ** 2 / 4) ** 0.5
    assert torch.allclose(rl_objective.advantages(r, 4, "grpo"), (r - mean) / (std + 1e-6))
    assert torch.allclose(rl_objective.advantages(r, 4, "grpo", use_std=False), r - mean)
    assert torch.equal(rl_objective.advantages(torch.ones(4), 4, "grpo"), torch.zeros(4))  # all equal: no signal


def test_clipped_objective_by_hand():
    logp = torch.tensor([[0.0, 0.0]])
    old = torch.log(torch.tensor([[0.5, 1 / 1.5]]))  # ratios 2.0 and 1.5
    mask = torch.tensor([[True, True]])
    # positive advantage: each ratio is clipped to 1.2, so the loss is -1.2 * A on both tokens
    assert rl_objective.policy_loss(logp, old, torch.tensor([1.0]), mask).item() == pytest.approx(-1.2)
    # negative advantage: min(ratio*A, clip*A) keeps the unclipped, more pessimistic term
    assert rl_objective.policy_loss(logp, old, torch.tensor([-1.0]), mask).item() == pytest.approx((2.0 + 1.5) / 2)
    # token vs sequence normalization differ when lengths differ
    logp2, old2 = torch.zeros(2, 3), torch.zeros(2, 3)
    mask2 = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    adv = torch.tensor([1.0, -1.0])
    assert rl_objective.policy_loss(logp2, old2, adv, mask2, norm="token").item() == pytest.approx((-3 + 1) / 4)
    assert rl_objective.policy_loss(logp2, old2, adv, mask2, norm="sequence").item() == pytest.approx(0.0)


def test_kl_is_zero_when_policy_equals_reference():
    logp = torch.log_softmax(torch.randn(3, 5), -1)
    assert torch.equal(rl_objective.kl_k3(logp, logp), torch.zeros(3, 5))
    assert (rl_objective.kl_k3(logp, logp.roll(1, dims=1)) >= 0).all()


def test_kl_k3_estimates_kl_of_policy_from_reference_not_the_reverse():
    """Averaged over tokens drawn from the POLICY p (which is how RL samples), k3 must give
    KL(p || ref) exactly. The reversed estimator (or swapped arguments) gives something else."""
    torch.manual_seed(0)
    logp, logq = torch.log_softmax(2 * torch.randn(6), -1), torch.log_softmax(2 * torch.randn(6), -1)
    p = logp.exp()
    expected = (p * (logp - logq)).sum()                       # KL(p || q)
    reverse = (logq.exp() * (logq - logp)).sum()               # KL(q || p)
    estimate = (p * rl_objective.kl_k3(logp, logq)).sum()
    assert torch.allclose(estimate, expected, atol=1e-5)
    assert not torch.allclose(estimate, reverse, atol=1e-2)


def test_reward_is_strict_and_never_raises():
    task = Countdown({"nums": [4, 6, 9], "target": 15})
    good = "answer 9 + 6 = 15 , 15 * 4 = 60".split()
    assert rl_objective.reward(task, good) == 0.0  # wrong target
    right = Countdown({"nums": [4, 6, 9], "target": 60})
    assert rl_objective.reward(right, good) == 1.0
    assert rl_objective.reward(right, good, gamma=0.9) == pytest.approx(0.9 ** len(good))
    assert rl_objective.reward(task, good, format_reward=0.1) == 0.1  # well-formed but wrong
    for text in (["answer", "correct", "solved", "!"], ["answer"], [], good[:4], ["<eos>"], ["answer", "D9"] * 50,
                 "close 9 6 4 answer 15".split(), ["answer", "9", "+", "6", "=", "15"]):
        assert rl_objective.reward(task, text) == 0.0
    rng = random.Random(0)
    vocab = linearize.build_vocab(Maze).itos
    maze = Maze({"grid": ["S.#", "..#", "#.G"]})
    for _ in range(2000):
        junk = [rng.choice(vocab + ["\u00b2", "", "99999999999999", "-1"]) for _ in range(rng.randrange(30))]
        assert 0.0 <= rl_objective.reward(maze, junk, format_reward=0.1) <= 1.0


VOCAB = linearize.Vocab([linearize.PAD, linearize.BOS, linearize.EOS, linearize.SEP, "a", "b", "c", "d"])


@pytest.mark.parametrize("algo,extra", [("reinforce", {}), ("reinforce", {"rloo": True}),
                                        ("grpo", {"ppo_epochs": 2, "kl": 0.01}), ("grpo", {"use_std": False}),
                                        ("grpo", {"dtype": "bf16"}), ("expert-iteration", {})])
def test_each_algorithm_learns_the_toy_problem(algo, extra):
    """The answer is one token out of eight; only "c" is rewarded. From about chance (1/8), each
    algorithm must push the expected reward above 0.9."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = train_rl.RLConfig(algo=algo, group=8, max_new_tokens=1, **extra)
    model = GPT(GPTConfig(block_size=4, vocab_size=len(VOCAB), n_layer=1, n_head=1, n_embd=16))
    ref = GPT(GPTConfig(block_size=4, vocab_size=len(VOCAB), n_layer=1, n_head=1, n_embd=16))
    ref.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2 if algo != "expert-iteration" else 1e-2)
    target = VOCAB.stoi["c"]
    prompt = [VOCAB.bos]

    def expected_reward():
        with torch.no_grad():
            return torch.softmax(model(torch.tensor([prompt]))[0][0, -1], -1)[target].item()

    start = expected_reward()
    assert start < 0.3
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        train_rl.rl_step(model, ref, opt, VOCAB, [prompt] * 4,
                         lambda g, ids: (float(ids[:1] == [target]), ids[:1] == [target], {}), cfg, gen)
        if expected_reward() > 0.95:
            break
    assert expected_reward() > 0.9


def test_expert_iteration_fine_tunes_on_each_prompts_shortest_correct_sample_only(monkeypatch):
    """Two prompts, three samples each: prompt 0 has two correct samples (the shorter must be kept),
    prompt 1 none (nothing kept). The loss must be the SFT loss of exactly the kept sample."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=8, vocab_size=len(VOCAB), n_layer=1, n_head=1, n_embd=16))
    a, b, c, eos = (VOCAB.stoi[w] for w in ("a", "b", "c", linearize.EOS))
    prompts = [[VOCAB.bos], [VOCAB.bos, a]]
    completions = [[a, b, c, eos], [c, eos], [b, eos], [a, eos], [b, eos], [c, eos]]
    correct = [True, True, False, False, False, False]
    flat = [p for p in prompts for _ in range(3)]
    monkeypatch.setattr(train_rl, "rollouts", lambda *args: (flat, completions, torch.tensor([float(x) for x in correct]),
                                                               correct, {}))
    losses = []
    monkeypatch.setattr(train_rl, "update", lambda model, opt, loss, clip, world: losses.append(loss.item()) or 0.0)
    cfg = train_rl.RLConfig(algo="expert-iteration", group=3, ppo_epochs=1)
    stats = train_rl.expert_iteration_step(model, None, VOCAB, prompts, None, cfg, None)
    assert stats["kept"] == 1
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([[VOCAB.bos, c]]))[0], -1)[0]
    expected = -(logp[0, c] + logp[1, eos]).item() / 2  # mean over the kept sample's two tokens
    assert losses == [pytest.approx(expected, abs=1e-5)]


def test_sequences_mark_only_the_completion():
    x, y, mask = rl_objective.sequences([[1, 5, 3], [1, 3]], [[6, 7, 2], [6, 2]], pad_id=0)
    assert x.tolist() == [[1, 5, 3, 6, 7], [1, 3, 6, 2, 0]]
    assert y.tolist() == [[5, 3, 6, 7, 2], [3, 6, 2, 0, 0]]
    assert mask.tolist() == [[False, False, True, True, True], [False, True, True, False, False]]


@pytest.mark.parametrize("norm,kl", [("token", 0.0), ("sequence", 0.05), ("token", 0.05)])
def test_micro_batched_update_gives_the_unbatched_gradient(norm, kl):
    """The GRPO update in micro-batches of 3 rows (gradients accumulated, each part weighted by its
    share of the normalizer) equals the update on all 8 rows at once: same gradient, same loss."""
    grads = {}
    for micro in (None, 3):
        torch.manual_seed(0)
        model = GPT(GPTConfig(block_size=16, vocab_size=len(VOCAB), n_layer=1, n_head=1, n_embd=16)).double()
        ref = GPT(GPTConfig(block_size=16, vocab_size=len(VOCAB), n_layer=1, n_head=1, n_embd=16)).double()
        captured = []
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        opt.step = lambda: captured.append([p.grad.clone() for p in model.parameters()])
        cfg = train_rl.RLConfig(algo="grpo", group=4, max_new_tokens=6, kl=kl, norm=norm, micro_batch=micro, ppo_epochs=2)
        stats = train_rl.rl_step(model, ref, opt, VOCAB, [[VOCAB.bos], [VOCAB.bos, VOCAB.stoi["a"]]],
                                 lambda g, ids: (float(len(ids) % 2), len(ids) % 2 == 1, {}), cfg,
                                 torch.Generator().manual_seed(1))
        grads[micro] = (captured, stats["loss"])
    (full, loss_full), (parts, loss_parts) = grads[None], grads[3]
    assert len(full) == len(parts) == 2 and loss_parts == pytest.approx(loss_full, abs=1e-12)
    for a, b in zip(full, parts):
        assert all(torch.allclose(x, y, atol=1e-12) for x, y in zip(a, b))
    assert any(x.abs().sum() > 0 for x in full[0])  # a test with zero gradients would prove nothing


def _toy(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=8, vocab_size=len(VOCAB), n_layer=1, n_head=1, n_embd=16))


@pytest.mark.parametrize("algo", ["grpo", "reinforce"])
def test_a_step_whose_groups_all_have_equal_rewards_changes_no_weight(algo):
    """After a step with signal (AdamW then carries momentum), a step where every group's rewards
    are equal must leave every weight as it was: no signal, no update."""
    model = _toy()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    cfg = train_rl.RLConfig(algo=algo, group=4, max_new_tokens=3)
    gen = torch.Generator().manual_seed(0)
    c = VOCAB.stoi["c"]
    moved = train_rl.rl_step(model, None, opt, VOCAB, [[VOCAB.bos]] * 4,
                             lambda g, ids: (float(ids[:1] == [c]), ids[:1] == [c], {}), cfg, gen)
    assert moved["updated"] == 1
    before = [p.detach().clone() for p in model.parameters()]
    stats = train_rl.rl_step(model, None, opt, VOCAB, [[VOCAB.bos]] * 4, lambda g, ids: (float(g % 2), g % 2 == 1, {}),
                             cfg, gen)
    assert stats["zero_var_groups"] == 1.0 and stats["updated"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    opt.step()  # the check can fail: momentum alone would have moved them
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_dynamic_sampling_never_trains_on_a_group_of_equal_rewards(monkeypatch):
    """Three rounds of two prompts: prompt indices 0, 2 and 4 always get reward 1 (no signal); the
    update must see only the groups of prompts 1 and 3, and stop drawing once it has two."""
    model = _toy()
    seen = []
    real = rl_objective.sequences
    monkeypatch.setattr(train_rl, "sequences", lambda p, c, pad: seen.append(list(p)) or real(p, c, pad))
    prompts = [[VOCAB.bos, VOCAB.stoi[w]] for w in "abcdab"]
    calls = []

    def reward(g, ids):
        calls.append(g)
        r = 1.0 if g % 2 == 0 else float(len(calls) % 2)  # odd prompts: rewards alternate within the group
        return r, r == 1.0, {}
    cfg = train_rl.RLConfig(algo="grpo", group=4, max_new_tokens=3, rounds=3)
    stats = train_rl.rl_step(model, None, torch.optim.AdamW(model.parameters(), lr=1e-3), VOCAB, prompts, reward, cfg,
                             torch.Generator().manual_seed(0))
    assert stats["prompts_drawn"] == 4 and stats["groups_kept"] == 2 and stats["zero_var_groups"] == 0.5
    assert seen == [[prompts[1]] * 4 + [prompts[3]] * 4]
    assert sorted(set(calls)) == [0, 1, 2, 3]  # the third round was never drawn


def test_the_tempered_policy_is_the_distribution_sampling_draws_from():
    """token_logprobs at temperature T must be log softmax(logits / T): the frequencies of tokens
    sampled at T (a brute-force count) match it, and T = 1 is the model's own distribution."""
    from model import sample
    model = _toy()
    x = torch.tensor([[VOCAB.bos, VOCAB.stoi["a"]]])
    logits = model(x)[0][0, -1]
    for T in (0.5, 1.0, 2.0):
        targets = torch.arange(len(VOCAB))
        logp = torch.stack([model.token_logprobs(x, torch.tensor([[0, t]]), temperature=T)[0, -1] for t in targets])
        draws = sample(logits.repeat(20000, 1), T, generator=torch.Generator().manual_seed(1))
        freq = torch.bincount(draws, minlength=len(VOCAB)).float() / len(draws)
        assert torch.allclose(freq, logp.exp(), atol=0.015), T
    _, ent = model.token_logprobs(x, torch.tensor([[0, 0]]), temperature=2.0, entropy=True)
    p = torch.softmax(logits / 2.0, -1)
    assert ent[0, -1].item() == pytest.approx(-(p * p.log()).sum().item(), rel=1e-5)


def test_a_completion_cut_off_by_its_budget_earns_nothing():
    right = Countdown({"nums": [4, 6, 9], "target": 60})
    good = "answer 9 + 6 = 15 , 15 * 4 = 60".split()
    assert rl_objective.judge(right, good + [linearize.EOS])[:2] == (1.0, True)
    assert rl_objective.judge(right, good, finished=False, format_reward=0.1)[:2] == (0.0, False)


def test_a_trace_with_an_illegal_clause_earns_nothing_when_the_trace_must_be_legal():
    maze = Maze({"grid": ["S..", "...", "..G"]})
    jump = "go c2_2 answer c0_0 c0_1 c0_2 c1_2 c2_2 <eos>".split()  # c2_2 is no neighbour of the start
    walk = "go c0_1 go c0_2 go c1_2 go c2_2 answer c0_0 c0_1 c0_2 c1_2 c2_2 <eos>".split()
    assert rl_objective.judge(maze, jump)[:2] == (1.0, True)  # the answer alone is right
    assert rl_objective.judge(maze, jump, legal=True)[:2] == (0.0, False)
    assert rl_objective.judge(maze, walk, legal=True)[:2] == (1.0, True)


def test_a_step_counts_every_decoded_token_and_the_tokens_it_back_propagated(monkeypatch):
    """Compute for the RL rows of the results: gen_tokens is every completion decoded, in every round of
    dynamic sampling (not only the first batch's), and rl_tokens the completion tokens of the update,
    once per pass."""
    model = _toy()
    masks = []
    real = rl_objective.sequences
    monkeypatch.setattr(train_rl, "sequences", lambda p, c, pad: (lambda out: masks.append(out[2]) or out)(real(p, c, pad)))
    decoded = []

    def reward(g, ids):
        decoded.append(len(ids))
        r = 1.0 if g % 2 == 0 else float(len(decoded) % 2)
        return r, r == 1.0, {}
    cfg = train_rl.RLConfig(algo="grpo", group=4, max_new_tokens=3, rounds=3, ppo_epochs=2)
    prompts = [[VOCAB.bos, VOCAB.stoi[w]] for w in "abcdab"]
    stats = train_rl.rl_step(model, None, torch.optim.AdamW(model.parameters(), lr=1e-3), VOCAB, prompts, reward, cfg,
                             torch.Generator().manual_seed(0))
    assert len(decoded) == 16 and stats["gen_tokens"] == sum(decoded)  # two rounds of 2 prompts x 4
    assert stats["rl_tokens"] == 2 * int(masks[0].sum()) > 0


def test_a_budgeted_run_rolls_out_to_its_cap_and_is_judged_within_its_budget(monkeypatch, tmp_path):
    """reproduce's RL stage: the rollouts' cap (--max-new-tokens) is rollout_tokens where the run sets it,
    else the budget; the budget it is judged within (--budget) is always the run's budget; and train_rl
    alone judges within its cap."""
    import presets
    import reproduce
    seen = []
    monkeypatch.setattr(reproduce, "competence", lambda *a: 0.5)  # at the edge of competence: RL runs
    monkeypatch.setattr(train_rl, "train", seen.append)
    job = reproduce.Job("maze", presets.PRESETS["cpu"]["maze"], str(tmp_path), 0, [])
    for run, cap in ((presets.RLRun("a", "sft_dfs", "expert-iteration", budget=32, rollout_tokens=48), 48),
                     (presets.RLRun("b", "sft_dfs", budget=32), 32)):
        reproduce.run_rl(job, run)
        assert (seen[-1].max_new_tokens, seen[-1].budget) == (cap, 32)
    base = ["--init", "x.pt", "--problems", "p.jsonl", "--out", str(tmp_path)]
    assert train_rl.parse_args(base + ["--max-new-tokens", "40"]).budget == 40
    assert train_rl.parse_args(base).budget is None
