"""How the autograd adapter writes a reproducer script (gradconf.reproducer): each check in
the idiom ``adapter.py`` runs it (``make_vjp``, ``make_jvp``, ``jacobian``, ``hessian``,
nested ``grad``). Data only: importing this module imports no framework."""

from __future__ import annotations

from gradconf.adapter import ReproducerTemplates

_ONE = "per_input = (lambda gs: (gs,)) if len($names) == 1 else tuple\n"

TEMPLATES = ReproducerTemplates(
    lowering="gradconf_autograd.lowering",
    header="import autograd\nimport autograd.numpy as anp\nimport numpy as np",
    array="np.array($values, dtype=np.$dtype)",
    show="np.asarray(r).astype(np.complex128 if np.iscomplexobj(r) else np.float64).tolist()",
    checks={
        "value": "out, named = f($args)\nresult = {'out': out, **named}",
        "vjp": _ONE + "pullback, y = autograd.make_vjp(g, $argnum)($wrt)\n"
               "result = dict(zip($names, per_input(pullback(cotangent))))",
        "jvp": "push = autograd.make_jvp(g, $argnum)($wrt)\nresult = {'out': push($tangent)[1]}",
        "jacobian_rev": "result = {n: autograd.jacobian(g, i)($wrt) for i, n in enumerate($names)}",
        "jacobian_fwd": "result = {}\nfor i, (n, x) in enumerate(zip($names, $xs)):\n"
                        "    push = autograd.make_jvp(g, i)($wrt)\n    cols = []\n"
                        "    for k in range(np.size(x)):\n"
                        "        e = np.zeros(np.shape(x), np.asarray(x).dtype)\n"
                        "        e.flat[k] = 1\n"
                        "        cols.append(np.asarray(push(e)[1]))\n"
                        "    result[n] = np.stack(cols, axis=-1).reshape(cols[0].shape"
                        " + np.shape(x))",
        "jacobian_loop": _ONE + "pullback, y = autograd.make_vjp(g, $argnum)($wrt)\n"
                         "y = np.asarray(y)\nrows = []\nfor k in range(y.size):\n"
                         "    e = np.zeros(y.shape, y.dtype)\n    e.flat[k] = 1\n"
                         "    rows.append([np.asarray(gr) for gr in per_input(pullback(e))])\n"
                         "result = {n: np.stack([r[k] for r in rows]).reshape(y.shape"
                         " + np.shape(x))\n"
                         "          for k, (n, x) in enumerate(zip($names, $xs))}",
        "hessian": "def inner(*xs):\n    return anp.sum(cotangent * g(*xs))\n\n"
                   "result = {f'{a},{b}': (autograd.hessian(inner, i) if i == j else\n"
                   "                       autograd.jacobian(autograd.grad(inner, i), j))($wrt)\n"
                   "          for i, a in enumerate($names) for j, b in enumerate($names)}",
        "derivative": "def contract(h, w):  # x -> <w, h(x)>\n"
                      "    return lambda x: anp.sum(w * h(x))\n\n"
                      "d = g\nfor w in $cotangents:\n    d = autograd.grad(contract(d, w))\n"
                      "result = {$first_name: d($first)}",
    },
)
