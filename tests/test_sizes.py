"""
Maze sizes (sizes.py, tasks/maze.py): the size mix is a pure function of the seed; the canvas
encoding spells a maze larger than any trained one in tokens the training mazes trained, where the
cell encoding cannot; the canvas changes the tokens and nothing else (every trace replays legal, every
answer verifies in maze coordinates); and the size curve's pieces against brute force.
"""
import random

import pytest

import evaluate
import linearize
import search
import sizes
from tasks import get_task, load_problems
from tasks.maze import CANVAS, parse_sizes, shortest_path_length, verify


def sequence(task_cls, problem):
    """Prompt, DFS trace and answer of one maze, as the training data spells it."""
    task = task_cls(problem)
    result = search.dfs(task, random_order=0.3, seed=1)
    return linearize.prompt_tokens(task) + linearize.linearize(task, result, "dfs", task.answer(result.moves), costs=False)


def test_the_size_mix_is_a_function_of_the_seed(tmp_path):
    maze = get_task("maze")
    a, b = (maze.generate(200, random.Random(7), "train", sizes=[4, 5, 6, 7, 8]) for _ in range(2))
    assert a == b and a != maze.generate(200, random.Random(8), "train", sizes=[4, 5, 6, 7, 8])
    sides = [len(p["grid"]) for p in a]
    assert set(sides) == {4, 5, 6, 7, 8} and all(len(p["grid"][0]) == len(p["grid"]) for p in a)
    # Searchformer's rule holds per maze: a shortest plan of at least `side` cells
    assert all(shortest_path_length(p) >= len(p["grid"]) for p in a)
    # through search.py's command line too, byte for byte
    for name in ("x", "y"):
        search.main(["--task", "maze", "--generate", "50", "--seed", "3", "--sizes", "4-8", "--out", str(tmp_path / name)])
    assert (tmp_path / "x").read_bytes() == (tmp_path / "y").read_bytes()


def test_sizes_are_read_strictly():
    assert parse_sizes("4-8") == [4, 5, 6, 7, 8] and parse_sizes("4,6,10") == [4, 6, 10]
    for bad in ("", "8-4", "a-b", "1,2", "4-100"):
        with pytest.raises(ValueError, match="sizes"):
            parse_sizes(bad)


def trained_words(task_cls, n=600):
    return {w for p in get_task("maze").generate(n, random.Random(0), "train", sizes=[4, 5, 6, 7, 8])
            for w in sequence(task_cls, p)}


@pytest.mark.parametrize("name", ["maze-canvas", "maze-canvas-rc", "maze-canvas-sum", "maze-canvas-open"])
def test_the_canvas_spells_larger_mazes_in_trained_tokens_only(name):
    task_cls = get_task(name)
    vocab, seen = linearize.build_vocab(task_cls), trained_words(task_cls)
    for side in (9, 10, CANVAS):
        for problem in get_task("maze").generate(20, random.Random(side), "test", sizes=[side]):
            words = sequence(task_cls, problem)
            vocab.encode(words)  # no unknown token
            assert set(words) <= seen, (side, set(words) - seen)


def test_the_cell_encoding_cannot_and_the_test_would_say_so():
    seen = trained_words(get_task("maze"))
    words = {w for p in get_task("maze").generate(20, random.Random(10), "test", sizes=[10]) for w in sequence(get_task("maze"), p)}
    assert words - seen  # cells of rows and columns 8 and 9: no 4..8 maze ever had them


@pytest.mark.parametrize("name", ["maze-canvas", "maze-canvas-rc", "maze-canvas-sum", "maze-canvas-open"])
def test_the_canvas_changes_tokens_only(name):
    task_cls, maze = get_task(name), get_task("maze")
    for problem in maze.generate(60, random.Random(2), "train", sizes=list(range(2, CANVAS + 1))):
        task, plain = task_cls(problem), maze(problem)
        assert 0 <= task.r0 <= CANVAS - task.h and 0 <= task.c0 <= CANVAS - task.w
        result = search.dfs(task)
        assert result.moves == search.dfs(plain).moves and result.solved
        parsed = linearize.parse(task, linearize.linearize(task, result, "dfs", task.answer(result.moves), costs=False))
        assert parsed.legal and parsed.correct and verify(problem, parsed.answer)
        # a cell outside the maze (but inside the canvas) is no state of it: never a legal step
        outside = task.cell_tokens(task.r0 + task.h, task.c0) if task.r0 + task.h < CANVAS else None
        if outside:
            assert not linearize.parse(task, ["go", *outside, "answer", *outside]).legal


def test_every_canvas_cell_is_trained_by_the_size_mix():
    task_cls = get_task("maze-canvas")
    seen = trained_words(task_cls)
    assert {f"c{r}_{c}" for r in range(CANVAS) for c in range(CANVAS)} <= seen


def test_stratified_takes_n_of_each_kind_in_order():
    maze = get_task("maze")
    draw = lambda r: maze.generate(20, random.Random(r), "test", height=6, width=6)
    chosen = sizes.stratified(maze, 7, draw)
    kinds = [search.needs_search(maze(p)) for p in chosen]
    assert kinds.count(True) == kinds.count(False) == 7 and chosen == sizes.stratified(maze, 7, draw)
    # brute force: walk the rounds by hand, keeping the first 7 of each kind
    expect, counts, r = [], {True: 0, False: 0}, 100
    while min(counts.values()) < 7:
        for p in draw(r):
            k = search.needs_search(maze(p))
            if counts[k] < 7:
                counts[k] += 1
                expect.append(p)
        r += 1
    assert chosen == expect
    with pytest.raises(SystemExit, match="could not draw"):
        sizes.stratified(maze, 7, lambda r: [], rounds=3)


def test_size_tests_are_one_side_each_and_reproducible(tmp_path):
    maze = get_task("maze-canvas")
    paths = sizes.write_size_tests(maze, [5, 9], 4, str(tmp_path))
    (tmp_path / "again").mkdir()
    again = sizes.write_size_tests(maze, [5, 9], 4, str(tmp_path / "again"))
    for side, path in paths.items():
        rows = load_problems(path, maze)[0]
        assert len(rows) == 8 and all(len(r["grid"]) == len(r["grid"][0]) == side for r in rows)
        assert open(path).read() == open(again[side]).read()
    assert sizes.trained_sides(maze, ["--sizes", "4-8"]) == [4, 5, 6, 7, 8]
    assert sizes.trained_sides(maze, ["--height", "6", "--width-cells", "6"]) == [6]


def test_versus_pairs_the_stratum_against_brute_force():
    rng = random.Random(0)
    a, b = {}, {}
    for side in ("4", "10"):
        needs = [rng.randint(0, 1) for _ in range(30)]
        a[side] = {"greedy": [rng.randint(0, 1) for _ in range(30)], "needs_search": needs}
        b[side] = {"greedy": [rng.randint(0, 1) for _ in range(30)], "needs_search": needs}
    got = sizes.versus(a, b)
    assert list(got) == ["4", "10"]
    for side in a:
        idx = [i for i, k in enumerate(a[side]["needs_search"]) if k]
        diff = sum(a[side]["greedy"][i] - b[side]["greedy"][i] for i in idx) / len(idx)
        assert got[side]["n"] == len(idx) and got[side]["diff"] == pytest.approx(diff)
        assert got[side]["ci95"][0] <= diff <= got[side]["ci95"][1]


def test_a_maze_the_model_cannot_spell_is_wrong_not_a_crash(tiny_canvas_model):
    model, vocab, task_cls = tiny_canvas_model
    maze = get_task("maze")
    problems = maze.generate(2, random.Random(0), "test", sizes=[CANVAS + 1]) + maze.generate(2, random.Random(0), "test", sizes=[5])
    rows = sizes.greedy_rows(model, vocab, task_cls, problems, batch_size=4)
    assert [r["error"] for r in rows[:2]] == ["does not fit the context"] * 2 and rows[0]["greedy"] == 0
    assert all(r["error"] != "does not fit the context" and "legal_steps" in r for r in rows[2:])
    assert set(sizes.point(rows)) == set(evaluate.STRATA)


@pytest.fixture(scope="module")
def tiny_canvas_model():
    from model import GPT, GPTConfig
    task_cls = get_task("maze-canvas")
    vocab = linearize.build_vocab(task_cls)
    return GPT(GPTConfig(vocab_size=len(vocab), block_size=48, n_layer=1, n_head=2, n_embd=16)), vocab, task_cls


def test_the_reports_size_lines_judge_the_targets(tmp_path):
    import report
    import summary
    point = lambda g, legal: {s: {"greedy": g, "legal_step_rate": legal, "n": 4} for s in evaluate.STRATA}
    models = {"sft_solution": {"kind": "solution", "gate": {"passed": True}, "sizes": {"4": point(0.5, None), "6": point(0.1, None)}},
              "sft_dfs": {"kind": "trace", "gate": {"passed": True}, "curve": [{"val_acc": 0.9}],
                          "sizes": {"4": point(0.95, 0.97), "6": point(0.6, 0.9)},
                          "sizes_vs_solution": {"6": {"n": 4, "diff": 0.25, "ci95": [0.0, 0.5]}}}}
    res = {"models": models, "samples": 0, "size_curve": {"sides": [4, 6], "trained_sides": [4], "per_stratum": 2}}
    sec = report.Section(str(tmp_path), "maze-canvas", res)
    sec.rows = {"sft_solution": [], "sft_dfs": []}
    lines = summary.size_summary(sec, "sft_dfs")
    assert "greedy at least 0.950, legal-step rate at least 0.970 (targets 0.90 and 0.95: met)" in lines[0]
    assert "6x6" in lines[1] and "+0.250 [+0.000, +0.500] (targets 0.50 and +0.20: met)" in lines[1]
    models["sft_dfs"]["sizes"]["6"] = point(0.4, 0.9)
    assert "missed" in summary.size_summary(sec, "sft_dfs")[1]
    table = report.size_table(sec)
    assert "| sft_dfs | 0.95 / 0.95 (0.970) | 0.40 / 0.40 (0.900) |" in table and "4x4 (trained) | 6x6 |" in table[2]
