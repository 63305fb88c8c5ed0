"""
Run logs: one JSON object per line, appended as training goes, and the picture of a log.

Both trainers write OUT/log.jsonl (a row per logged step, another per evaluation) and plot it. A run
killed after its last checkpoint has logged steps it never saved; `trim_log` drops them when the run
resumes, so that the log reads like one uninterrupted run.
"""
import json
import os

from files import append_line, atomic_write, save_figure


def append(log_path, row):
    append_line(log_path, json.dumps(row))


def read(log_path):
    rows = []
    with open(log_path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line torn by a kill
    return rows


def trim_log(log_path, step):
    """Keep only the rows up to `step` (the checkpoint a run resumes from)."""
    if not os.path.exists(log_path):
        return
    keep = [r for r in read(log_path) if r.get("step", 0) <= step]
    with atomic_write(log_path) as f:
        f.writelines(json.dumps(r) + "\n" for r in keep)


def plot_log(log_path, png_path, title, left, right=(), left_log=False, xlabel="step"):
    """Plot log columns against step: `left` on the left axis, `right` (accuracies, in [0, 1]) on a
    second axis. A column is drawn from the rows that have it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = read(log_path)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    axes = [(ax, left)] + ([(ax.twinx(), right)] if right else [])
    for k, (a, keys) in enumerate(axes):
        for j, key in enumerate(keys):
            pts = [r for r in rows if key in r]
            a.plot([r["step"] for r in pts], [r[key] for r in pts], "o-" if k else "-", ms=3, lw=1,
                   color=f"C{j + k * len(left)}", label=key)
        a.legend(loc="upper right" if k else "upper left", fontsize=7)
    ax.set_xlabel(xlabel)
    if left_log:
        ax.set_yscale("log")
    if right:
        axes[1][0].set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, png_path, dpi=100)
    plt.close(fig)
