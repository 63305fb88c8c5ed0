"""
The pilot of issue 21's next step (docs/design.md, "A pilot of the next try"): is the data what keeps
MCTS in tree order from the learned gate? cpu-formats' maze preset with its runs replaced by one,
`sft_mcts_large`, MCTS traces of the frontier's 16,000 mazes, on cpu-formats' test set; one stage at
a time on all threads (a single training has no partner to run beside).

    python benchmarks/pilot_mcts.py --out /tmp/pilot_mcts                 # ~13 min on 2 cores
"""
import argparse
import os
import sys
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import presets  # noqa: E402
import reproduce  # noqa: E402
from presets import SFTRun  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    # the one trace model is MCTS, so the preset's own trace (what the preflight samples) is too
    presets.PRESETS["pilot-mcts"] = {"maze": replace(presets.PRESETS["cpu-formats"]["maze"], trace="mcts",
                                                     sft=[SFTRun("sft_mcts_large", "trace", "mcts_large", args.steps)])}
    reproduce.main(["--preset", "pilot-mcts", "--out", args.out, "--jobs", "1", "--threads", str(args.threads)])


if __name__ == "__main__":
    main()
