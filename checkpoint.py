"""
Checkpoints: a trained model as data, written so that a crash never loses one and loaded so that a
file from elsewhere can never run code.

A checkpoint is a plain dict of tensors and builtins: model weights, optimizer state, the model
config, the vocabulary, the task's name, the step and the RNG state (so that a resumed run continues
exactly). It is written to a temporary file and renamed over the old one, and loaded with
torch.load(weights_only=True), which refuses anything but tensors and builtins: a pickled payload is
rejected before it can run. Every error names the file and what is wrong with it.
"""
import os
import pickle
import zipfile
from dataclasses import asdict, fields

import torch

import linearize
from files import atomic_write
from model import GPT, GPTConfig
from tasks import get_task

REQUIRED = ("model", "config", "vocab", "task", "step")


def save_checkpoint(path, **state):
    """Write to a temporary file, then rename: a crash mid-write leaves the previous checkpoint."""
    with atomic_write(path, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path):
    """Load with weights_only=True: a checkpoint is data, and one carrying a pickled payload (which
    could run code) is refused. Errors say which file and what is wrong with it."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SystemExit(f"error: checkpoint {path} does not exist") from None
    except pickle.UnpicklingError as e:
        raise SystemExit(f"error: refusing to load {path}: it is not a plain weights checkpoint "
                         f"(weights_only=True rejected it: {str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise SystemExit(f"error: checkpoint {path} is corrupt or truncated ({str(e).splitlines()[0]})") from None
    missing = [k for k in REQUIRED if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise SystemExit(f"error: checkpoint {path} lacks field(s) {', '.join(missing)}")
    return ckpt


def task_of(ckpt, path="the checkpoint"):
    """The checkpoint's task class. Its vocabulary must be the task's current one: a checkpoint made
    with an older encoding of the task would read its own tokens as something else."""
    try:
        task_cls = get_task(ckpt["task"])
    except ValueError as e:
        raise SystemExit(f"error: {path}: field 'task': {e}") from None
    if ckpt["vocab"] != linearize.build_vocab(task_cls).itos:
        raise SystemExit(f"error: {path}: field 'vocab' is not the current vocabulary of task {ckpt['task']!r} "
                         f"(made with an older encoding of the task?); retrain it with this version")
    return task_cls


def model_config(saved, path="the checkpoint"):
    """The GPTConfig of a checkpoint's field 'config'. A field added since it was written takes its
    default; a field this version does not know is an error that names it."""
    if not isinstance(saved, dict):
        raise SystemExit(f"error: {path}: field 'config' is not a dict")
    unknown = sorted(set(saved) - {f.name for f in fields(GPTConfig)})
    if unknown:
        raise SystemExit(f"error: {path}: field 'config' has unknown key(s) {', '.join(unknown)} (from a newer version?)")
    try:
        return GPTConfig(**saved)
    except TypeError as e:
        raise SystemExit(f"error: {path}: field 'config': {e}") from None


def model_from_checkpoint(ckpt, device="cpu", path="the checkpoint"):
    model = GPT(model_config(ckpt["config"], path))
    model.load_state_dict(ckpt["model"])
    return model.to(device), linearize.Vocab(ckpt["vocab"])


def load(path, device="cpu"):
    """(model, vocabulary, task class) of a checkpoint file: the one call that loads a model, with
    every check above (plain data only, required fields, the task's current vocabulary)."""
    ckpt = load_checkpoint(path)
    task_cls = task_of(ckpt, path)
    model, vocab = model_from_checkpoint(ckpt, device, path)
    return model, vocab, task_cls


def release(src, dst, dtype=torch.float16):
    """A checkpoint for others to evaluate and sample from: the weights alone (no optimizer state or
    RNG), in float16 by default (half the bytes), with the config, vocabulary, task and step; it loads
    like any other (the weights are cast back to float32). Returns the bytes written."""
    ckpt = load_checkpoint(src)
    save_checkpoint(dst, model={k: v.to(dtype) for k, v in ckpt["model"].items()},
                    **{k: ckpt[k] for k in ("config", "vocab", "task", "step")}, released_from=os.path.basename(src))
    return os.path.getsize(dst)


def config_differences(saved, config, path="the checkpoint"):
    """Each field in which a checkpoint's saved config differs from the GPTConfig `config`, with both
    values ("" if none); a field the checkpoint predates counts at its default."""
    saved, current = asdict(model_config(saved, path)), asdict(config)
    return ", ".join(f"{k} {saved.get(k)} in the checkpoint, {current.get(k)} here"
                     for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k))


def check_compatible(ckpt, vocab, block_size, source):
    """A checkpoint must speak the data's language: same vocabulary, enough context."""
    if ckpt["vocab"] != vocab.itos:
        raise SystemExit(f"error: checkpoint field 'vocab' ({len(ckpt['vocab'])} tokens) differs from the "
                         f"vocabulary of {source} ({len(vocab)} tokens)")
    if ckpt["config"]["block_size"] < block_size:
        raise SystemExit(f"error: checkpoint field 'block_size' is {ckpt['config']['block_size']}, but {source} "
                         f"needs {block_size}")
