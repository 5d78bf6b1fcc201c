"""How the TensorFlow adapter writes a reproducer script (gradconf.reproducer): each check
in the idiom ``tf_adapter.py`` runs it, eager and in one ``tf.function(jit_compile=True)``.
Data only: importing this module imports no framework."""

from __future__ import annotations

from gradconf.adapter import ReproducerTemplates

_ZERO = "unconnected_gradients=tf.UnconnectedGradients.ZERO"
_VJP = ("with tf.GradientTape() as tape:\n    tape.watch(list($xs))\n    y = f($args)\n"
        "grads = tape.gradient(y, list($xs), output_gradients=cotangent, " + _ZERO + ")\n")
_JVP = ("with tf.autodiff.ForwardAccumulator(list($xs), list($tangents)) as acc:\n"
        "    y = f($args)\njvp = acc.jvp(y, " + _ZERO + ")\n")
_HESS = ("with tf.GradientTape(persistent=True) as outer:\n    outer.watch(list($xs))\n"
         "    with tf.GradientTape() as inner:\n        inner.watch(list($xs))\n"
         "        y = f($args)\n"
         "    grads = inner.gradient(y, list($xs), output_gradients=cotangent, " + _ZERO + ")\n"
         "hess = [outer.jacobian(gr, list($xs), " + _ZERO + ") for gr in grads]\n")
_HESS_OUT = ("result = {f'{a},{b}': hess[i][j] for i, a in enumerate($names)"
             " for j, b in enumerate($names)}")
_NESTED = ("def nested(vs):  # level k: the gradient of level k-1 with output_gradients v_k\n"
           "    if not vs:\n        return f($args)\n"
           "    with tf.GradientTape() as tape:\n        tape.watch($first)\n"
           "        inner = nested(vs[:-1])\n"
           "    return tape.gradient(inner, $first, output_gradients=vs[-1], " + _ZERO + ")\n")


def _indent(code: str) -> str:
    return "".join("    " + line if line.strip() else line
                   for line in code.splitlines(keepends=True))


TEMPLATES = ReproducerTemplates(
    lowering="gradconf_adapters.tf_lowering",
    header="import numpy as np\nimport tensorflow as tf",
    array="tf.constant($values, dtype=tf.$dtype)",
    show="np.asarray(tf.convert_to_tensor(r)).astype(np.complex128 if np.iscomplexobj("
         "np.asarray(tf.convert_to_tensor(r))) else np.float64).tolist()",
    checks={
        "value": "out, named = f($args)\nresult = {'out': out, **named}",
        "vjp": _VJP + "result = dict(zip($names, grads))",
        "jvp": _JVP + "result = {'out': jvp}",
        "jacobian_rev": "with tf.GradientTape() as tape:\n    tape.watch(list($xs))\n"
                        "    y = f($args)\nresult = dict(zip($names, tape.jacobian(y, list($xs), "
                        + _ZERO + ")))",
        "jacobian_fwd": "result = {}\nfor n, x in zip($names, $xs):\n"
                        "    size = x.shape.num_elements()\n    cols = []\n"
                        "    for k in range(size):\n"
                        "        onehot = tf.reshape(tf.one_hot(k, size, dtype=x.dtype), x.shape)\n"
                        "        with tf.autodiff.ForwardAccumulator(x, onehot) as acc:\n"
                        "            y = f($args)\n"
                        "        cols.append(acc.jvp(y, " + _ZERO + "))\n"
                        "    result[n] = tf.reshape(tf.stack(cols, axis=-1),"
                        " cols[0].shape + x.shape)",
        "jacobian_loop": "with tf.GradientTape(persistent=True) as tape:\n"
                         "    tape.watch(list($xs))\n    y = f($args)\n"
                         "    entries = tf.unstack(tf.reshape(y, [-1]))\n"
                         "rows = [tape.gradient(e, list($xs), " + _ZERO + ") for e in entries]\n"
                         "result = {n: tf.reshape(tf.stack([r[k] for r in rows]),"
                         " y.shape + x.shape)"
                         "\n          for k, (n, x) in enumerate(zip($names, $xs))}",
        "hessian": _HESS + _HESS_OUT,
        "derivative": _NESTED + "result = {$first_name: nested($cotangents)}",
    },
    compiled={
        "value": "out, named = tf.function(f, jit_compile=True)($args)\n"
                 "result = {'out': out, **named}",
        "vjp": "@tf.function(jit_compile=True)\ndef run($args, cotangent):\n" + _indent(_VJP)
               + "    return grads\nresult = dict(zip($names, run($args, cotangent)))",
        "jvp": "@tf.function(jit_compile=True)\ndef run($args, tangents):\n"
               + _indent(_JVP.replace("list($tangents)", "tangents"))
               + "    return jvp\nresult = {'out': run($args, list($tangents))}",
        "hessian": "@tf.function(jit_compile=True)\ndef run($args, cotangent):\n"
                   + _indent(_HESS) + "    return hess\nhess = run($args, cotangent)\n" + _HESS_OUT,
        "derivative": "@tf.function(jit_compile=True)\ndef run($args, vs):\n"
                      + _indent(_NESTED) + "    return nested(vs)\n"
                      "result = {$first_name: run($args, $cotangents)}",
    },
)
