"""Grading (``python -m llmbook.book grade``) and a learner's ``progress()``.

One grading run scores the two editions of chapter 0 (solutions kept / removed by the project's own
``strip_solutions``); small synthetic notebooks show a raising cell, a notebook past its time limit and a
dead kernel. Each notebook costs a kernel start and a few seconds.
"""
from __future__ import annotations

import csv
import io
import json
import time
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest

from llmbook.book import build as book
from llmbook.book import exercises, grade
from llmbook.book.exercises import check, progress

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_0 = ROOT / "notebooks" / "00_how_to_use.ipynb"
SETUP = 'from llmbook.book.exercises import check\nfrom llmbook import data\ntext = data.load("tinyshakespeare", "all")'
RIGHT_00_1 = 'check("00.1", len(set(text)))'
RIGHT_00_3 = 'check("00.3", text.count("\\n") / len(text))'


def synthetic(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A student's notebook")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def statuses(g: grade.NotebookGrade) -> dict[str, str]:
    return {i: r.status for i, r in g.exercises.items()}


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    """Chapter 0 in its teacher and student editions, graded in one command with CSV and JSON reports."""
    folder = tmp_path_factory.mktemp("class")
    nb = nbformat.read(str(CHAPTER_0), as_version=4)
    (folder / "teacher").mkdir()
    (folder / "student").mkdir()
    nbformat.write(nb, str(folder / "teacher" / CHAPTER_0.name))
    nbformat.write(book.strip_solutions(nb), str(folder / "student" / CHAPTER_0.name))
    checkpoint = folder / "student" / ".ipynb_checkpoints" / "00_how_to_use-checkpoint.ipynb"
    checkpoint.parent.mkdir()
    checkpoint.write_text("not even JSON")  # would be "could not run" if it were not skipped
    csv_file, json_file = folder / "grades.csv", folder / "grades.json"
    out = io.StringIO()
    with redirect_stdout(out):
        code = book.main(["grade", str(folder / "teacher" / CHAPTER_0.name), str(folder / "student"),
                          "--csv", str(csv_file), "--json", str(json_file)])
    print(out.getvalue())  # the table, shown with pytest -s
    return {"code": code, "out": out.getvalue(), "csv": csv_file, "json": json_file, "folder": folder}


@pytest.mark.slow
def test_teacher_edition_scores_full_marks_and_student_edition_zero(editions):
    assert editions["code"] == 0  # a report, whatever the scores
    report = json.loads(editions["json"].read_text(encoding="utf-8"))
    assert report["exercises"] == ["00.1", "00.2", "00.3"]
    teacher, student = report["notebooks"]  # in the order given; the checkpoint copy is skipped
    assert teacher["notebook"].endswith("teacher/00_how_to_use.ipynb")
    assert student["notebook"].endswith("student/00_how_to_use.ipynb")
    assert (teacher["status"], teacher["score"], teacher["total"]) == ("completed", 3, 3)
    assert {e["status"] for e in teacher["exercises"].values()} == {"pass"}
    assert teacher["cell_errors"] == []
    assert (student["status"], student["score"], student["total"]) == ("completed", 0, 3)
    for exercise_id, result in student["exercises"].items():
        assert result["status"] in ("not attempted", "fail"), (exercise_id, result)
        assert result["message"].endswith(exercises.REGISTRY[exercise_id].hint), result  # the check's own hint
    lines = editions["out"].splitlines()
    teacher_row = next(line for line in lines if line.startswith(teacher["notebook"]))
    student_row = next(line for line in lines if line.startswith(student["notebook"]))
    assert teacher_row.split()[1:5] == ["✅", "✅", "✅", "3/3"]
    assert student_row.split()[1:5] == ["–", "–", "–", "0/3"]


@pytest.mark.slow
def test_csv_and_json_hold_the_same_scores(editions):
    report = json.loads(editions["json"].read_text(encoding="utf-8"))
    with editions["csv"].open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["notebook"] for r in rows] == [n["notebook"] for n in report["notebooks"]]
    for row, entry in zip(rows, report["notebooks"]):
        assert (int(row["score"]), int(row["total"]), row["status"]) == (entry["score"], entry["total"], entry["status"])
        assert {i: row[i] for i in report["exercises"]} == {i: e["status"] for i, e in entry["exercises"].items()}
    assert [int(r["score"]) for r in rows] == [3, 0]


@pytest.mark.slow
def test_a_raising_cell_does_not_stop_the_other_exercises(tmp_path):
    path = synthetic(tmp_path / "05_renamed_by_a_student.ipynb", SETUP, RIGHT_00_1,
                     'raise RuntimeError("student bug")\ncheck("00.2", "the")', 'check("00.3", 0.5)')
    g = grade.grade_notebook(path, timeout=120)
    assert g.status == "completed"
    chapter_5 = exercises.chapter_exercises("05")  # from the file name: checked nowhere, not attempted
    assert len(chapter_5) >= 3
    assert statuses(g) == {"00.1": "pass", "00.2": "error", "00.3": "fail", **{i: "not attempted" for i in chapter_5}}
    assert g.exercises["00.2"].message == "cell 4 raised RuntimeError: student bug"
    assert g.exercises["00.3"].message.startswith("wrong answer. Hint: The share of characters that are newlines")
    assert g.exercises[chapter_5[0]].message == f'no check("{chapter_5[0]}", ...) call ran'
    assert (g.score, g.total) == (1, 3 + len(chapter_5))
    assert g.cell_errors == ["cell 4: RuntimeError: student bug"]


@pytest.mark.slow
def test_a_notebook_past_its_time_limit_is_reported_with_what_it_finished(tmp_path):
    path = synthetic(tmp_path / "slow.ipynb", SETUP, RIGHT_00_1, 'import time\ntime.sleep(300)\ncheck("00.2", "the")',
                     RIGHT_00_3)
    start = time.perf_counter()
    g = grade.grade([tmp_path], timeout=6)[0]
    assert time.perf_counter() - start < 60  # the sleeping kernel was stopped, not waited for
    assert g.status == "timed out"
    assert "cell 4 was still running at the 6 s limit" in g.message
    assert statuses(g) == {"00.1": "pass", "00.2": "error", "00.3": "not run"}
    assert g.exercises["00.2"].message == "cell 4 timed out"
    assert g.score == 1


@pytest.mark.slow
def test_a_dead_kernel_and_an_unreadable_notebook_are_reported_and_grading_goes_on(tmp_path):
    folder = tmp_path / "class"
    synthetic(folder / "a_crash.ipynb", SETUP, RIGHT_00_1, 'import os\nos._exit(1)\ncheck("00.2", "the")', RIGHT_00_3)
    (folder / "b_broken.ipynb").write_text("{ not a notebook")
    report_file = tmp_path / "grades.json"
    assert grade.main([str(folder), "--timeout", "60", "--json", str(report_file)]) == 0
    crash, broken = json.loads(report_file.read_text(encoding="utf-8"))["notebooks"]
    assert crash["status"] == "kernel died" and crash["message"] == "the kernel died in cell 4"
    assert {i: e["status"] for i, e in crash["exercises"].items()} == {"00.1": "pass", "00.2": "error", "00.3": "not run"}
    assert crash["exercises"]["00.2"]["message"] == "cell 4 killed the kernel"
    assert broken["status"] == "could not run" and "cannot read the notebook" in broken["message"]
    assert broken["total"] == 0


def test_a_bad_path_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        book.main(["grade", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        grade.main([str(tmp_path)])  # a folder with no notebooks
    assert exit_info.value.code == 2
    assert "no notebooks" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a notebook"):
        grade.find_notebooks([tmp_path / "notes.txt"])


def test_check_writes_the_grade_log_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.delenv(exercises.GRADE_LOG_ENV, raising=False)
    monkeypatch.setattr(exercises, "_OUTCOMES", {})
    check("00.2", None)
    assert not log.exists()
    monkeypatch.setenv(exercises.GRADE_LOG_ENV, str(log))
    check("00.2", None)
    check("00.2", "thee")
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(o["exercise"], o["status"]) for o in lines] == [("00.2", "not attempted"), ("00.2", "fail")]
    assert lines[1]["message"].startswith("wrong answer. Hint: Split the training text")


def test_progress_reports_pass_fail_and_not_attempted(monkeypatch):
    monkeypatch.delenv(exercises.GRADE_LOG_ENV, raising=False)
    monkeypatch.setattr(exercises, "_OUTCOMES", {})
    assert progress() == {} and "No exercise checked yet" in repr(progress())
    exercises._load_all()
    chapter = {"00.1": lambda a: a == 65, "00.2": lambda a: a == "the", "00.3": lambda a: 1 / 0}
    for exercise_id, checker in chapter.items():  # stand-in checkers: no data loaded
        monkeypatch.setitem(exercises.REGISTRY, exercise_id,
                            exercises.Exercise(exercise_id, checker, exercises.REGISTRY[exercise_id].hint))
    assert check("00.1", 64) is False
    assert check("00.1", 65) is True
    assert check("00.1", None) is False  # no answer does not undo an answer
    assert check("00.3", 0.1) is False  # the checker raised: a failure with the reason
    report = progress()
    assert report == {"00.1": "pass", "00.2": "not attempted", "00.3": "fail"}
    text = repr(report)
    assert "Chapter 00: 1 of 3 exercises pass" in text
    assert "✅ 00.1" in text and "ZeroDivisionError" in text and "00.2   not attempted" in text
    assert check("00.1", 66) is False  # the latest answer decides
    assert progress(0)["00.1"] == "fail"
    assert progress("00") == progress()
    assert list(progress("01")) == exercises.chapter_exercises("01")
    assert set(progress("01").values()) == {"not attempted"}
    with pytest.raises(ValueError, match="no exercises registered for chapter '99'"):
        progress("99")


def test_exercise_ids_sort_by_number():
    assert sorted(["00.10", "00.9", "00.1"], key=exercises._id_key) == ["00.1", "00.9", "00.10"]
    assert grade._exercise_ids('check("05.2", x); check( \'05.10\' , y)  # check(05.3)') == ["05.2", "05.10"]
