"""The pytest plugin: case files become items, items become records.

``pytest cases/ --framework torch`` collects every ``*.yaml`` case file into one item per
(case, check, dtype) and one per probe, with node ids such as
``cases/reductions.yaml::mean-of-matrix[torch-vjp-float64]``, so ``-k``, ``-x``,
``--junitxml`` and ``-n auto`` work as usual. A case that does not load is one failing
item carrying its located error; the others run. Records travel to the controlling
process in ``user_properties`` and are written there to ``<results-dir>/<framework>.jsonl``
as they arrive, also when xdist runs the items; a worker that dies or an item that times
out still gets a record. This module computes no derivatives.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gradconf import sharding
from gradconf.adapter import Adapter, installed, load_adapter
from gradconf.allocator import hold_freed_memory
from gradconf.arrays import json_safe
from gradconf.case import Case, Check, Probe
from gradconf.intake import InputError
from gradconf.intake.limits import Limits, from_env
from gradconf.kinds import FAILING, NOT_RUN
from gradconf.loader import LoadError, dedupe_in_file, duplicate_error, load_file
from gradconf.recording import RECORD, ItemGuard, RecordWriter, lost_dir
from gradconf.report.text import failure_text
from gradconf.runner import EXECUTIONS, invalid_record, run_check, run_probe

_ADAPTERS: dict[str, Adapter] = {}
_CASE_SITES = pytest.StashKey[dict[str, list[Case]]]()
_LIMITS = pytest.StashKey[Limits]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--framework`` and ``--results-dir``."""
    group = parser.getgroup("gradconf", "gradconf conformance cases")
    group.addoption("--framework", default=os.environ.get("GRADCONF_FRAMEWORK"),
                    help="adapter to run the cases on (default: the one installed adapter)")
    group.addoption("--results-dir", default="reports",
                    help="directory for <framework>.jsonl (default: reports)")
    group.addoption("--fast", action="store_true", default=None,
                    help="judge every check by projections (fast mode), whatever the size")
    group.addoption("--repeat", type=int, default=2,
                    help="compute each check this many times; results that differ bit for "
                         "bit are nondeterministic (default 2)")
    group.addoption("--max-rss-mb", type=float, default=8192.0,
                    help="end a check's process when its resident memory passes this many MB; "
                         "with -n the check is recorded as a crash and the run goes on "
                         "(default 8192; 0 turns it off)")
    group.addoption("--execution", default="eager", metavar="eager,compiled",
                    help="how the framework runs each check: eager, compiled (through its "
                         "compiler: torch.compile, jax.jit, tf.function(jit_compile=True)), or "
                         "both, comma-separated (default eager)")
    group.addoption("--compiled-subset", choices=("all", "ops"), default="all",
                    help="which checks run compiled: all, or ops: the vjp, jvp, hessian and "
                         "derivative checks of the first case (in file order) that brings an op "
                         "not yet met, at its first dtype, so every op's derivatives are "
                         "compiled once at a fraction of the cost (default all)")
    group.addoption("--shard", default=None, metavar="K/N",
                    help="run the K-th of N parts of the items, whole cases balanced by "
                         "--durations-from (gradconf/sharding.py); join the parts' streams "
                         "with python -m gradconf merge")
    group.addoption("--durations-from", "--shard-durations", dest="durations_from",
                    default=None, metavar="PATH",
                    help="an earlier run (results.json, a stream, a directory of them, or a "
                         "committed baseline) whose item times balance the shards and order "
                         "the case files longest first, so no xdist worker is left with a long "
                         "file at the end (default: equal weights, file order)")
    group.addoption("--limit", action="append", default=[], metavar="NAME=VALUE",
                    help="raise or lower a load limit for case files (repeatable; names and "
                         "defaults in cases/README.md)")


def _framework(config: pytest.Config) -> str:
    chosen = config.getoption("framework")
    if chosen:
        return str(chosen)
    found = installed()
    if len(found) != 1:
        raise pytest.UsageError("gradconf: pass --framework (installed adapters: "
                                f"{', '.join(found) or 'none'})")
    return found[0]


def adapter_for(config: pytest.Config) -> Adapter:
    """The run's adapter, imported once per process."""
    name = _framework(config)
    if name not in _ADAPTERS:
        try:
            _ADAPTERS[name] = load_adapter(name)
        except (LookupError, ImportError) as exc:
            raise pytest.UsageError(f"gradconf: cannot load the {name!r} adapter: {exc}") from exc
    return _ADAPTERS[name]


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _collecting(config: pytest.Config, path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and (
        config.getoption("framework") is not None or path.parent.name == "cases")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Case files are ``*.yaml`` under a ``cases`` directory (any YAML with --framework)."""
    if _collecting(parent.config, file_path):
        collector: pytest.Collector = CaseFile.from_parent(parent, path=file_path)
        return collector
    return None


class CaseFile(pytest.File):
    """One case file: its cases' items, or invalid items for what did not load."""

    def collect(self) -> Iterator[pytest.Item]:
        """Items in file order; what did not load is an invalid item, never a collection
        error (which would stop the whole run)."""
        fw = adapter_for(self.config).name
        shown = self.nodeid.rpartition("::")[0] or self.nodeid
        try:
            loaded = load_file(self.path, shown, self.config.stash[_LIMITS], dedupe=False)
        except Exception as exc:  # a loader bug must not cost the other files their run
            err = LoadError(shown, 1, f"gradconf could not load this file: "
                            f"{type(exc).__name__}: {exc}", None, "this is a gradconf bug; "
                            "please report it with the file")
            yield InvalidItem.from_parent(self, name=_invalid_name(err, fw), error=err)
            return
        sites: dict[str, list[Case]] = self.config.stash.setdefault(_CASE_SITES,
                                                                     defaultdict(list))
        for item in dedupe_in_file(loaded):
            if isinstance(item, LoadError):
                yield InvalidItem.from_parent(self, name=_invalid_name(item, fw), error=item)
            else:
                sites[item.id].append(item)
                yield from _items(self, item, fw)


def _invalid_name(err: LoadError, fw: str) -> str:
    return f"{err.case_id or f'line-{err.line}'}[{fw}-invalid-L{err.line}]"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case id used in more than one file refuses every copy (whatever the file order):
    each copy's items become one invalid item located at it. Then ``--compiled-subset``,
    ``--shard``, and the case files ordered longest first by ``--durations-from``."""
    _refuse_duplicates(config, items)
    if config.getoption("compiled_subset") == "ops":
        items[:] = compiled_subset(items)
    try:
        given = config.getoption("durations_from")
        seconds = sharding.durations(Path(given)) if given else {}
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.getoption("shard"):
        _shard(config, items, seconds)
    if seconds:
        items[:] = sharding.longest_files_first(items, seconds)


def _shard(config: pytest.Config, items: list[pytest.Item], seconds: dict[str, float]) -> None:
    """Keep the items of this shard (--shard K/N); the others are deselected."""
    try:
        k, n = sharding.parse(config.getoption("shard"))
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    part = sharding.assign((item.nodeid for item in items), n, seconds)
    kept = [item for item in items if part[item.nodeid] == k]
    config.hook.pytest_deselected(items=[item for item in items if part[item.nodeid] != k])
    items[:] = kept


# the checks whose derivative code a compiler generates: reverse, forward, second and
# higher order (value is the forward alone; Jacobians repeat vjp and jvp row by row)
SUBSET_KINDS = ("vjp", "jvp", "hessian", "derivative")


def compiled_subset(items: list[pytest.Item]) -> list[pytest.Item]:
    """Every eager item, and the compiled items of the cases that first bring an op (in
    collection order, i.e. file order), at each such case's first dtype, of the check kinds
    in SUBSET_KINDS: each op of the corpus has its derivatives compiled at least once.
    Deterministic, so every xdist worker agrees."""
    seen: set[str] = set()
    chosen: set[tuple[str, int]] = set()
    for item in items:
        case = getattr(item, "case", None)
        if getattr(item, "execution", "eager") == "eager" or case is None:
            continue
        where = (case.file, case.line)
        if where not in chosen and not case.program.ops_used() <= seen:
            chosen.add(where)
            seen |= case.program.ops_used()
    return [item for item in items if getattr(item, "execution", "eager") == "eager"
            or ((item.case.file, item.case.line) in chosen  # type: ignore[attr-defined]
                and item.dtype == item.case.dtypes[0]  # type: ignore[attr-defined]
                and item.check.kind in SUBSET_KINDS)]  # type: ignore[attr-defined]


def _refuse_duplicates(config: pytest.Config, items: list[pytest.Item]) -> None:
    sites = config.stash.get(_CASE_SITES, {})
    if not any(len(cases) > 1 for cases in sites.values()):
        return
    kept: list[pytest.Item] = []
    done: set[tuple[str, int]] = set()
    fw = adapter_for(config).name
    for item in items:
        case = getattr(item, "case", None)
        if not isinstance(item, _RecordItem) or case is None or len(sites[case.id]) < 2:
            kept.append(item)
            continue
        if (case.file, case.line) in done:
            continue
        done.add((case.file, case.line))
        err = duplicate_error(case, sites[case.id])
        assert item.parent is not None
        kept.append(InvalidItem.from_parent(item.parent, name=_invalid_name(err, fw), error=err))
    items[:] = kept


def executions(config: pytest.Config) -> tuple[str, ...]:
    """The run's executions, in the order of EXECUTIONS."""
    chosen = {e.strip() for e in str(config.getoption("execution")).split(",") if e.strip()}
    return tuple(e for e in EXECUTIONS if e in chosen)


def _items(parent: CaseFile, case: Case, fw: str) -> Iterator[pytest.Item]:
    for execution in executions(parent.config):
        tag = "" if execution == "eager" else f"{execution}-"
        for dtype in case.dtypes:
            for check in case.checks:
                yield CheckItem.from_parent(
                    parent, name=f"{case.id}[{fw}-{tag}{check.id}-{dtype}]", case=case,
                    check=check, dtype=dtype, execution=execution)
    for probe in case.probes:
        yield ProbeItem.from_parent(parent, name=f"{case.id}[{fw}-{probe.id}-{case.dtypes[0]}]",
                                    case=case, probe=probe)


class CheckFailed(Exception):
    """A failing verdict; its text is the report's failure message."""


class _RecordItem(pytest.Item):
    """An item whose outcome is a record: pass, fail (FAILING verdicts) or skip."""

    case: Case

    def _finish(self, rec: dict[str, Any]) -> None:
        rec["nodeid"] = self.nodeid
        try:
            text = json.dumps(rec, allow_nan=False)
        except ValueError:  # a non-finite number the record's producer left raw: still kept
            text = json.dumps(json_safe(rec), allow_nan=False)
        self.user_properties.append((RECORD, text))
        if rec["verdict"] in FAILING:
            raise CheckFailed(failure_text(rec))
        if rec["verdict"] in NOT_RUN:
            pytest.skip(f"{rec['verdict']}: {rec['message']}")

    def teardown(self) -> None:
        """Keep the bulky record out of later reports (JUnit XML gets only the verdict)."""
        props = dict(self.user_properties)
        if RECORD in props:
            verdict = json.loads(str(props[RECORD]))["verdict"]
            self.user_properties[:] = [(k, v) for k, v in self.user_properties if k != RECORD]
            self.user_properties.append(("gradconf_verdict", verdict))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        """The verdict's text for CheckFailed; pytest's usual report for anything else."""
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Point at the case's line in its file."""
        return self.path, self.case.line - 1, self.name


class CheckItem(_RecordItem):
    """One check of one case at one dtype."""

    def __init__(self, *, case: Case, check: Check, dtype: str, execution: str = "eager",
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.case, self.check, self.dtype, self.execution = case, check, dtype, execution
        self.add_marker(pytest.mark.gradconf)

    def runtest(self) -> None:
        """Run the check and hand its record on."""
        adapter = adapter_for(self.config)
        self._finish(run_check(self.case, self.check, self.dtype, adapter, adapter.version(),
                               fast=self.config.getoption("fast"),
                               repeat=self.config.getoption("repeat"),
                               execution=self.execution))


class ProbeItem(_RecordItem):
    """One probe of one case."""

    def __init__(self, *, case: Case, probe: Probe, **kw: Any) -> None:
        super().__init__(**kw)
        self.case, self.probe = case, probe
        self.add_marker(pytest.mark.gradconf)

    def runtest(self) -> None:
        """Run the probe and hand its record on."""
        adapter = adapter_for(self.config)
        self._finish(run_probe(self.case, self.probe, adapter, adapter.version()))


class InvalidItem(pytest.Item):
    """A case (or file) that did not load: fails with its one located line."""

    def __init__(self, *, error: LoadError, **kw: Any) -> None:
        super().__init__(**kw)
        self.error = error

    def runtest(self) -> None:
        """Record ``invalid`` and fail with the located message."""
        adapter = adapter_for(self.config)
        rec = invalid_record(self.error.file, self.error.line, self.error.case_id,
                             str(self.error), adapter.name, adapter.version())
        rec["nodeid"] = self.nodeid
        self.user_properties.append((RECORD, json.dumps(rec)))
        raise CheckFailed(str(self.error))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        """The located load error."""
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Point at the offending line."""
        return self.path, self.error.line - 1, self.name


# ---------------------------------------------------------------- writing records

def pytest_configure(config: pytest.Config) -> None:
    """Check the options; register the marker, the record writer where records arrive and
    the watchdog where checks run."""
    config.addinivalue_line("markers", "gradconf: an item generated from a case file")
    try:
        config.stash[_LIMITS] = from_env(config.getoption("limit"))
    except InputError as exc:
        raise pytest.UsageError(f"gradconf: {exc}") from None
    if config.getoption("repeat") < 1:
        raise pytest.UsageError("gradconf: --repeat must be at least 1")
    unknown = {e.strip() for e in str(config.getoption("execution")).split(",")} - set(EXECUTIONS)
    if unknown or not executions(config):
        raise pytest.UsageError(f"gradconf: --execution takes {' and/or '.join(EXECUTIONS)}, "
                                f"comma-separated; not {', '.join(sorted(unknown)) or 'nothing'}")
    if config.getoption("max_rss_mb") < 0:
        raise pytest.UsageError("gradconf: --max-rss-mb must be 0 (off) or positive")
    hold_freed_memory()  # large inputs' arrays are reused, not faulted in afresh
    if config.getoption("durations_from") and hasattr(config.option, "loadscopereorder"):
        # xdist would deal files by item count; the earlier run's times order them instead
        config.option.loadscopereorder = False
    if _is_controller(config):
        shutil.rmtree(lost_dir(config), ignore_errors=True)
        config.pluginmanager.register(RecordWriter(config, adapter_for),
                                      "gradconf-record-writer")
    if not _is_controller(config) or not getattr(config.option, "numprocesses", None):
        config.pluginmanager.register(ItemGuard(config), "gradconf-item-guard")


