"""
Files that a crash cannot half-write, and fingerprints that tell a whole file from a damaged one.

A run of the pipeline lasts minutes to hours, and anything may stop it: a kill, a full disk, a power
cut. Every output file is therefore written in three moves: into a temporary file next to it, flushed
to the disk (fsync), then renamed over the final name. A rename within one folder is atomic, so the
final name holds either the old file or the new one, never half of each; the folder is synced too, so
that the rename itself survives a power cut.

A full disk or a folder that cannot be written is an error that names the path, and the temporary
file is removed, so nothing half-written is left under any name.

`fingerprint` (size and SHA-256) is what the pipeline records for each output of a finished stage:
on a re-run, a file that went missing, was truncated or was altered is found by comparing the two.
"""
import contextlib
import hashlib
import json
import os


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """`with atomic_write(path) as f: f.write(...)`: the file appears under `path` whole, or not at all."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        sync_folder(folder)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError):
            raise SystemExit(f"error: cannot write {path}: {e.strerror or e}") from None
        raise


def sync_folder(folder):
    with contextlib.suppress(OSError):  # some file systems cannot open a folder; the rename still happened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def append_line(path, line):
    """Append one line (a log row). Appends are not atomic: a kill can tear the last line, which the
    reader skips and a resumed run trims (runlog.trim_log)."""
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as e:
        raise SystemExit(f"error: cannot write {path}: {e.strerror or e}") from None


def save_figure(fig, path, **savefig_args):
    """A matplotlib figure, written atomically (its format from the file's extension)."""
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format=os.path.splitext(path)[1][1:], **savefig_args)


def publish(tmp, path):
    """Move a finished file that a library wrote under a temporary name to its final name, durably."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_folder(os.path.dirname(os.path.abspath(path)))


def fingerprint(path):
    """[size in bytes, SHA-256 hex] of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return [os.path.getsize(path), digest.hexdigest()]


def read_jsonl(path):
    """The rows of a JSON-lines file (a problem file, a trace file, a training log)."""
    with open(path) as f:
        return [json.loads(line) for line in f]
