"""Grading learners' notebooks: verdicts decided in the grader's process, kernels in sandboxes, a gradebook.

See ``docs/grading.md``. :func:`grade_batch` (:mod:`.batch`) grades a class in parallel; :mod:`.grader` grades one
notebook; :mod:`.lms` reads who a submission is from and writes the Canvas and Moodle import files; :mod:`.rubric`
merges the written answers' scores; :mod:`.similarity` reports copied code; :mod:`.gradebook` writes the long and
wide CSVs and the feedback files.
"""
from .grader import Options, Solution, Submission, Verdict, exercises_of, grade_batch, load_solution

__all__ = ["Options", "Solution", "Submission", "Verdict", "exercises_of", "grade_batch", "load_solution"]
