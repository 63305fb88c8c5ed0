"""
Every registered task, whatever file it lives in, must work through the whole data path with no
other file knowing its name: generate problems with its own default options, search them with every
complete algorithm, write the trace, replay it with parse, and have the strict verifier accept the
answer. This is also the grading test of the "add a task" assignment.
"""
import json
import random

import pytest

import linearize
import search
from tasks import ProblemError, get_task, load_problems, number_tokens, registry


@pytest.mark.parametrize("name", list(registry()))
def test_every_task_round_trips_search_linearize_parse_verify(name):
    task_cls = get_task(name)
    assert task_cls.name == name and set(task_cls.splits) >= {"train"}
    problems = task_cls.generate(4, random.Random(0), "train", **task_cls.generate_options([]))
    vocab = linearize.build_vocab(task_cls)
    solved = 0
    for problem in problems:
        task_cls.check(problem)
        json.dumps(problem)  # the interchange format is plain JSON
        task = task_cls(problem)
        vocab.encode(linearize.prompt_tokens(task))
        for algo, spec in search.ALGOS.items():
            result = search.run_search(task, algo, budget=3000, seed=1)
            if not result.solved:
                continue
            solved += 1
            answer = task.answer(result.moves)
            assert task.check_answer(answer), (algo, problem)
            trace = linearize.linearize(task, result, algo, answer=answer, costs=algo != "mcts")
            vocab.encode(trace)  # every word a trace can hold is in the vocabulary
            parsed = linearize.parse(task, trace)
            assert parsed.legal and parsed.correct and parsed.answer == answer, (algo, parsed.error)
            states = task.answer_states(answer)
            assert states[0] == task.start() and task.is_goal(states[-1])
    assert solved >= len(problems)  # A* alone solves each one


@pytest.mark.parametrize("name", list(registry()))
def test_every_task_refuses_a_malformed_problem_by_name(name, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "a problem"}\n')
    with pytest.raises(ProblemError, match=rf"{bad}:1: "):
        load_problems(bad, get_task(name))


def test_problem_files_may_be_json_arrays_as_stream_of_search_ships_them(tmp_path):
    sos = tmp_path / "sos.json"
    sos.write_text(json.dumps([{"nums": [84, 62, 58, 48], "target": 96, "search_path": "...", "rating": 1.0},
                               {"nums": [3, 4], "target": 7, "optimal_path": "..."}]))
    problems, skipped = load_problems(sos, get_task("countdown"))
    assert [p["target"] for p in problems] == [96, 7] and skipped == 0
    sos.write_text(json.dumps([{"nums": [3, 4], "target": 7}, {"nums": [3, "x"], "target": 7}]))
    with pytest.raises(ProblemError, match=r"sos.json:item 1: field 'nums'"):
        load_problems(sos, get_task("countdown"))


@pytest.mark.parametrize("name", [n for n, cls in registry().items() if cls.max_number is not None])
def test_a_task_with_a_number_cap_has_a_word_for_every_number_up_to_it(name):
    task_cls = get_task(name)
    vocab = linearize.build_vocab(task_cls)
    for n in range(task_cls.max_number + 1):
        vocab.encode(number_tokens(n))
    with pytest.raises(ValueError):  # and no more: the cap is what keeps the output layer small
        vocab.encode(number_tokens(task_cls.max_number + 1))


def test_the_largest_maze_costs_fit_the_maze_vocabulary():
    """A 16x16 serpent, the longest path the cell encoding can spell: every algorithm's trace with its
    cost fields (g reaches ~135 here) is written in the maze vocabulary."""
    side = get_task("maze").max_side
    rows = []
    for r in range(side):
        if r % 2 == 0:
            rows.append("." * side)
        else:  # a wall with one gap, alternating ends, so the path snakes through every free row
            rows.append("#" * (side - 1) + "." if r % 4 == 1 else "." + "#" * (side - 1))
    rows[0], rows[-1] = "S" + rows[0][1:], rows[-1][:-1] + "G"
    task = get_task("maze")({"grid": rows})
    vocab = linearize.build_vocab(get_task("maze"))
    for algo in ("bfs", "astar", "dfs", "mcts"):
        result = search.run_search(task, algo, budget=5000)
        assert result.solved, algo
        vocab.encode(linearize.linearize(task, result, algo, answer=task.answer(result.moves), costs=True))
    assert max(n.g for ev in search.astar(task).events for n in [ev[1]]) > 100
