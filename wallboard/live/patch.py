"""RFC 7396 JSON Merge Patch: apply one, and compute one between two documents.

Pure. Merge patches cannot express arrays element-wise nor store null values, which is why the
live state holds neither: every collection is an object keyed by a stable id.
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply `patch` to `target` (RFC 7396) and return the new document.

    `target` is not modified; subtrees the patch does not touch are shared with it.
    """
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = value
    return result


def compose(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One merge patch doing what applying `first` and then `second` does (RFC 7396 patches
    compose by merging: `second` wins on scalars and nulls, objects recurse)."""
    result = dict(first)
    for key, value in second.items():
        before = result.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            result[key] = compose(before, value)
        else:
            result[key] = value
    return result


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The smallest merge patch turning `old` into `new` (both null-free objects).

    Values are compared strictly (1, 1.0 and True differ); objects recurse, anything else is
    replaced whole. Returned subtrees are fresh copies, never shared with `new`.
    """
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = copy_tree(value)
            continue
        before = old[key]
        if isinstance(value, dict):
            if isinstance(before, dict):
                inner = diff(before, value)
                if inner:
                    patch[key] = inner
            else:
                patch[key] = copy_tree(value)
        elif before != value or type(before) is not type(value):
            patch[key] = copy_tree(value)
    return patch


def copy_tree(value: Any) -> Any:
    """A deep copy of a JSON-like tree of dicts, lists and scalars (faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: copy_tree(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value
