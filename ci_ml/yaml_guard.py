"""YAML from a pull request, with aliases bounded. [pure]

A "billion laughs" document nests aliases so that ten small lines stand for a billion values.
PyYAML builds it cheaply (aliases share one object), but everything that then walks the data
(flattening metrics, canonical JSON for keys) expands it and never finishes. Before loading a
document that uses aliases, its node graph is composed and its expanded size counted, once per
distinct node, and a document that would expand past the limit is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ci_ml.errors import PipelineError

if TYPE_CHECKING:
    import yaml

MAX_EXPANDED_NODES = 1_000_000


def check_aliases(text: str, source: str, *, limit: int = MAX_EXPANDED_NODES) -> None:
    """Raise PipelineError naming `source` if the document expands past `limit` nodes."""
    if "*" not in text:  # no alias, nothing to expand
        return
    import yaml  # only for documents with aliases: `ci-ml plan` stays free of PyYAML

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return  # the loader reports the syntax error with its position
    if root is not None and _expanded_size(root, {}, limit) > limit:
        raise PipelineError(
            f"{source}: the YAML aliases (*name) expand to over {limit:,} values; ci-ml refuses "
            "documents that expand like this (a 'billion laughs'). Write the values out."
        )


def safe_load(text: str, source: str) -> Any:
    """`yaml.safe_load` after `check_aliases`."""
    import yaml

    check_aliases(text, source)
    return yaml.safe_load(text)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], limit: int) -> int:
    import yaml

    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, sizes, limit)
            if size > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, sizes, limit) + _expanded_size(value, sizes, limit)
            if size > limit:
                break
    sizes[id(node)] = size
    return size
