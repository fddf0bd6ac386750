"""Bad input to the grading package: a ValueError/TypeError at the door that names the argument."""
import math
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

import collapse_lab.grading as grading
from collapse_lab.grading import batching, gradebook, grader, kernel, remote, shim, wire
from collapse_lab.validate import ArgumentError

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_sampling_loses_the_tails.ipynb"


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """Valid arguments: a socket pair, a server, a channel (no kernel behind it), an exercise, a submission."""
    tmp = tmp_path_factory.mktemp("bad")
    a, b = socket.socketpair()
    ex = grader.Exercise("categorical_step", "ch1", "categorical_step")
    sol = grader.Solution(SOLUTION, [ex])
    verdict = grader.Verdict("categorical_step", True, 1.0, 1.0, "ok")
    sub = grader.Submission(tmp / "alice" / "01.ipynb", "alice", "01.ipynb", verdicts=[verdict], max_points=1.0,
                            solution=sol)
    srv = shim.Server({"f": lambda x: x})
    srv.handle(lambda x: x)
    chan = remote.Channel(a, 5.0, time.monotonic() + 60, lambda: False)
    yield dict(tmp=tmp, sock=a, ex=ex, sol=sol, sub=sub, srv=srv, chan=chan,
               cell=grader.Cell("code", "checks.ch1.categorical_step(categorical_step)", {}),
               nb=grader.read_notebook(SOLUTION.read_text()))
    a.close()
    b.close()


NAN, INF = float("nan"), float("inf")
# (id, function of the fixtures -> (callable, kwargs), the argument the message must name)
CASES = [
    # wire
    ("loads-data-str", lambda f: (wire.loads, dict(data="abc")), "data"),
    ("loads-data-none", lambda f: (wire.loads, dict(data=None)), "data"),
    ("loads-limit-neg", lambda f: (wire.loads, dict(data=b"1", limit=-1)), "limit"),
    ("loads-limit-float", lambda f: (wire.loads, dict(data=b"1", limit=3.5)), "limit"),
    ("dumps-msg-nan", lambda f: (wire.dumps, dict(msg=NAN)), "msg"),
    ("dumps-msg-array", lambda f: (wire.dumps, dict(msg=np.zeros(3))), "msg"),
    ("send-sock-none", lambda f: (wire.send, dict(sock=None, msg={"a": 1})), "sock"),
    ("send-msg-array", lambda f: (wire.send, dict(sock=f["sock"], msg=np.zeros(2))), "msg"),
    ("recv-sock-str", lambda f: (wire.recv, dict(sock="abc")), "sock"),
    ("recv-limit-bool", lambda f: (wire.recv, dict(sock=f["sock"], limit=True)), "limit"),
    ("encoder-other", lambda f: (wire.Encoder, dict(other="abc")), "other"),
    ("encoder-gens_aside", lambda f: (wire.Encoder, dict(gens_aside=1)), "gens_aside"),
    ("tensor-x", lambda f: (wire.Encoder.tensor, dict(x=np.zeros(2))), "x"),
    ("decoder-hook", lambda f: (wire.Decoder, dict(hook=3)), "hook"),
    ("decoder-max_elements", lambda f: (wire.Decoder, dict(max_elements=10**12)), "max_elements"),
    ("decoder-gens", lambda f: (wire.Decoder, dict(gens=[1, 2, 3])), "gens"),
    # shim
    ("server-user_ns", lambda f: (shim.Server, dict(user_ns=[])), "user_ns"),
    ("hook-tag", lambda f: (f["srv"].hook, dict(tag=None, body=1)), "tag"),
    ("hook-body-unknown", lambda f: (f["srv"].hook, dict(tag="$h", body=10**12)), "body"),
    ("hook-body-bool", lambda f: (f["srv"].hook, dict(tag="$h", body=True)), "body"),
    ("hook-body-q", lambda f: (f["srv"].hook, dict(tag="$q", body="collapse_lab:nope")), "body"),
    ("hook-body-q-outside", lambda f: (f["srv"].hook, dict(tag="$q", body="os:system")), "body"),
    ("call-req", lambda f: (f["srv"].call, dict(req=None)), "req"),
    ("call-req-handle", lambda f: (f["srv"].call, dict(req={"h": 99, "args": [], "kw": {"$d": []}})), "req"),
    ("call_once-fn", lambda f: (f["srv"].call_once, dict(fn=None, req={"args": [], "kw": {"$d": []}}, gens=[])),
     "fn"),
    ("call_once-req", lambda f: (f["srv"].call_once, dict(fn=abs, req=[1, 2, 3], gens=[])), "req"),
    ("call_once-gens", lambda f: (f["srv"].call_once, dict(fn=abs, req={"args": [], "kw": {"$d": []}},
                                                          gens="abc")), "gens"),
    ("call_once-gens-none", lambda f: (f["srv"].call_once, dict(fn=abs, req={"args": [], "kw": {"$d": []}},
                                                               gens=None)), "gens"),
    ("answer-req", lambda f: (f["srv"].answer, dict(req="abc")), "req"),
    ("answer-op", lambda f: (f["srv"].answer, dict(req={"op": "nope"})), "req"),
    # remote
    ("remote_exception-name", lambda f: (remote.remote_exception, dict(name=None, message="m", is_exception=True)),
     "name"),
    ("remote_exception-message", lambda f: (remote.remote_exception, dict(name="E", message=1, is_exception=True)),
     "message"),
    ("remote_exception-is_exception", lambda f: (remote.remote_exception, dict(name="E", message="m",
                                                                              is_exception=1)), "is_exception"),
    ("channel-sock", lambda f: (remote.Channel, dict(sock=None, timeout=5.0, deadline=INF, on_timeout=abs)), "sock"),
    ("channel-timeout", lambda f: (remote.Channel, dict(sock=f["sock"], timeout=-1, deadline=INF, on_timeout=abs)),
     "timeout"),
    ("channel-deadline", lambda f: (remote.Channel, dict(sock=f["sock"], timeout=5.0, deadline=NAN,
                                                         on_timeout=abs)), "deadline"),
    ("channel-on_timeout", lambda f: (remote.Channel, dict(sock=f["sock"], timeout=5.0, deadline=INF,
                                                           on_timeout="abc")), "on_timeout"),
    ("channel-batching", lambda f: (remote.Channel, dict(sock=f["sock"], timeout=5.0, deadline=INF, on_timeout=abs,
                                                         batching="yes")), "batching"),
    ("ahead-enabled", lambda f: (batching.Ahead, dict(enabled=None)), "enabled"),
    ("request-msg", lambda f: (f["chan"].request, dict(msg=None, decoder=None)), "msg"),
    ("request-decoder", lambda f: (f["chan"].request, dict(msg={"op": "eval"}, decoder="abc")), "decoder"),
    ("remote-channel", lambda f: (remote.RemoteFunction, dict(channel=None, hid=1, name="f")), "channel"),
    ("remote-hid", lambda f: (remote.RemoteObject, dict(channel=f["chan"], hid=-1, name="f")), "hid"),
    ("remote-name", lambda f: (remote.Remote, dict(channel=f["chan"], hid=1, name=3.5)), "name"),
    ("proxy-kind", lambda f: (remote.proxy, dict(channel=f["chan"], hid=1, kind="abc", name="f",
                                                 is_callable=True)), "kind"),
    ("proxy-kind-array", lambda f: (remote.proxy, dict(channel=f["chan"], hid=1, kind=np.zeros((2, 3, 4)), name="f",
                                                       is_callable=True)), "kind"),
    ("proxy-hid-huge", lambda f: (remote.proxy, dict(channel=f["chan"], hid=10**12, kind="function", name="f",
                                                     is_callable=True)), "hid"),
    ("proxy-is_callable", lambda f: (remote.proxy, dict(channel=f["chan"], hid=1, kind="function", name="f",
                                                        is_callable=np.zeros(2))), "is_callable"),
    ("evaluate-channel", lambda f: (remote.evaluate, dict(channel="abc", expr="1")), "channel"),
    ("evaluate-expr", lambda f: (remote.evaluate, dict(channel=f["chan"], expr=None)), "expr"),
    # kernel
    ("kernel-sandbox", lambda f: (kernel.Kernel, dict(sandbox=None, env={})), "sandbox"),
    ("kernel-sandbox-file", lambda f: (kernel.Kernel, dict(sandbox=SOLUTION, env={})), "sandbox"),
    ("kernel-env", lambda f: (kernel.Kernel, dict(sandbox=f["tmp"], env={"A": 1})), "env"),
    ("kernel-bwrap", lambda f: (kernel.Kernel, dict(sandbox=f["tmp"], env={}, bwrap=True)), "bwrap"),
    ("kernel-hidden", lambda f: (kernel.Kernel, dict(sandbox=f["tmp"], env={}, hidden="abc")), "hidden"),
    ("kernel-needed", lambda f: (kernel.Kernel, dict(sandbox=f["tmp"], env={}, needed=[1, 2, 3])), "needed"),
    ("kernel-startup_timeout", lambda f: (kernel.Kernel, dict(sandbox=f["tmp"], env={}, startup_timeout=NAN)),
     "startup_timeout"),
    ("kernel-command", lambda f: (kernel.Kernel(f["tmp"], {}).command, dict(connection_file=0)), "connection_file"),
    ("kernel-run", lambda f: (kernel.Kernel(f["tmp"], {}).run, dict(sources=None, timeout=1, deadline=INF)),
     "sources"),
    ("kernel-close_channel", lambda f: (kernel.Kernel(f["tmp"], {}).close_channel, dict(channel=None)), "channel"),
    ("probe_bwrap", lambda f: (kernel.probe_bwrap, dict(bwrap=None)), "bwrap"),
    # grader
    ("read_notebook-none", lambda f: (grader.read_notebook, dict(text=None)), "text"),
    ("read_notebook-json", lambda f: (grader.read_notebook, dict(text="abc")), "text"),
    ("read_notebook-v3", lambda f: (grader.read_notebook, dict(text='{"nbformat": 3, "cells": []}')), "text"),
    ("points_of", lambda f: (grader.points_of, dict(cell=None)), "cell"),
    ("points_of-nan", lambda f: (grader.points_of, dict(cell=grader.Cell("code", "", {"points": NAN}))), "cell"),
    ("exercises_of", lambda f: (grading.exercises_of, dict(nb=[1, 2, 3])), "nb"),
    ("load_solution-bool", lambda f: (grading.load_solution, dict(path=True)), "path"),
    ("load_solution-missing", lambda f: (grading.load_solution, dict(path=f["tmp"] / "no.ipynb")), "path"),
    ("check_function", lambda f: (grader.check_function, dict(ex=None)), "ex"),
    ("checks_in", lambda f: (grader.checks_in, dict(source=np.zeros(2))), "source"),
    ("keep_answer", lambda f: (grader.keep_answer, dict(ex="abc")), "ex"),
    ("run_check-check", lambda f: (grader.run_check, dict(check=None, ex=f["ex"], channel=f["chan"],
                                                          syntax_errors=[])), "check"),
    ("run_check-ex", lambda f: (grader.run_check, dict(check=abs, ex=0, channel=f["chan"], syntax_errors=[])), "ex"),
    ("run_check-channel", lambda f: (grader.run_check, dict(check=abs, ex=f["ex"], channel=None,
                                                            syntax_errors=[])), "channel"),
    ("run_check-syntax_errors", lambda f: (grader.run_check, dict(check=abs, ex=f["ex"], channel=f["chan"],
                                                                  syntax_errors="abc")), "syntax_errors"),
    ("run_check-kept", lambda f: (grader.run_check, dict(check=abs, ex=f["ex"], channel=f["chan"], syntax_errors=[],
                                                         kept=1)), "kept"),
    ("kernel_env-nan", lambda f: (grader.kernel_env, dict(profile=NAN)), "profile"),
    ("kernel_env-unknown", lambda f: (grader.kernel_env, dict(profile="abc")), "profile"),
    ("kernel_env-threads", lambda f: (grader.kernel_env, dict(profile="quick", threads=0)), "threads"),
    ("missing_lm_base", lambda f: (grader.missing_lm_base, dict(profile=3.5)), "profile"),
    ("check_writable-folder", lambda f: (gradebook.check_writable, dict(path=f["tmp"] / "no" / "x.csv")), "path"),
    ("student_of", lambda f: (grader.student_of, dict(path=None)), "path"),
    ("grade_batch-paths", lambda f: (grading.grade_batch, dict(paths="abc")), "paths"),
    ("grade_batch-options", lambda f: (grading.grade_batch, dict(paths=[], options={})), "options"),
    ("grade_batch-solutions", lambda f: (grading.grade_batch, dict(paths=[], solutions=f["tmp"] / "no")),
     "solutions"),
    ("grade_batch-log", lambda f: (grading.grade_batch, dict(paths=[], log=None)), "log"),
    ("grade_notebook-solution", lambda f: (grader.grade_notebook, dict(nb=f["nb"], solution=None, checks={},
                                                                       options=grading.Options(),
                                                                       sandbox=f["tmp"])), "solution"),
    ("options-timeout", lambda f: (grading.Options, dict(timeout=0)), "timeout"),
    ("options-notebook_timeout", lambda f: (grading.Options, dict(notebook_timeout=NAN)), "notebook_timeout"),
    ("options-timeout-inf", lambda f: (grading.Options, dict(timeout=INF)), "timeout"),
    ("options-profile", lambda f: (grading.Options, dict(profile=None)), "profile"),
    ("options-sandbox", lambda f: (grading.Options, dict(sandbox="abc")), "sandbox"),
    ("options-workdir", lambda f: (grading.Options, dict(workdir=True)), "workdir"),
    ("solution-exercises", lambda f: (grading.Solution, dict(path=SOLUTION, exercises=[1, 2, 3])), "exercises"),
    ("verdict-passed", lambda f: (grading.Verdict, dict(exercise="e", passed=np.array([]), points=1.0,
                                                        max_points=1.0, message="ok")), "passed"),
    ("submission-status", lambda f: (grading.Submission, dict(path=SOLUTION, student="a", notebook="n",
                                                              status="abc")), "status"),
    ("cell-metadata", lambda f: (grader.Cell, dict(cell_type="code", source="", metadata=None)), "metadata"),
    ("notebook-cells", lambda f: (grader.Notebook, dict(cells="abc")), "cells"),
    # gradebook
    ("long_rows", lambda f: (gradebook.long_rows, dict(subs=np.array([]))), "subs"),
    ("columns", lambda f: (gradebook.columns, dict(subs=[1, 2, 3])), "subs"),
    ("wide_rows", lambda f: (gradebook.wide_rows, dict(subs=None)), "subs"),
    ("check_writable", lambda f: (gradebook.check_writable, dict(path=None)), "path"),
    ("write_long-path", lambda f: (gradebook.write_long, dict(path=True, subs=[f["sub"]])), "path"),
    ("write_long-subs", lambda f: (gradebook.write_long, dict(path=f["tmp"] / "l.csv", subs="abc")), "subs"),
    ("write_wide-path", lambda f: (gradebook.write_wide, dict(path=True, subs=[f["sub"]])), "path"),
    ("write_wide-subs", lambda f: (gradebook.write_wide, dict(path=f["tmp"] / "w.csv", subs=[None])), "subs"),
    ("safe_name", lambda f: (gradebook.safe_name, dict(student=None)), "student"),
    ("feedback-student", lambda f: (gradebook.feedback, dict(student=3.5, subs=[f["sub"]])), "student"),
    ("write_feedback-folder", lambda f: (gradebook.write_feedback, dict(folder=SOLUTION, subs=[f["sub"]])), "folder"),
    ("write_feedback-subs", lambda f: (gradebook.write_feedback, dict(folder=f["tmp"] / "fb", subs=0)), "subs"),
    ("report", lambda f: (gradebook.report, dict(s=None)), "s"),
]


@pytest.mark.parametrize("make, arg", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(fx, make, arg):
    fn, kwargs = make(fx)
    with pytest.raises((TypeError, ValueError)) as info:
        fn(**kwargs)
    msg = str(info.value)
    assert arg in msg, msg


def test_argument_errors_are_the_courses():
    """The door's errors are ArgumentErrors (both TypeError and ValueError), also on the kernel's side (the shim)."""
    with pytest.raises(ArgumentError, match="data"):
        wire.loads(None)
    with pytest.raises(ArgumentError, match="user_ns") as info:
        shim.Server(None)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_valid_input_still_works(fx, tmp_path):
    """The same functions on valid input: what they did before."""
    assert wire.loads(wire.dumps({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
    assert wire.Decoder()(wire.loads(wire.dumps(wire.Encoder()(np.arange(3))))).tolist() == [0, 1, 2]
    assert wire.dumps(None) == b"null" and wire.dumps("abc") == b'"abc"'
    assert remote.remote_exception("KeyError", "k", True).__class__ is KeyError
    assert remote.Channel(fx["sock"], 30, INF, lambda: None).timeout == 30
    assert grader.kernel_env("quick")["COLLAPSE_LAB_PROFILE"] == "quick"
    assert grader.kernel_env("quick", threads=3)["MKL_NUM_THREADS"] == os.environ.get("MKL_NUM_THREADS", "3")
    assert [e.name for e in grading.exercises_of(fx["nb"])][0] == "categorical_step"
    assert grader.points_of(fx["cell"]) == 1.0
    assert grader.checks_in("checks.ch1.categorical_step(categorical_step)") == [("ch1", "categorical_step")]
    assert grading.Options(timeout=900, profile="standard").timeout == 900
    assert gradebook.safe_name("a b") == "a_b"
    gradebook.write_long(tmp_path / "l.csv", [fx["sub"]])
    assert (tmp_path / "l.csv").read_text().startswith("student,")
    assert [p.name for p in gradebook.write_feedback(tmp_path / "fb", [fx["sub"]])] == ["alice.md"]
    k = kernel.Kernel(tmp_path, {"PATH": "/usr/bin"}, None, [tmp_path], (str(tmp_path),), 30)
    assert k.command(tmp_path / "conn.json")[-1] == "--HistoryManager.enabled=False" and not math.isnan(30)
