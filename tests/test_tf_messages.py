"""TensorFlow's error messages cleaned of stacks, devices and trace counters
(adapters/tf_messages.py), on message texts as TensorFlow 2.21 writes them."""

from __future__ import annotations

import pytest

from gradconf_adapters.tf_messages import clean

GRAPH = """Graph execution error:

Detected at node gradient_tape/MatrixInverse defined at (most recent call last):
  File "<string>", line 1, in <module>

  File "/home/ci/gradconf/.nox/tests/lib/python3.11/site-packages/execnet/gateway_base.py", \
line 1806, in serve

  File "/home/ci/gradconf/gradconf/expr.py", line 350, in evaluate

Input is not invertible.
\t [[{{node gradient_tape/MatrixInverse}}]] [Op:__inference__jvp_exact_shapes_75831]"""

USER_CODE = """in user code:

    File "/home/ci/gradconf/adapters/tf_adapter.py", line 319, in None  *
        lambda t, v: self._hessian_body(prog, t, wrt, v)
    File "/home/ci/gradconf/adapters/tf_adapter.py", line 397, in _hessian_body  *
        grads = inner.gradient(y, xs, output_gradients=v, unconnected_gradients=ZERO)

    TypeError: Value passed to parameter 'a' has DataType float16 not in list of allowed \
values: float32, float64
"""

XLA = """0 is duplicated in the input.

Stack trace for op definition: \nFile "<frozen runpy>", line 198, in _run_module_as_main
File "/home/ci/gradconf/gradconf/isolation.py", line 320, in <module>
File "/home/ci/gradconf/adapters/tf_lowering/shape.py", line 88, in \n
\t [[{{node gradient_tape/cond/gradients/cond/transpose_grad/InvertPermutation}}]]
\ttf2xla conversion failed while converting __inference_<lambda>_10167[_XlaMustCompile=true,\
config_proto=1336577835357858124,executor_type=11160318154034397263]. \
[Op:__inference_<lambda>_10167]"""

EAGER = ("{{function_node __wrapped__MatrixInverse_device_/job:localhost/replica:0/task:0/"
         "device:CPU:0}} Input is not invertible. [Op:MatrixInverse] name: ")


@pytest.mark.parametrize("text, first, kept", [
    (GRAPH, "Input is not invertible.",
     "[[{{node gradient_tape/MatrixInverse}}]] [Op:__inference__jvp_exact_shapes_N]"),
    (USER_CODE, "TypeError: Value passed to parameter 'a' has DataType float16 not in list "
     "of allowed values: float32, float64", None),
    (XLA, "0 is duplicated in the input.",
     "tf2xla conversion failed while converting __inference_<lambda>_N. "
     "[Op:__inference_<lambda>_N]"),
    (EAGER, "Input is not invertible. [Op:MatrixInverse]", None),
])
def test_the_failure_stays_and_the_machine_goes(text, first, kept):
    out = clean(text)
    assert out.splitlines()[0] == first
    if kept:
        assert kept in out
    for gone in ("File ", "/home/ci", "Detected at node", "Stack trace", "in user code",
                 "job:localhost", "10167", "75831", "config_proto", "name: "):
        assert gone not in out, gone


def test_two_runs_on_two_machines_read_alike():
    other = GRAPH.replace("/home/ci/gradconf", "/work/main").replace("75831", "80112")
    assert clean(other) == clean(GRAPH)


def test_a_plain_message_is_left_as_it_is():
    text = "A non-persistent GradientTape can only be used to compute one set of gradients"
    assert clean(text) == text
    assert clean("") == "(no message)"
