"""
A small GPT for learning to search, in the style of nanoGPT.

nanosearch trains transformers on linearized search traces: a problem (the prompt) followed by the
tokens of a search that solves it. The model is a plain decoder-only transformer: token embeddings
plus learned position embeddings pass through a stack of pre-LayerNorm blocks (causal self-attention,
then a 4x GELU MLP), and a final LayerNorm and a head tied to the token embedding predict the next
token. Training sees whole traces, but the prompt's targets are -1 (ignored), so the loss is on the
trace alone: the model learns to search rather than to recite problems. RL fine-tuning needs two more things: sampling that reports
the log-probability of every sampled token, and the same log-probs recomputed later
(`token_logprobs`). Sampling uses a KV cache: under a causal mask the keys and values of earlier
tokens never change, so each step runs only the newest token through the network and attends to the
stored keys and values instead of recomputing the whole prefix. Prompts of different lengths are
batched LEFT-padded, so every row's next token lands in the same column and the cache stays one
rectangle; padded keys are masked out and positions count from each row's first real token, so a
padded row computes what it would alone.
"""
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    block_size: int
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = False  # biases in Linears and LayerNorms; without them it is slightly faster and no worse
    # words whose vector adds other words' vectors to its own ([[word id, part id, ...], ...]): a maze
    # cell as itself plus its row plus its column, so what is learned about row 3 holds for its cells
    parts: list | None = None


class KVCache:
    """Keys and values of one attention layer, preallocated so a decode step only writes its own slot."""

    def __init__(self, max_len):
        self.max_len, self.len, self.k, self.v = max_len, 0, None, None

    # assignment: kv-cache
    def update(self, k, v):
        if self.k is None:  # allocated on first use to match batch, heads and (autocast) dtype
            B, H, _, D = k.shape
            self.k = k.new_empty(B, H, self.max_len, D)
            self.v = v.new_empty(B, H, self.max_len, D)
        T = k.size(2)
        self.k[:, :, self.len:self.len + T] = k
        self.v[:, :, self.len:self.len + T] = v
        self.len += T
        return self.k[:, :, :self.len], self.v[:, :, :self.len]

    # assignment: kv-cache
    def keep(self, rows):
        """Drop the batch rows that finished (rows: a bool mask over the current batch). Only the filled
        positions are copied into the new buffers, not the whole preallocated length."""
        for name in ("k", "v"):
            old = getattr(self, name)
            filled = old[rows, :, :self.len]
            new = old.new_empty(filled.size(0), *old.shape[1:])
            new[:, :, :self.len] = filled
            setattr(self, name, new)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head, self.dropout = config.n_head, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, mask=None, cache=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(k, v)
        # no mask means unpadded rows starting at position 0, where the fused causal kernel is exact
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, mask=None, cache=None):
        x = x + self.attn(self.ln_1(x), mask, cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # one matrix both reads and writes tokens
        pairs = [(word, part) for word, *parts in config.parts or () for part in parts]
        composed = {word for word, _ in pairs}
        if any(not 0 <= i < config.vocab_size for pair in pairs for i in pair) or composed & {p for _, p in pairs}:
            raise ValueError("GPTConfig.parts: every id must be a word of the vocabulary, and no part may be composed itself")
        # (word, part) pairs as two index buffers, not saved: config.parts says them
        self.register_buffer("part_of", torch.tensor([w for w, _ in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("part", torch.tensor([p for _, p in pairs], dtype=torch.long), persistent=False)
        self.apply(self._init_weights)
        # 2 residual projections per layer add onto the stream; shrink them so its variance stays O(1)
        for name, p in self.named_parameters():
            if name.endswith('c_proj.weight'):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding=True):
        """Parameter count; position embeddings are excluded by default as they do no matmul work."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def token_table(self):
        """The (V, n_embd) vectors that read and write tokens: the tied embedding, with each composed
        word's parts added to its own vector. Its own vector too: with the head tied, a cell's logit
        would otherwise be its row's plus its column's, and a softmax over cells a product P(row) Q(col),
        which cannot choose between two neighbours at a right angle without the two diagonal cells.
        In fp32 even under autocast: the table is a weight, and the input embedding stays fp32."""
        w = self.lm_head.weight
        if not self.config.parts:
            return w
        with torch.autocast(w.device.type, enabled=False):
            return w.index_add(0, self.part_of, w[self.part])

    def _hidden(self, idx, pad=None, caches=None):
        """Final hidden states of idx (B, T). pad (B,): left padding per row. caches: a KVCache per layer."""
        past = caches[0].len if caches else 0
        q = torch.arange(past, past + idx.size(1), device=idx.device)
        if pad is None:
            pos, mask = q, None
        else:
            k = torch.arange(past + idx.size(1), device=idx.device)
            pos = (q - pad[:, None]).clamp(min=0)
            # a padding query may see itself: some SDPA kernels give NaN for a query with no visible key
            visible = (k[None, None] >= pad[:, None, None]) | (k == q[:, None])
            mask = ((k <= q[:, None]) & visible)[:, None]  # (B, 1, T, past + T)
        tok = F.embedding(idx, self.token_table()) if self.config.parts else self.transformer.wte(idx)
        x = self.transformer.drop(tok + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, mask, caches[i] if caches else None)
        return self.transformer.ln_f(x)

    def _logits_fp32(self, h):
        # RL divides sampling-time probabilities by training-time ones; bf16 logits would make that noisy
        dtype = torch.promote_types(h.dtype, torch.float32)
        with torch.autocast(h.device.type, enabled=False):
            return F.linear(h.to(dtype), self.token_table().to(dtype))

    def forward(self, idx, targets=None):
        """Logits (B, T, V) and, given targets, the SUMMED cross-entropy (in fp32) over the positions
        whose target is not -1 (prompt and padding are -1). A sum, not a mean: the trainer divides by
        the count of trained tokens in the whole global batch, which one process alone cannot know."""
        assert idx.size(1) <= self.config.block_size, f'sequence of {idx.size(1)} > block_size'
        h = self._hidden(idx)
        logits = F.linear(h, self.token_table()) if self.config.parts else self.lm_head(h)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-1, reduction='sum')

    def token_logprobs(self, idx, targets, temperature=1.0, entropy=False):
        """log p(targets[b, t] | idx[b, :t+1]) as a (B, T) float32 tensor under softmax(logits /
        temperature), the distribution sampling at that temperature draws from; targets must be valid
        token ids. entropy=True also returns each position's entropy of that distribution."""
        logp = (self._logits_fp32(self._hidden(idx)) / temperature).log_softmax(-1)
        picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return (picked, -(logp.exp() * logp).sum(-1)) if entropy else picked

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, eos_id=None, pad_id=0,
                 prompt_lens=None, generator=None, eos_every=None):
        """Continue a LEFT-padded batch of prompts, with a KV cache. Call model.eval() first.

        idx (B, T): row b's prompt is idx[b, T - prompt_lens[b]:] (prompt_lens None: all of length T).
        temperature 0 is greedy; top_k keeps only the k likeliest tokens. A row stops after emitting
        eos_id and its later slots hold pad_id. Returns tokens (B, N) long, their log-probs (B, N)
        float32 under the model's own distribution (temperature 1, no top-k; 0 at padding), and
        lengths (B,) long counting the eos; N <= max_new_tokens is the number of steps run.

        Finished rows leave the batch every `eos_every` steps. Asking whether any row finished makes
        the host wait for the device: on a GPU that stall costs more than a few wasted rows, so the
        default there is 8; on a CPU it costs nothing and the default is 1 (every step), which also
        keeps the sampled tokens independent of the device's schedule.
        """
        eos_every = eos_every or (8 if idx.is_cuda else 1)
        return self._decode(idx, max_new_tokens, temperature, top_k, eos_id, pad_id, prompt_lens, generator, True, eos_every)

    @torch.no_grad()
    def generate_nocache(self, idx, max_new_tokens, temperature=1.0, top_k=None, eos_id=None, pad_id=0,
                         prompt_lens=None, generator=None):
        """generate() recomputing the whole sequence every step: the slow reference the cache must match."""
        return self._decode(idx, max_new_tokens, temperature, top_k, eos_id, pad_id, prompt_lens, generator, False, 1)

    def _decode(self, idx, max_new_tokens, temperature, top_k, eos_id, pad_id, prompt_lens, generator, use_cache, eos_every):
        B, T = idx.shape
        dev = idx.device
        lens = torch.full((B,), T, device=dev) if prompt_lens is None else torch.as_tensor(prompt_lens, device=dev)
        if int(lens.max()) + max_new_tokens > self.config.block_size:
            raise ValueError(f'prompt length {int(lens.max())} + max_new_tokens {max_new_tokens} '
                             f'exceeds block_size {self.config.block_size}')
        pad = T - lens
        caches = [KVCache(T + max_new_tokens) for _ in self.transformer.h] if use_cache else None
        tokens = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=dev)
        logprobs = torch.zeros(B, max_new_tokens, device=dev)
        lengths = torch.zeros(B, dtype=torch.long, device=dev)
        rows = torch.arange(B, device=dev)  # the rows still generating: finished ones leave the batch,
        x = idx                             # so a few long completions do not keep paying for the rest
        done = torch.zeros(B, dtype=torch.bool, device=dev)  # (of `rows`) emitted eos, not yet removed
        for t in range(max_new_tokens):
            if not use_cache:
                x = torch.cat([idx[rows], tokens[rows, :t]], dim=1)
            logits = self._logits_fp32(self._hidden(x, pad[rows], caches)[:, -1])
            tok = sample(logits, temperature, top_k, generator).masked_fill(done, pad_id)
            tokens[rows, t] = tok
            logprobs[rows, t] = logits.log_softmax(-1).gather(-1, tok[:, None]).squeeze(-1).masked_fill(done, 0.0).to(logprobs.dtype)
            lengths[rows] += ~done
            if eos_id is not None:
                done |= tok == eos_id
                if (t + 1) % eos_every == 0 and done.any():  # the one host sync, every eos_every steps
                    running = ~done
                    rows, tok, done = rows[running], tok[running], done[running]
                    for cache in caches or []:
                        cache.keep(running)
                    if rows.numel() == 0:
                        break
            x = tok[:, None]
        n = int(lengths.max()) if B else 0
        return tokens[:, :n], logprobs[:, :n], lengths

    def configure_optimizers(self, weight_decay, lr, betas):
        # decay only matrices (matmuls, embeddings); shrinking biases and LayerNorm gains just hurts
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{'params': [p for p in params if p.dim() >= 2], 'weight_decay': weight_decay},
                  {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0}]
        fused = params[0].device.type in ('cuda', 'cpu')  # one kernel per step, not a loop over tensors
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)


def sample(logits, temperature=1.0, top_k=None, generator=None):
    """One token id per row of logits (B, V); temperature 0 is argmax."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float('-inf'))
    # inverse CDF draws one uniform per row; torch.multinomial draws one per vocab entry, ~20x slower on CPU
    cdf = logits.softmax(-1).cumsum(-1)
    u = torch.rand(cdf.size(0), 1, device=cdf.device, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=cdf.size(-1) - 1)


def pick_device():
    if torch.cuda.is_available():
        return 'cuda'
    if torch.backends.mps.is_available():
        return 'mps'
    return 'cpu'


# ------------------------------------------------------------------------------------------------
# precision: bf16 matmuls where they are faster, fp32 everywhere else

def cpu_has_bf16(cpuinfo='/proc/cpuinfo'):
    """Whether this CPU multiplies bf16 natively (AVX-512 BF16 or AMX), by the flags Linux lists in
    /proc/cpuinfo; False where they cannot be read. Without them bf16 is emulated, and slow."""
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(':', 1)[1].split() for line in f if line.startswith('flags')), [])
    except OSError:
        return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


def autocast_ctx(device, dtype='auto'):
    """The precision of a forward pass: 'bf16' runs the matmuls in bf16 (weights, loss, gradients'
    accumulation and optimizer state stay fp32), 'fp32' runs everything in fp32, 'auto' is bf16 on
    CUDA (tensor cores, no loss scaling) and fp32 elsewhere (resolve_dtype measures instead)."""
    kind = torch.device(device).type
    if dtype == 'auto':
        dtype = 'bf16' if kind == 'cuda' else 'fp32'
    return torch.autocast(kind, dtype=torch.bfloat16) if dtype == 'bf16' else nullcontext()


def bf16_speedups(step, rounds=3):
    """fp32 time / bf16 time of step(dtype), once per round; the two alternate, after one warm-up each,
    so that a slow spell of the machine falls on both."""
    step('fp32'), step('bf16')
    ratios = []
    for _ in range(rounds):
        times = {}
        for dtype in ('fp32', 'bf16'):
            t = time.perf_counter()
            step(dtype)
            times[dtype] = time.perf_counter() - t
        ratios.append(times['fp32'] / times['bf16'])
    return ratios


DTYPES = ('auto', 'fp32', 'bf16')  # what --dtype accepts
BF16_MARGIN = 1.2  # bf16 must be this much faster in every round: a choice near 1x would flip with noise


def resolve_dtype(requested, device, step=None):
    """'fp32' or 'bf16' for --dtype auto|fp32|bf16, and why. auto: bf16 on a CUDA GPU that has it;
    on a CPU with native bf16, bf16 only if step(dtype) -- one representative unit of the caller's
    work -- runs BF16_MARGIN times faster in it in every round (measured: the 4-layer 128-wide CPU
    model trains at 0.87x in bf16, a 256-wide one at 1.6x; docs/benchmarks.md); fp32 otherwise."""
    kind = torch.device(device).type
    if requested != 'auto':
        slow = requested == 'bf16' and kind == 'cpu' and not cpu_has_bf16()
        return requested, f'--dtype {requested}' + (' (this CPU has no native bf16: expect it to be slow)' if slow else '')
    if kind == 'cuda':
        return ('bf16', 'auto: CUDA with bf16') if torch.cuda.is_bf16_supported() else ('fp32', 'auto: this GPU has no bf16')
    if kind != 'cpu' or step is None:
        return 'fp32', f'auto: fp32 on {kind}' + (' for decoding' if kind == 'cpu' else '')
    if not cpu_has_bf16():
        return 'fp32', 'auto: this CPU has no native bf16'
    ratios = bf16_speedups(step)
    chosen = 'bf16' if min(ratios) >= BF16_MARGIN else 'fp32'
    return chosen, f'auto: bf16 ran at {"/".join(f"{r:.2f}" for r in ratios)}x fp32 here (bf16 needs {BF16_MARGIN}x in every round)'


def maybe_compile(model, flag):
    return torch.compile(model) if flag else model
