
import pytest
import torch
import torch.nn.functional as F

import model as model_module
from model import GPT, GPTConfig, sample

V = 32


def tiny(block_size=64, seed=0, double=False):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(block_size=block_size, vocab_size=V, n_layer=2, n_head=2, n_embd=32)).eval()
    # float64 makes cache-vs-recompute rounding ~1e-15, so argmax ties can't flip a greedy token
    return model.double() if double else model


def left_pad(prompts, pad_id=0):
    T = max(len(p) for p in prompts)
    idx = torch.full((len(prompts), T), pad_id, dtype=torch.long)
    for b, p in enumerate(prompts):
        idx[b, T - len(p):] = torch.tensor(p)
    return idx, torch.tensor([len(p) for p in prompts])


def random_prompts(lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(1, V, (n,), generator=g).tolist() for n in lengths]


def test_causality():
    model = tiny()
    idx = torch.randint(0, V, (2, 20))
    logits, _ = model(idx)
    changed = idx.clone()
    changed[:, 12] = (changed[:, 12] + 1) % V
    logits2, _ = model(changed)
    assert torch.equal(logits[:, :12], logits2[:, :12])
    assert not torch.allclose(logits[:, 12:], logits2[:, 12:])


def test_greedy_cache_matches_recompute_with_ragged_prompts():
    model = tiny(double=True)
    idx, lens = left_pad(random_prompts([3, 9, 1, 6, 9]))
    a = model.generate(idx, 30, temperature=0, prompt_lens=lens)
    b = model.generate_nocache(idx, 30, temperature=0, prompt_lens=lens)
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
    assert torch.allclose(a[1], b[1], atol=1e-10)
    # left padding must be invisible: each row continues exactly as it would alone
    for row, p in enumerate(random_prompts([3, 9, 1, 6, 9])):
        alone = model.generate(torch.tensor([p]), 30, temperature=0)[0]
        assert torch.equal(alone[0], a[0][row])


def test_the_cache_is_used_one_new_token_per_step():
    """A KV cache means each decode step feeds only the newest token and the cache grows by one: a
    "cache" that keeps nothing (and so needs the whole sequence again) fails here, even if its tokens
    were right."""
    model = tiny(double=True)
    idx, lens = left_pad(random_prompts([5, 3]))
    fed, stored = [], []
    model.transformer.wte.register_forward_hook(lambda m, inp, out: fed.append(inp[0].shape[1]))
    update = model_module.KVCache.update

    def spy(self, k, v):
        out = update(self, k, v)
        stored.append(out[0].shape[2])
        return out
    model_module.KVCache.update = spy
    try:
        tokens = model.generate(idx, 6, temperature=0, prompt_lens=lens)[0]
    finally:
        model_module.KVCache.update = update
    assert fed == [5, 1, 1, 1, 1, 1]  # the prompt once, then one token a step
    assert stored[::2] == [5, 6, 7, 8, 9, 10]  # (2 layers) keys of every position so far, each computed once
    assert torch.equal(tokens, model.generate_nocache(idx, 6, temperature=0, prompt_lens=lens)[0])


def test_eos_stops_rows_and_pads():
    model = tiny(double=True)
    idx, lens = left_pad(random_prompts([4, 7, 2, 7]))
    free = model.generate(idx, 20, temperature=0, prompt_lens=lens)[0]
    eos = int(free[0, 3])  # a token row 0 emits at step 3, so at least that row stops there
    for gen in (model.generate, model.generate_nocache):
        tokens, logprobs, lengths = gen(idx, 20, temperature=0, eos_id=eos, pad_id=0, prompt_lens=lens)
        assert torch.equal(tokens, model.generate_nocache(idx, 20, temperature=0, eos_id=eos, prompt_lens=lens)[0])
        assert lengths[0] <= 4 and tokens.size(1) == lengths.max()
        for b in range(len(lens)):
            n = int(lengths[b])
            assert torch.equal(tokens[b, :n], free[b, :n])
            if n < 20:
                assert tokens[b, n - 1] == eos and eos not in tokens[b, :n - 1].tolist()
            assert (tokens[b, n:] == 0).all() and (logprobs[b, n:] == 0).all()


def test_checking_for_eos_every_few_steps_changes_nothing_greedy():
    """Removing finished rows every 8 steps instead of every step (one host sync per 8 on a GPU):
    rows that finished in between write padding, count nothing, and the result is the same."""
    model = tiny(double=True)
    idx, lens = left_pad(random_prompts([4, 7, 2, 7, 5, 3]))
    free = model.generate(idx, 24, temperature=0, prompt_lens=lens)[0]
    eos = int(free[0, 3])
    every = model.generate(idx, 24, temperature=0, eos_id=eos, pad_id=0, prompt_lens=lens, eos_every=1)
    sparse = model.generate(idx, 24, temperature=0, eos_id=eos, pad_id=0, prompt_lens=lens, eos_every=8)
    assert int(every[2].min()) < 24  # some rows did stop
    assert torch.equal(every[0], sparse[0]) and torch.equal(every[2], sparse[2])
    assert torch.allclose(every[1], sparse[1], atol=1e-12)


def test_sampling_deterministic_and_logprobs_match():
    model = tiny()
    idx, lens = left_pad(random_prompts([5, 2, 8]))
    runs = [model.generate(idx, 25, temperature=0.8, top_k=10, prompt_lens=lens,
                           generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    tokens, logprobs, _ = runs[0]
    assert logprobs.dtype == torch.float32 and (logprobs < 0).all()
    for b in range(len(lens)):
        seq = torch.cat([idx[b, idx.size(1) - lens[b]:], tokens[b]])[None]
        recomputed = model.token_logprobs(seq[:, :-1], seq[:, 1:])[0, -tokens.size(1):]
        assert torch.allclose(recomputed, logprobs[b], atol=1e-4)


def test_sampler_follows_distribution():
    logits = torch.tensor([0.0, 1.0, 2.0, -1e9, 0.5]).repeat(100_000, 1)
    g = torch.Generator().manual_seed(0)
    freq = torch.bincount(sample(logits, 1.0, None, g), minlength=5) / len(logits)
    assert torch.allclose(freq, logits[0].softmax(-1), atol=0.01)
    freq = torch.bincount(sample(logits, 0.5, 2, g), minlength=5) / len(logits)
    expected = torch.zeros(5)
    expected[1:3] = (logits[0, 1:3] / 0.5).softmax(-1)
    assert torch.allclose(freq, expected, atol=0.01)


def test_loss_is_the_summed_cross_entropy_of_targets_not_minus_one():
    model = tiny()
    idx, targets = torch.randint(0, V, (3, 16)), torch.randint(0, V, (3, 16))
    targets[:, :6] = -1  # the prompt
    targets[1, 10] = -1
    logits, loss = model(idx, targets)
    keep = targets != -1
    expected = F.cross_entropy(logits[keep], targets[keep], reduction="sum")
    assert torch.allclose(loss, expected, atol=1e-5)
    changed = idx.clone()
    changed[:, 15] = (changed[:, 15] + 1) % V  # the causal mask: the last input changes only the last logit
    assert torch.allclose(model(changed, targets)[0][:, :15], logits[:, :15], atol=1e-6)


def test_overfits_tiny_dataset():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=V, n_layer=2, n_head=2, n_embd=48))
    data = torch.randint(0, V, (4, 17))
    opt = model.configure_optimizers(weight_decay=0.0, lr=3e-3, betas=(0.9, 0.99))
    for _ in range(300):
        _, loss = model(data[:, :-1], data[:, 1:])
        loss = loss / data[:, 1:].numel()  # forward gives the sum; the mean per token
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_generate_rejects_overlong():
    model = tiny(block_size=16)
    idx, lens = left_pad(random_prompts([4, 10]))
    with pytest.raises(ValueError, match='block_size'):
        model.generate(idx, 7, prompt_lens=lens)
    with pytest.raises(ValueError, match='block_size'):
        model.generate_nocache(idx, 7, prompt_lens=lens)
    model.generate(idx, 6, prompt_lens=lens)  # exactly block_size is fine


PARTS = [[5, 1, 2], [6, 1, 3], [7, 2, 2]]  # 7 adds word 2 twice: a part may repeat


def composed_and_plain(n_layer=2):
    """A model with PARTS, and a reference built by hand: a plain model with the same weights whose
    composed words' vectors are set to what the parts say (own vector plus its parts')."""
    torch.manual_seed(0)
    composed = GPT(GPTConfig(block_size=16, vocab_size=V, n_layer=n_layer, n_head=2, n_embd=32, parts=PARTS)).double()
    plain = GPT(GPTConfig(block_size=16, vocab_size=V, n_layer=n_layer, n_head=2, n_embd=32)).double()
    plain.load_state_dict(composed.state_dict())  # no buffer saved: the config says the parts
    with torch.no_grad():
        w = plain.lm_head.weight
        for word, *parts in PARTS:
            w[word] += sum(w[p] for p in parts)
    return composed, plain


def test_a_composed_word_adds_its_parts_in_and_out():
    composed, plain = (m.eval() for m in composed_and_plain())
    idx = torch.tensor([[5, 6, 7, 1, 9, 5, 2, 3]])
    assert torch.allclose(composed(idx)[0], plain(idx)[0], atol=1e-12)
    assert torch.allclose(composed.token_logprobs(idx[:, :-1], idx[:, 1:]), plain.token_logprobs(idx[:, :-1], idx[:, 1:]), atol=1e-12)
    prompts, lens = left_pad([[5, 6], [7, 1, 9]])
    assert torch.equal(composed.generate(prompts, 6, temperature=0, prompt_lens=lens)[0],
                       composed.generate_nocache(prompts, 6, temperature=0, prompt_lens=lens)[0])


def test_a_part_gets_the_gradient_of_every_word_made_of_it():
    """The chain rule against the hand-built reference: d/d part = its own gradient there plus the
    gradient of each composed word, once per time the word contains it."""
    composed, plain = composed_and_plain(n_layer=1)
    idx = torch.tensor([[5, 6, 7, 5, 4, 1]])
    for m in (composed, plain):
        m(idx[:, :-1], idx[:, 1:])[1].backward()
    got, ref = composed.lm_head.weight.grad, plain.lm_head.weight.grad
    want = ref.clone()
    for word, *parts in PARTS:
        for p in parts:
            want[p] += ref[word]
    assert torch.allclose(got, want, atol=1e-12)


def test_parts_must_be_plain_words_of_the_vocabulary():
    for bad in ([[5, 1, V]], [[5, 1], [6, 5]]):  # an id out of range; a part that is composed itself
        with pytest.raises(ValueError, match="GPTConfig.parts"):
            GPT(GPTConfig(block_size=8, vocab_size=V, n_layer=1, n_head=2, n_embd=16, parts=bad))


def test_the_table_stays_fp32_under_bf16_autocast():
    composed, _ = composed_and_plain(n_layer=1)
    composed.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert composed.token_table().dtype == torch.float32
