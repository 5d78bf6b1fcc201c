"""How the PyTorch adapter writes a reproducer script (gradconf.reproducer): each check in
the idiom ``torch_adapter.py`` runs it, eager and through ``torch.compile``. Data only:
importing this module imports no framework."""

from __future__ import annotations

from gradconf.adapter import ReproducerTemplates

_LEAVES = "for t in $xs:\n    t.requires_grad_(True)\n"
_GRADS = ("result = {n: t.grad if t.grad is not None else torch.zeros_like(t)\n"
          "          for n, t in zip($names, $xs)}")
_ROWS = ("flat = y.reshape(-1)\n"
         "rows = [torch.autograd.grad(flat[i], $xs, retain_graph=True, allow_unused=True,\n"
         "                            materialize_grads=True) for i in range(flat.numel())]\n"
         "result = {n: torch.stack([r[k] for r in rows]).reshape(y.shape + t.shape)\n"
         "          for k, (n, t) in enumerate(zip($names, $xs))}")
_HESS = ("result = {f'{a},{b}': hess[i][j] for i, a in enumerate($names)"
         " for j, b in enumerate($names)}")
_COMPILE = "torch.compile({}, fullgraph=True, dynamic=False)"

TEMPLATES = ReproducerTemplates(
    lowering="gradconf_adapters.torch_lowering",
    header="import torch\nimport torch.func",
    array="torch.tensor($values, dtype=torch.$dtype)",
    show="torch.as_tensor(r).detach().to(torch.complex128 if torch.as_tensor(r).is_complex() "
         "else torch.float64).tolist()",
    checks={
        "value": "with torch.no_grad():\n    out, named = f($args)\nresult = {'out': out, **named}",
        "vjp": _LEAVES + "y = f($args)\ny.backward(cotangent)\n" + _GRADS,
        "jvp": "result = {'out': torch.func.jvp(g, $xs, $tangents)[1]}",
        "jacobian_rev": "result = dict(zip($names, torch.func.jacrev(g, argnums=$argnums)($wrt)))",
        "jacobian_fwd": "result = dict(zip($names, torch.func.jacfwd(g, argnums=$argnums)($wrt)))",
        "jacobian_loop": _LEAVES + "y = f($args)\n" + _ROWS,
        "hessian": "hess = torch.func.hessian(lambda *xs: (cotangent * g(*xs)).sum(),\n"
                   "                          argnums=$argnums)($wrt)\n" + _HESS,
        "derivative": "$first.requires_grad_(True)\nd = f($args)\nfor w in $cotangents:\n"
                      "    if not d.requires_grad:  # no longer depends on $first: zero\n"
                      "        d = torch.zeros_like($first)\n        break\n"
                      "    d = torch.autograd.grad(d, $first, w, create_graph=True,"
                      " allow_unused=True,\n"
                      "                            materialize_grads=True)[0]\n"
                      "result = {$first_name: d}",
    },
    compiled={
        "value": "with torch.no_grad():\n    out, named = " + _COMPILE.format("f") + "($args)\n"
                 "result = {'out': out, **named}",
        "vjp": _LEAVES + "y = " + _COMPILE.format("f") + "($args)\ny.backward(cotangent)\n"
               + _GRADS,
        "jvp": "def run($wrt, tangents, rest):\n"
               "    return torch.func.jvp(lambda *xs: f(*xs, *rest), $xs, tangents)[1]\n"
               "result = {'out': " + _COMPILE.format("run") + "($wrt, $tangents, $rest_tuple)}",
        "jacobian_rev": "result = dict(zip($names, " + _COMPILE.format(
            "torch.func.jacrev(f, argnums=$argnums)") + "($args)))",
        "jacobian_fwd": "result = dict(zip($names, " + _COMPILE.format(
            "torch.func.jacfwd(f, argnums=$argnums)") + "($args)))",
        "jacobian_loop": _LEAVES + "y = " + _COMPILE.format("f") + "($args)\n" + _ROWS,
        "hessian": "def run(*args):\n    v = args[-1]\n"
                   "    return torch.func.hessian(lambda *xs: (v * f(*xs)).sum(),"
                   " argnums=$argnums)(*args[:-1])\n"
                   "hess = " + _COMPILE.format("run") + "($args, cotangent)\n" + _HESS,
    },
)
