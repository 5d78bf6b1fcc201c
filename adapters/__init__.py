"""Framework adapters shipped with gradconf (installed as the package ``gradconf_adapters``).

Each module imports exactly one framework; the engine finds them through the
``gradconf.adapters`` entry-point group. The contract is in ``adapters/README.md``.
"""
