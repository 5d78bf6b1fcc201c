"""Sharded runs for CI matrices: which items a shard runs, and the shards joined again.

``pytest cases --shard K/N`` runs the K-th of N parts of the collected items. The parts
are made of whole cases (a case's checks share its oracle), weighted by the seconds each
item took in an earlier run (``--durations-from``: a results document, stream, directory
of streams or committed baseline; an item it lacks weighs the median of those it has, or
1 without any), and dealt greedily, heaviest case first, to the lightest part (ties: by
case, then by part number). The split depends only on the collected node ids, N and the
durations, so every xdist worker and every matrix job computes the same one. pytest-split
splits test by test with its own durations file; gradconf keeps cases whole and reads
durations from its own results, so the scheme is this module's. The same durations order
the case files longest first for xdist (:func:`longest_files_first`), sharded or not.

Each shard writes its own ``<framework>.jsonl`` whose header names the shard.
:func:`join` reads the shard streams of each framework back (files, or directories of
them), checks that every part 1..N is there exactly once, and writes one stream per
framework as an unsharded run would have written it: one header, the union of the
manifests, every record, one end line (none when a shard is missing or did not finish, so
the run reads as incomplete); ``gradconf merge`` then writes ``results.json`` from them.
It equals the unsharded run's but for cost: times, and the oracle evaluations each record
counts (a reference is computed once per process, by the first item there that needs it).
"""

from __future__ import annotations

import heapq
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from gradconf.intake import InputError
from gradconf.intake.streams import Stream, load_document, read_stream


class _HasNodeid(Protocol):
    @property
    def nodeid(self) -> str: ...


T = TypeVar("T", bound=_HasNodeid)


def parse(text: str) -> tuple[int, int]:
    """``K/N`` as (K, N) with 1 <= K <= N; InputError otherwise."""
    k, slash, n = str(text).partition("/")
    if slash and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise InputError("--shard", f"{text!r} is not K/N with 1 <= K <= N", "e.g. --shard 2/4")


def case_of(nodeid: str) -> str:
    """The case an item belongs to: its node id without the ``[...]`` parameters."""
    return nodeid.split("[", 1)[0]


def durations(path: Path) -> dict[str, float]:
    """Seconds per node id from an earlier run: the framework's call, the oracle and the
    compile time its record carries."""
    doc = load_document(path)
    out: dict[str, float] = {}
    for rec in doc["records"]:
        if rec.get("nodeid"):
            out[rec["nodeid"]] = sum(float(rec.get(k) or 0.0)
                                     for k in ("duration_s", "oracle_s", "compile_s"))
    return out


def assign(nodeids: Iterable[str], parts: int,
           seconds: Mapping[str, float] | None = None) -> dict[str, int]:
    """Each node id's part (1..parts): whole cases, balanced by ``seconds``."""
    seconds = seconds or {}
    ids = list(nodeids)
    known = [seconds[n] for n in ids if n in seconds]
    default = statistics.median(known) if known else 1.0
    weight: dict[str, float] = defaultdict(float)
    for n in ids:
        weight[case_of(n)] += seconds.get(n, default)
    loads = [(0.0, k) for k in range(1, parts + 1)]
    heapq.heapify(loads)
    part_of: dict[str, int] = {}
    for case in sorted(weight, key=lambda c: (-weight[c], c)):
        load, k = heapq.heappop(loads)
        part_of[case] = k
        heapq.heappush(loads, (load + weight[case], k))
    return {n: part_of[case_of(n)] for n in ids}


def longest_files_first(items: Sequence[T], seconds: Mapping[str, float]) -> list[T]:
    """``items`` (anything with a ``nodeid``) with their files ordered by the seconds they
    took in an earlier run, longest first (ties: by file), each file's items in the order
    they came. xdist's ``--dist loadfile`` deals files to workers in this order, so the
    long ones start first and the run ends on short ones: the largest-first rule for
    balancing parallel work. An item the earlier run lacks weighs nothing."""
    weight: dict[str, float] = defaultdict(float)
    for item in items:
        weight[item.nodeid.split("::", 1)[0]] += seconds.get(item.nodeid, 0.0)
    rank = {f: i for i, f in enumerate(sorted(weight, key=lambda f: (-weight[f], f)))}
    return sorted(items, key=lambda item: rank[item.nodeid.split("::", 1)[0]])


def _streams(inputs: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found += sorted(path.glob("*.jsonl"))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    if not found:
        raise InputError(" ".join(map(str, inputs)), "no *.jsonl streams here")
    return found


def join(inputs: Iterable[Path], out: Path) -> tuple[list[Path], list[str]]:
    """Write one stream per framework into ``out`` from the streams in ``inputs`` (shards
    joined, an unsharded stream copied); return the streams written and the problems (a
    missing, repeated or unfinished shard, shards of different splits)."""
    by_framework: dict[str, list[Stream]] = defaultdict(list)
    for path in _streams(list(inputs)):
        stream = read_stream(path)
        by_framework[stream.framework].append(stream)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    problems: list[str] = []
    for fw, streams in sorted(by_framework.items()):
        target = out / f"{fw}.jsonl"
        if target.resolve() in {s.path.resolve() for s in streams}:
            raise InputError(str(target), "would overwrite one of the streams it joins",
                             "write to another --out directory")
        if len(streams) == 1 and not streams[0].environment.get("shard"):
            target.write_bytes(streams[0].path.read_bytes())  # an unsharded run: as it is
            written.append(target)
            continue
        shards: dict[int, tuple[int, Stream]] = {}
        for s in streams:
            tag = s.environment.get("shard")
            if not tag:
                problems.append(f"{s.path}: {fw} is not a shard (no 'shard' in its header), "
                                "but another stream of it is here")
                continue
            k, n = parse(tag)
            if k in shards:
                problems.append(f"{s.path}: shard {tag} of {fw} twice (also "
                                f"{shards[k][1].path})")
                continue
            shards[k] = (n, s)
        counts = {n for n, _ in shards.values()}
        if len(counts) > 1:
            problems.append(f"{fw}: shards of different splits ({sorted(counts)} parts)")
        n = max(counts, default=0)
        missing = [k for k in range(1, n + 1) if k not in shards]
        if missing:
            problems.append(f"{fw}: shard(s) {', '.join(f'{k}/{n}' for k in missing)} missing")
        ordered = [shards[k][1] for k in sorted(shards)]
        unfinished = [s for s in ordered if s.end is None]
        for s in unfinished:
            problems.append(f"{s.path}: shard {s.environment.get('shard')} of {fw} did not "
                            "finish (no end line)")
        for s in ordered:
            problems += s.problems
        _write(target, ordered, finished=not (missing or unfinished or len(counts) > 1))
        written.append(target)
    return written, problems


def _write(target: Path, shards: list[Stream], finished: bool) -> None:
    env = {k: v for k, v in shards[0].environment.items() if k != "shard"}
    env["time"] = min(str(s.environment.get("time") or env.get("time")) for s in shards)
    lines: list[Any] = [{"schema_version": shards[0].schema_version, "environment": env}]
    manifests = [s.manifest for s in shards if s.manifest is not None]
    if manifests:
        lines.append({"manifest": {"items": [n for m in manifests for n in m]}})
    lines += [r for s in shards for r in s.records]
    if finished:
        ends = [s.end or {} for s in shards]
        lines.append({"end": {"exitstatus": max(int(e.get("exitstatus", 0)) for e in ends),
                              "collection_errors": sum(int(e.get("collection_errors") or 0)
                                                       for e in ends),
                              "time": max(str(e.get("time", "")) for e in ends)}})
    with target.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, allow_nan=False) + "\n")
