"""
Processes and threads: one code path for 1 and N training processes.

Under torchrun every process runs the same script; these helpers let it find its rank, sum numbers
across ranks and put sharded results back in order. With one process (no RANK in the environment)
each is the identity, so the trainers never branch on "am I distributed?". Collectives use gloo on
CPUs and NCCL on GPUs; every tensor a collective sees lives on the backend's device (NCCL: this
process's GPU).
"""
import os

import torch
import torch.distributed as dist


def init_distributed(device):
    """(rank, world_size, this process's device). Under torchrun, join the process group (NCCL on
    GPUs, gloo on CPUs); on GPUs each process takes the card of its LOCAL_RANK, `cuda:N`, so that
    two processes never share one."""
    if "RANK" not in os.environ:
        return 0, 1, device
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def finish_distributed(world):
    """Leave the process group together. Without the barrier a rank that finishes first tears down
    its gloo connections while another still holds them; the other's gloo thread then sees "connection
    closed by peer" and aborts the process (SIGABRT), at random, about one run in six."""
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def global_sum(value, world):
    """A Python number summed over all ranks. NCCL reduces only tensors on the GPU (a CPU tensor
    fails with "No backend type associated with device type cpu"), so the tensor is made where the
    process group's backend can reduce it."""
    if world == 1:
        return value
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(float(value), dtype=torch.float64, device=device)  # float32 would round counts above 2**24
    dist.all_reduce(t)
    return t.item()


def gather_shards(local, n, rank, world):
    """The inverse of `items[rank::world]` on every rank: all n items, in their original order
    (values travel by pickle between our own processes, never from a file)."""
    if world == 1:
        return list(local)
    parts = [None] * world
    dist.all_gather_object(parts, list(local))
    return [parts[i % world][i // world] for i in range(n)]


def average_gradients(model, world):
    """Average every parameter's gradient over the ranks, in place: what DDP does, done by hand for
    RL, whose log-probs come from token_logprobs rather than the forward() in which DDP arms its
    hooks. The gradients travel as one flat tensor: one all-reduce per step, not one per parameter."""
    if world == 1:
        return
    params = list(model.parameters())
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
    dist.all_reduce(flat)
    flat /= world
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad = g.view_as(p).clone()


def set_threads(device, threads):
    # PyTorch's default can oversubscribe small machines; be explicit. N local processes share the cores.
    if device == "cpu":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local))
