"""Grading learners' notebooks: verdicts decided in the grader's process, kernels in sandboxes, a gradebook.

See ``docs/grading.md``. :func:`grade_batch` grades notebooks; :mod:`.gradebook` writes the long and wide CSVs and
the feedback files.
"""
from .grader import Options, Solution, Submission, Verdict, exercises_of, grade_batch, load_solution

__all__ = ["Options", "Solution", "Submission", "Verdict", "exercises_of", "grade_batch", "load_solution"]
