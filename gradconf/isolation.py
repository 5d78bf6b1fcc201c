"""Compiled execution in a process of its own.

A compiler is a large piece of stateful machinery inside the framework: torch.compile
keeps dynamo caches, fake-tensor modes and functorch layers, and a compile that fails half
way can leave any of them set. Run in the process that also runs the eager checks, such a
leftover turns every later eager check of that process into an error (grad mode off, an
inference-mode assertion, a tensor wrapper without storage), and a compiler that crashes
takes the eager results of its worker with it.

So the compiled twin of an adapter runs in a child process, one per run process, started
once and kept: its compiled functions and the compiler's warm-up carry over from check to
check as before. The parent sends each check's program and arrays over a pipe and gets
back arrays, or the error as the adapter classified it, or ``Unsupported``. A child that
dies is a ``crash`` record of the item that killed it (a record that, unlike a lost worker,
keeps its case, check and execution, so it can take a declared divergence); a child that
does not answer within the call limit is killed and the item is a ``timeout``. Either way
the next check starts a fresh child and the eager side never notices. An adapter whose
compiler can leave state behind when it fails (``compiled_fresh_after_error``) also gets a
fresh child after every compiled check that raised, so one failed compile cannot turn the
compiled checks after it into errors either.

A child also wears out: every compiled function keeps its machine code mapped (XLA's LLVM
JIT maps sections, inductor loads a shared library per graph), and a process has a limit
of memory maps (``vm.max_map_count``, 65,530 by default). Thousands of compiles into one
process reach it, and the next compile dies in the JIT ("LLVM ERROR: Unable to allocate
section memory!") on whichever item comes next. The child counts its maps every
``WEAR_EVERY`` calls and, past ``WORN_SHARE`` of the limit, is replaced after its answer:
the item it answered keeps its result, and the next starts afresh.

The engine imports no framework here: the child imports the adapter's own module.
"""

from __future__ import annotations

import builtins
import copy
import importlib
import os
import signal
import subprocess
import sys
import traceback
import warnings
import weakref
from multiprocessing.connection import Connection, Pipe
from multiprocessing.reduction import ForkingPickler
from types import MappingProxyType
from typing import Any

from gradconf.adapter import Adapter, ErrorInfo, Unsupported


# Programs carry MappingProxyType attributes; across the pipe they travel as plain dicts
# and are frozen again on arrival.
def _frozen(items: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(items)


ForkingPickler.register(MappingProxyType, lambda m: (_frozen, (dict(m),)))

START_TIMEOUT_S = 180.0      # importing a framework and warming its compiler up
CALL_TIMEOUT_S = 270.0       # under pytest-timeout's 300 s, so the item keeps its record
WEAR_EVERY = 16              # calls between two counts of the child's memory maps
WORN_SHARE = 0.5             # of vm.max_map_count: a child past it is replaced


class Lost(Exception):
    """The compiled process died or hung during a call: ``verdict`` is crash or timeout."""

    def __init__(self, verdict: str, message: str) -> None:
        super().__init__(message)
        self.verdict = verdict


class RemoteError(Exception):
    """A framework error raised in the compiled process, as its adapter classified it."""

    def __init__(self, info: ErrorInfo, remote_traceback: str) -> None:
        super().__init__(info.message)
        self.info, self.remote_traceback = info, remote_traceback


class _Child:
    """One child process holding the compiled twin of an adapter class."""

    def __init__(self, target: str, fresh_after_error: bool = False) -> None:
        self.target, self.fresh_after_error = target, fresh_after_error
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.token: int | None = None     # id() of the program the child holds
        self.prog: Any = None

    def start(self) -> None:
        parent, child = Pipe(duplex=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gradconf.isolation", str(child.fileno()), self.target],
            pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL)
        child.close()
        self.conn, self.token = parent, None
        reply = self._receive(START_TIMEOUT_S, "starting")
        if reply[0] != "ready":
            self.stop()
            raise RuntimeError(f"the compiled process for {self.target} could not start: "
                               f"{reply[1]}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.conn is not None

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        self.token = self.prog = None

    def _receive(self, timeout: float, doing: str) -> tuple[Any, ...]:
        assert self.conn is not None and self.proc is not None
        try:
            ready = self.conn.poll(timeout)
            reply: tuple[Any, ...] = self.conn.recv() if ready else ()
        except (EOFError, OSError):
            reply = ()
            ready = True
        except BaseException:    # interrupted (pytest-timeout, Ctrl-C): the reply is stale
            self.stop()
            raise
        if reply:
            return reply
        if not ready:
            self.stop()
            raise Lost("timeout", f"the compiled process gave no answer {doing} within "
                                  f"{timeout:.0f} s; it was stopped")
        code = self.proc.wait()
        self.stop()
        raise Lost("crash", f"the compiled process died {doing} ({_exit_text(code)})")

    def call(self, prog: Any, method: str, args: tuple[Any, ...]) -> Any:
        if not self.alive():
            self.stop()
            self.start()
        assert self.conn is not None
        token = id(prog)  # the parent holds prog while the child does, so ids do not recur
        self.conn.send((method, prog if token != self.token else None, args))
        self.token, self.prog = token, prog
        reply = self._receive(CALL_TIMEOUT_S, f"running {method}")
        *head, seen, leftover, worn = reply
        for category, message in seen:
            warnings.warn(message, _warning_class(category), stacklevel=3)
        status = head[0]
        if leftover:
            warnings.warn(f"{self.target.partition(':')[2]}: the compiled check left the "
                          f"process with {leftover}; the compiled process was replaced",
                          RuntimeWarning, stacklevel=3)
        if leftover or worn or (status != "ok" and self.fresh_after_error):
            self.stop()  # what the compile left set (or its mapped code) goes with it
            self.start()
        if status == "ok":
            return head[1]
        if status == "unsupported":
            raise Unsupported(head[1])
        raise RemoteError(head[1], head[2])


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


_WARNING_CLASSES: dict[str, type[Warning]] = {}


def _warning_class(name: str) -> type[Warning]:
    """A warning class of the child's category name, so the parent classifies it alike."""
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, Warning):
        return found
    if name not in _WARNING_CLASSES:
        _WARNING_CLASSES[name] = type(name, (UserWarning,), {})
    return _WARNING_CLASSES[name]


class IsolatedMixin:
    """Check methods that run in the child; everything else is the adapter's own."""

    _child: _Child
    _eager: Adapter

    def _remote(self, prog: Any, method: str, *args: Any) -> Any:
        return self._child.call(prog, method, args)

    def value(self, prog: Any, env: Any) -> Any:
        return self._remote(prog, "value", env)

    def vjp(self, prog: Any, env: Any, wrt: Any, cotangent: Any) -> Any:
        return self._remote(prog, "vjp", env, wrt, cotangent)

    def jvp(self, prog: Any, env: Any, wrt: Any, tangents: Any) -> Any:
        return self._remote(prog, "jvp", env, wrt, tangents)

    def jacobian(self, prog: Any, env: Any, wrt: Any, mode: str = "rev") -> Any:
        return self._remote(prog, "jacobian", env, wrt, mode)

    def hessian(self, prog: Any, env: Any, wrt: Any, cotangent: Any) -> Any:
        return self._remote(prog, "hessian", env, wrt, cotangent)

    def derivative(self, prog: Any, env: Any, wrt: Any, cotangents: Any) -> Any:
        return self._remote(prog, "derivative", env, wrt, cotangents)

    def error_info(self, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, RemoteError):
            return exc.info
        return super().error_info(exc)  # type: ignore[misc]

    def eager(self) -> Adapter:
        return self._eager

    def probe(self, *args: Any, **kwargs: Any) -> Any:  # probes ask the API: eager
        return self.eager().probe(*args, **kwargs)


def importable(cls: type) -> str | None:
    """``module:qualname`` of an adapter class a fresh process can import, else None."""
    target = f"{cls.__module__}:{cls.__qualname__}"
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        return None
    return target


def isolated(adapter: Adapter) -> Adapter:
    """``adapter``'s compiled twin, run in a child process (started here, before any check
    is timed). An adapter class a fresh process cannot import keeps its twin in-process."""
    target = importable(type(adapter))
    if target is None:
        return adapter.compiled()
    if not adapter.compiler:
        raise Unsupported(f"{adapter.name} has no compiler")
    cls = type(f"Isolated{type(adapter).__name__}", (IsolatedMixin, type(adapter)), {})
    twin = copy.copy(adapter)
    twin.__class__ = cls
    twin.execution = "compiled"
    child = _Child(target, adapter.compiled_fresh_after_error)
    twin._eager = adapter  # type: ignore[attr-defined]
    twin._child = child  # type: ignore[attr-defined]
    weakref.finalize(twin, child.stop)
    child.start()
    return twin


# ------------------------------------------------------------------ the child process

def _load(target: str) -> Adapter:
    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    adapter: Adapter = obj()
    return adapter.compiled()


def serve(fd: int, target: str) -> None:
    """The child's loop: run each call on the compiled twin, answer, until the pipe closes."""
    conn = Connection(fd)
    try:
        twin = _load(target)
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}", [], None))
        return
    conn.send(("ready", None, [], None))
    prog: Any = None
    calls = 0
    while True:
        try:
            method, sent, args = conn.recv()
        except (EOFError, OSError):
            return
        if sent is not None:
            prog = sent
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                reply: tuple[Any, ...] = ("ok", getattr(twin, method)(prog, *args))
            except Unsupported as exc:
                reply = ("unsupported", str(exc))
            except Exception as exc:
                reply = ("error", twin.error_info(exc), traceback.format_exc(limit=6))
        seen = [(w.category.__name__, str(w.message)) for w in caught]
        try:
            leftover = twin.leftover_state()
        except Exception as exc:
            leftover = f"a state that could not be read ({type(exc).__name__}: {exc})"
        calls += 1
        conn.send((*reply, list(dict.fromkeys(seen)), leftover,
                   worn() if calls % WEAR_EVERY == 0 else None))


def worn(limit: int | None = None) -> str | None:
    """Why this process should be replaced: its memory maps past ``WORN_SHARE`` of the
    kernel's limit (``limit``, else ``vm.max_map_count``); None if not, or unknown."""
    try:
        if limit is None:
            with open("/proc/sys/vm/max_map_count") as text:
                limit = int(text.read())
        with open("/proc/self/maps", "rb") as maps:
            count = maps.read().count(b"\n")
    except (OSError, ValueError):
        return None
    return f"{count} memory maps of {limit}" if count > WORN_SHARE * limit else None


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
