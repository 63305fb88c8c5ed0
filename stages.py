"""
A tiny stage runner for long experiments: cached by settings, checked rather than trusted, resumable
after a kill at any moment, and unable to destroy a finished run.

An experiment is a list of stages (make the data, train a model, evaluate...). Each stage writes one
folder and, once it has finished, a marker file recording

- the settings it ran with (its `key`: the preset, the seed, the code version),
- what it produced: the size and SHA-256 of every file in its folder,
- how long it took.

On a re-run, a stage whose marker matches the settings and whose files still match the record is
skipped. A file that went missing, was truncated or was altered is named, the damaged folder is moved
aside (never deleted), and the stage is redone. A stage without a marker was interrupted: it runs
again, and the trainers resume from their last checkpoint. Because every stage is deterministic,
a run killed anywhere and restarted ends with the same files as one that never stopped.

A finished stage made with other settings is never overwritten: the runner refuses before anything
runs, names the differing settings, and offers the two ways on (another folder, or --overwrite).
"""
import json
import os
import shutil
import time

from files import atomic_write, fingerprint


class Pipeline:
    def __init__(self, out, overwrite=False):
        self.out, self.overwrite, self.stages = out, overwrite, []

    def add(self, name, estimate_s, key, fn, output):
        """A stage: `fn()` writes the folder `output`; `key` is every setting its result depends on;
        `estimate_s` is a first guess of its time, for the ETA."""
        self.stages.append((name, estimate_s, json.loads(json.dumps(key, sort_keys=True, default=str)), fn, output))

    def marker(self, name):
        return os.path.join(self.out, ".stages", name.replace("/", "_") + ".json")

    def record(self, name):
        path = self.marker(name)
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                return json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}  # an unreadable marker proves nothing: the stage is redone

    def check(self):
        """Refuse, before anything runs, to redo a finished stage under other settings."""
        for name, _, key, _, _ in self.stages:
            old = (self.record(name) or {}).get("key")
            if old is not None and old != key and not self.overwrite:
                diff = ", ".join(f"{k}: {_short(old.get(k))} -> {_short(key.get(k))}" for k in sorted(set(old) | set(key))
                                 if old.get(k) != key.get(k))
                raise SystemExit(f"error: {self.out} holds a finished stage {name} made with other settings "
                                 f"({diff}). Nothing was changed. Use --out NEW_FOLDER for a new run, or "
                                 f"--overwrite to redo the changed stages in this folder (their outputs are removed).")

    def damage(self, record):
        """What is wrong with a finished stage's files, one phrase per file (empty: all intact)."""
        found = []
        for rel, (size, digest) in sorted(record.get("outputs", {}).items()):
            path = os.path.join(self.out, rel)
            if not os.path.exists(path):
                found.append(f"{path} is missing")
            elif os.path.getsize(path) != size:
                now = os.path.getsize(path)
                found.append(f"{path} is truncated ({now} of {size} bytes)" if now < size else
                             f"{path} has changed size ({now} bytes, {size} recorded)")
            elif fingerprint(path)[1] != digest:
                found.append(f"{path} was altered (its SHA-256 differs from the record)")
        return found

    def run(self):
        os.makedirs(os.path.join(self.out, ".stages"), exist_ok=True)
        self.check()
        t0, spent_est, spent = time.time(), 0.0, 0.0
        total_est = sum(s[1] for s in self.stages)
        for k, (name, est, key, fn, output) in enumerate(self.stages, 1):
            tag, record = f"[{k}/{len(self.stages)}] {name}", self.record(name)
            if record is not None and record.get("key", key) == key:  # (an unreadable marker has no key)
                damaged = self.damage(record) if "outputs" in record else [f"{self.marker(name)} is unreadable"]
                if not damaged:
                    print(f"{tag}: cached")
                    total_est -= est
                    continue
                aside = _free_name(f"{output}.damaged")
                print(f"{tag}: {'; '.join(damaged)}. Moving {output} to {aside} and redoing the stage.")
                os.remove(self.marker(name))
                if os.path.exists(output):
                    os.rename(output, aside)
            elif record is not None:
                # only with --overwrite (check() refused otherwise): the user asked for it to be redone,
                # and a resumed checkpoint of other settings must not leak into the new run
                print(f"{tag}: made with other settings; --overwrite removes {output}")
                os.remove(self.marker(name))
                shutil.rmtree(output, ignore_errors=True)
            pace = spent / spent_est if spent_est else 1.0
            print(f"\n{tag}  (elapsed {_clock(time.time() - t0)}, ETA {_clock((total_est - spent_est) * pace)})",
                  flush=True)
            start = time.time()
            fn()
            took = time.time() - start
            spent, spent_est = spent + took, spent_est + est
            # the marker is the last thing a stage writes: without it the stage counts as unfinished
            with atomic_write(self.marker(name)) as f:
                json.dump({"key": key, "seconds": took, "outputs": self.outputs(output)}, f)
        print(f"\nall {len(self.stages)} stages done in {_clock(time.time() - t0)}")

    def outputs(self, folder):
        """{path relative to the run folder: [size, sha256]} for every file the stage left in its folder
        (temporary files, whose names start with a dot, excluded)."""
        found = {}
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for n in sorted(names):
                if not n.startswith("."):
                    path = os.path.join(root, n)
                    found[os.path.relpath(path, self.out)] = fingerprint(path)
        return found

    def seconds(self):
        """{stage: seconds its last (completed) attempt took}."""
        return {s[0]: round(self.record(s[0])["seconds"], 1) for s in self.stages}


def _free_name(path):
    n, candidate = 1, path
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}-{n}"
    return candidate


def _short(value):
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _clock(seconds):
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
