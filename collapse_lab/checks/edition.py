"""Which checks this copy holds: "full" (the course's repository: every check knows its answers) or "keyless" (a
student bundle or a graded run's kernel: see :mod:`collapse_lab.checks.form`)."""
EDITION = "full"
