"""TensorFlow's error messages without what belongs to the machine or the trace.

A TensorFlow error raised inside a graph (a ``tf.function``, ``tape.jacobian``'s pfor
loop, XLA) carries, besides what went wrong, the Python stack at which the failing node
was defined: absolute paths of this checkout and its virtualenv, through pytest, xdist
and execnet. Its first line is "Graph execution error:" or "in user code:", and the
sentence that says what failed comes after the stack. Trace-generated names carry a
counter (``__inference_<lambda>_10167``, ``cond_false_9577``) that differs from run to
run, a wrapped eager op names its device, and an eager op's message ends in "name: ".

:func:`clean` keeps the failure (the sentence, the op, the node it names) and drops the
rest, so a record's one-line message says what failed, and two runs of the same version
on two machines give the same text (the diff reports a reworded message otherwise).
Pure Python: the unit tests run it on the messages TensorFlow writes, without TensorFlow.
"""

from __future__ import annotations

import re

_RULES = (
    # "Detected at node X defined at (most recent call last):" and its frames
    (re.compile(r"Detected at node \S+ defined at \(most recent call last\):\n"
                r"(?:[ \t]*File [^\n]*\n|[ \t]*\n)*"), ""),
    # "Stack trace for op definition:" and its frames (XLA conversion errors)
    (re.compile(r"Stack trace for op definition:[ \t]*\n(?:File [^\n]*\n)*\n?"), ""),
    # "in user code:" and its frames, each a File line and an indented source line
    (re.compile(r"in user code:\n\n(?:[ \t]+File [^\n]*\n(?:[ \t]{5,}[^\n]*\n)?)*\n?"), ""),
    (re.compile(r"\{\{function_node [^}]*\}\}[ \t]*"), ""),          # a wrapped op's device
    (re.compile(r"\[_XlaMustCompile=[^\]]*\]"), ""),                 # a function's attributes
    (re.compile(r"(?<=[A-Za-z>])_\d{3,}"), "_N"),                     # trace counters
    (re.compile(r"[ \t]*name: ?$"), ""),                              # an eager op's empty name
    (re.compile(r"^Graph execution error:\s*"), ""),
)


def clean(text: str) -> str:
    """``text`` without stacks, devices, trace counters; lines dedented, blank runs one."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    lines = [line.strip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() or "(no message)"
