"""YAML within bounds: safe loading that refuses a document before it can grow.

Safe loading alone stops code execution, not resource exhaustion: a few hundred bytes of
nested aliases expand to billions of values, and a few thousand nested ``[`` exhaust the
composer's recursion. :func:`parse_yaml` reads the event stream first (iteratively) to
bound nesting, then counts every node as aliases would expand it, without expanding them,
before anything is constructed. Each refusal is a :class:`YamlLimitError` with a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from gradconf.intake.limits import DEFAULT, Limits

Path = tuple[str | int, ...]


class YamlLimitError(ValueError):
    """The document breaks a limit or uses a YAML feature case files do not allow."""

    def __init__(self, line: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.line, self.message, self.hint = line, message, hint


@dataclass
class Lines:
    """Line (1-based) and block style of every value in a YAML document, by path."""

    at: dict[Path, int] = field(default_factory=dict)
    block: dict[Path, bool] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.at:
                return self.at[path[:n]]
        return 1


def _walk(node: yaml.Node, path: Path, lines: Lines) -> None:
    lines.at[path] = node.start_mark.line + 1
    lines.block[path] = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise YamlLimitError(key.start_mark.line + 1, "a mapping key must be a plain "
                                     "name, not a list or mapping", "write 'name: value'")
            k = key.value
            if k in seen:
                lines.duplicates.append(((*path, k), key.start_mark.line + 1))
            seen.add(k)
            lines.at[(*path, k)] = key.start_mark.line + 1
            _walk(value, (*path, k), lines)
            lines.at[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def _check_events(text: str, limits: Limits) -> None:
    """Nesting depth from the event stream, which PyYAML produces without recursion."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limits.yaml_depth:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise YamlLimitError(line, f"YAML nested more than {limits.yaml_depth} levels "
                                     "deep (limit yaml_depth)",
                                     "flatten the structure, or raise it with --limit")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _expanded_size(root: yaml.Node, limits: Limits) -> int:
    """Nodes of the document once every alias is expanded, counted on the shared graph; an
    alias that nests a value deeper than ``yaml_depth`` is refused too."""
    seen: dict[int, tuple[int, int]] = {}  # node -> (expanded size, expanded height)
    active: set[int] = set()

    def visit(node: yaml.Node, depth: int) -> tuple[int, int]:
        key, line = id(node), node.start_mark.line + 1
        if key in active:
            raise YamlLimitError(line, "an alias refers to a value that contains it (a "
                                 "recursive structure)", "remove the alias")
        if key not in seen:
            active.add(key)
            children = ([c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode)
                        else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
            parts = [visit(c, depth + 1) for c in children]
            seen[key] = (1 + sum(n for n, _ in parts), 1 + max((h for _, h in parts), default=0))
            active.discard(key)
        n, height = seen[key]
        if depth + height > limits.yaml_depth + 1:
            raise YamlLimitError(line, f"aliases nest this value more than {limits.yaml_depth} "
                                 "levels deep (limit yaml_depth)", "use fewer nested aliases")
        if n > limits.yaml_nodes:
            raise YamlLimitError(line, f"this value expands to more than {limits.yaml_nodes} "
                                 "YAML values (limit yaml_nodes; an alias counts once per use)",
                                 "use fewer aliases of large values, or raise it with --limit")
        return n, height

    return visit(root, 0)[0]


def parse_yaml(text: str, limits: Limits = DEFAULT) -> tuple[Any, Lines]:
    """Safe-load ``text`` within ``limits`` and record where each value sits.

    Raises yaml.YAMLError for malformed YAML and YamlLimitError for a document too large,
    too deep or too alias-heavy to load.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.file_bytes:
        raise YamlLimitError(1, f"the file has {size} bytes, more than {limits.file_bytes} "
                             "(limit file_bytes)", "split it into several case files")
    _check_events(text, limits)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines = Lines()
        if node is None:
            return None, lines
        _expanded_size(node, limits)
        _walk(node, (), lines)
        return loader.construct_document(node), lines
    finally:
        loader.dispose()
