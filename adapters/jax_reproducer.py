"""How the JAX adapter writes a reproducer script (gradconf.reproducer): each check in the
idiom ``jax_adapter.py`` runs it (float64 on, the CPU backend), eager and under
``jax.jit``. Data only: importing this module imports no framework."""

from __future__ import annotations

from gradconf.adapter import ReproducerTemplates

_LOOP = ("rows = [pullback(jnp.zeros(y.size, y.dtype).at[i].set(1).reshape(y.shape))\n"
         "        for i in range(y.size)]\n"
         "result = {n: jnp.stack([r[k] for r in rows]).reshape(y.shape + jnp.shape(t))\n"
         "          for k, (n, t) in enumerate(zip($names, $xs))}")
_HESS = ("result = {f'{a},{b}': hess[i][j] for i, a in enumerate($names)"
         " for j, b in enumerate($names)}")
_NEST = ("def grad_of_inner(h, w):  # x -> the gradient of <w, h(x)>\n"
         "    return jax.grad(lambda x: jnp.sum(w * h(x)))\n")

TEMPLATES = ReproducerTemplates(
    lowering="gradconf_adapters.jax_lowering",
    header='import jax\nimport jax.numpy as jnp\nimport numpy as np\n\n'
           'jax.config.update("jax_platforms", "cpu")\njax.config.update("jax_enable_x64", True)',
    array="jnp.asarray($values, dtype=jnp.$dtype)",
    show="np.asarray(r).astype(np.complex128 if np.iscomplexobj(r) else np.float64).tolist()",
    checks={
        "value": "out, named = f($args)\nresult = {'out': out, **named}",
        "vjp": "y, pullback = jax.vjp(g, $wrt)\nresult = dict(zip($names, pullback(cotangent)))",
        "jvp": "result = {'out': jax.jvp(g, $xs, $tangents)[1]}",
        "jacobian_rev": "result = dict(zip($names, jax.jacrev(g, argnums=$argnums)($wrt)))",
        "jacobian_fwd": "result = dict(zip($names, jax.jacfwd(g, argnums=$argnums)($wrt)))",
        "jacobian_loop": "y, pullback = jax.vjp(g, $wrt)\n" + _LOOP,
        "hessian": "hess = jax.hessian(lambda *xs: jnp.sum(cotangent * g(*xs)),"
                   " argnums=$argnums)($wrt)\n" + _HESS,
        "derivative": _NEST + "d = g\nfor w in $cotangents:\n    d = grad_of_inner(d, w)\n"
                      "result = {$first_name: d($first)}",
    },
    compiled={
        "value": "out, named = jax.jit(f)($args)\nresult = {'out': out, **named}",
        "vjp": "run = jax.jit(lambda xs, rest, v: jax.vjp(lambda *w: f(*w, *rest), *xs)[1](v))\n"
               "result = dict(zip($names, run($xs, $rest_tuple, cotangent)))",
        "jvp": "run = jax.jit(lambda xs, rest, ts: jax.jvp(lambda *w: f(*w, *rest), xs, ts)[1])\n"
               "result = {'out': run($xs, $rest_tuple, $tangents)}",
        "jacobian_rev": "result = dict(zip($names, jax.jit(jax.jacrev(f, argnums=$argnums))"
                        "($args)))",
        "jacobian_fwd": "result = dict(zip($names, jax.jit(jax.jacfwd(f, argnums=$argnums))"
                        "($args)))",
        "hessian": "hess = jax.jit(jax.hessian(lambda *a: jnp.sum(a[-1] * f(*a[:-1])),"
                   " argnums=$argnums))($args, cotangent)\n" + _HESS,
        "derivative": _NEST + "def nested(x, rest, vs):\n"
                      "    d = lambda x: f(x, *rest)\n    for w in vs:\n"
                      "        d = grad_of_inner(d, w)\n    return d(x)\n"
                      "result = {$first_name: jax.jit(nested)($first, $rest_tuple,"
                      " tuple($cotangents))}",
    },
)
