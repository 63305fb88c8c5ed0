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
import multiprocessing
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass

from files import atomic_write, fingerprint


@dataclass
class Stage:
    name: str
    estimate: float      # seconds, for the ETA
    key: dict            # every setting its result depends on
    fn: object           # fn() writes the folder `output`; picklable to run in a process of its own
    output: str
    after: tuple         # the stages it needs finished first


class Pipeline:
    def __init__(self, out, overwrite=False):
        self.out, self.overwrite, self.stages, self.wall_s, self.ran = out, overwrite, [], 0.0, 0

    def add(self, name, estimate_s, key, fn, output, after=None):
        """A stage: `fn()` writes the folder `output`; `key` is every setting its result depends on;
        `estimate_s` is a first guess of its time, for the ETA; `after`: the stages it needs (None:
        every stage added before it)."""
        after = tuple(s.name for s in self.stages) if after is None else tuple(after)
        self.stages.append(Stage(name, estimate_s, json.loads(json.dumps(key, sort_keys=True, default=str)), fn,
                                 output, after))

    def set_estimates(self, seconds):
        """Replace the stages' first guesses with a plan's seconds {stage: seconds} (the ETA's basis)."""
        for s in self.stages:
            s.estimate = seconds.get(s.name, s.estimate)

    def estimates(self):
        return {s.name: round(s.estimate, 1) for s in self.stages}

    def makespan(self, jobs, done=(), started=None):
        """Seconds until every stage not in `done` has finished, by the estimates, with `jobs` stages
        at a time in the order given (a stage waits for those it needs). `started`: {stage: seconds
        it has already run}, for the ones running now."""
        started, finish, free = started or {}, {}, [0.0] * max(1, jobs)
        for s in self.stages:
            if s.name in done:
                finish[s.name] = 0.0
                continue
            free.sort()
            begin = max([free[0]] + [finish.get(d, 0.0) for d in s.after])
            finish[s.name] = free[0] = begin + max(0.0, s.estimate - started.get(s.name, 0.0))
        return max(finish.values(), default=0.0)

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
        for name, key in ((s.name, s.key) for s in self.stages):
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

    def ready(self, k, stage):
        """True if the stage is cached (finished with these settings, its files intact). Otherwise
        it is made ready to run: a damaged folder is moved aside, and (only with --overwrite, which
        check() demands) a stage of other settings has its outputs removed."""
        tag, record = f"[{k}/{len(self.stages)}] {stage.name}", self.record(stage.name)
        if record is not None and record.get("key", stage.key) == stage.key:  # (an unreadable marker has no key)
            damaged = self.damage(record) if "outputs" in record else [f"{self.marker(stage.name)} is unreadable"]
            if not damaged:
                print(f"{tag}: cached")
                return True
            aside = _free_name(f"{stage.output}.damaged")
            print(f"{tag}: {'; '.join(damaged)}. Moving {stage.output} to {aside} and redoing the stage.")
            os.remove(self.marker(stage.name))
            if os.path.exists(stage.output):
                os.rename(stage.output, aside)
        elif record is not None:
            # the user asked for it to be redone, and a resumed checkpoint of other settings must not
            # leak into the new run
            print(f"{tag}: made with other settings; --overwrite removes {stage.output}")
            os.remove(self.marker(stage.name))
            shutil.rmtree(stage.output, ignore_errors=True)
        return False

    def finish(self, stage, took):
        # the marker is the last thing a stage writes: without it the stage counts as unfinished
        with atomic_write(self.marker(stage.name)) as f:
            json.dump({"key": stage.key, "seconds": took, "outputs": self.outputs(stage.output)}, f)

    def run(self, jobs=1):
        """Run every stage not cached. jobs > 1: up to that many at once, each in a process of its own
        (its output in .stages/NAME.log), a stage starting once the stages it needs have finished."""
        os.makedirs(os.path.join(self.out, ".stages"), exist_ok=True)
        self.check()
        t0 = time.time()
        if jobs > 1:
            self._run_parallel(jobs, t0)
        else:
            done, spent = set(), {}
            for k, stage in enumerate(self.stages, 1):
                if self.ready(k, stage):
                    done.add(stage.name)
                    continue
                print(f"\n[{k}/{len(self.stages)}] {stage.name}  (elapsed {_clock(time.time() - t0)}, "
                      f"ETA {_clock(self._eta(1, done, spent))})", flush=True)
                start = time.time()
                stage.fn()
                self.ran += 1
                spent[stage.name] = time.time() - start
                done.add(stage.name)
                self.finish(stage, spent[stage.name])
        self.wall_s = time.time() - t0  # this invocation's, from its first stage to its last
        print(f"\nall {len(self.stages)} stages done in {_clock(self.wall_s)}")
        print(f"{'stage':28} {'planned':>9} {'took':>9}")
        for stage in self.stages:
            print(f"{stage.name:28} {_clock(stage.estimate):>9} {_clock(self.record(stage.name)['seconds']):>9}")
        print(f"{'total (stage seconds)':28} {_clock(sum(s.estimate for s in self.stages)):>9} "
              f"{_clock(sum(self.seconds().values())):>9}")

    def _eta(self, jobs, done, spent, started=None):
        """The plan's makespan of what is left, scaled by how the finished stages' times compared with
        their estimates (a machine slower than planned stays slower). The pace starts from the plan's,
        as if a tenth of the plan had already run to it: a short first stage (the main job's 16 s of
        data against 12 planned) said 1.4x and swung the ETA from 31 to 43 minutes; now it moves it by 1 %."""
        est = sum(s.estimate for s in self.stages if s.name in spent)
        prior = 0.1 * sum(s.estimate for s in self.stages)
        pace = (sum(spent.values()) + prior) / (est + prior) if est + prior else 1.0
        return self.makespan(jobs, done, started) * pace

    def _run_parallel(self, jobs, t0):
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
        pending, running, done, spent = list(enumerate(self.stages, 1)), {}, set(), {}
        try:
            while pending or running:
                for k, stage in list(pending):
                    if len(running) >= jobs:
                        break
                    if any(d not in done for d in stage.after):
                        continue
                    pending.remove((k, stage))
                    if self.ready(k, stage):
                        done.add(stage.name)
                        continue
                    log = os.path.join(self.out, ".stages", stage.name.replace("/", "_") + ".log")
                    proc = ctx.Process(target=_child, args=(stage.fn, log, os.getpid()))
                    proc.start()
                    running[stage.name] = (k, stage, proc, time.time(), log)
                    elapsed = {n: time.time() - r[3] for n, r in running.items()}
                    print(f"[{k}/{len(self.stages)}] {stage.name} started (log {log}; elapsed {_clock(time.time() - t0)}, "
                          f"ETA {_clock(self._eta(jobs, done, spent, elapsed))})", flush=True)
                if not running and pending:
                    raise SystemExit(f"error: stages {[s.name for _, s in pending]} wait for stages that never run")
                time.sleep(0.2)
                for name, (k, stage, proc, start, log) in list(running.items()):
                    if proc.exitcode is None:
                        continue
                    del running[name]
                    code = proc.exitcode
                    proc.join()
                    proc.close()
                    if code != 0:
                        tail = "".join(open(log).readlines()[-15:]) if os.path.exists(log) else ""
                        raise SystemExit(f"error: stage {name} failed (exit code {code}); the end of {log}:\n{tail}")
                    spent[name] = time.time() - start
                    self.ran += 1
                    done.add(name)
                    self.finish(stage, spent[name])
                    print(f"[{k}/{len(self.stages)}] {name} done in {_clock(spent[name])}", flush=True)
        finally:
            for _, _, proc, _, _ in running.values():  # on a failure (or Ctrl-C) the others stop too
                proc.terminate()

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
        return {s.name: round(self.record(s.name)["seconds"], 1) for s in self.stages}


def _child(fn, log, parent):
    """A stage in a process of its own: its output to `log`; it stops if the pipeline that started it
    dies (killed, it cannot stop its children itself), so that no orphan writes into a resumed run."""
    out = open(log, "a", buffering=1)
    for fd in (1, 2):  # at the descriptor level, so that processes it starts write there too
        os.dup2(out.fileno(), fd)
    sys.stdout = sys.stderr = out

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()
    fn()


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
