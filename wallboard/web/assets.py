"""The templates and browser files, found as package data (`wallboard.templates`,
`wallboard.static`) through importlib.resources, so an installed wheel, `pip install .` and an
editable checkout all serve the same files.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
from importlib.resources import as_file, files
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope


def _directory(package: str) -> Path:
    """A real directory holding a package's files (extracted once if imported from a zip)."""
    root = files(package)
    if isinstance(root, Path):
        return root
    stack = contextlib.ExitStack()
    atexit.register(stack.close)
    return Path(stack.enter_context(as_file(root)))


@functools.cache
def templates_dir() -> Path:
    return _directory("wallboard.templates")


@functools.cache
def static_dir() -> Path:
    return _directory("wallboard.static")


def _served(name: str) -> bool:
    return not name.startswith(("_", "."))


def static_files() -> list[str]:
    """The names of the files served under /static/ (never the package's own `__init__`)."""
    return sorted(p.name for p in static_dir().iterdir() if p.is_file() and _served(p.name))


@functools.cache
def asset_version() -> str:
    """A short hash of the static files' contents, to bust browser caches on upgrade."""
    digest = hashlib.sha1()
    for name in static_files():
        digest.update(name.encode() + b"\0" + (static_dir() / name).read_bytes())
    return digest.hexdigest()[:10]


class PackageStatic(StaticFiles):
    """StaticFiles over `wallboard.static`, refusing the package's own files (`_*`, `.*`)."""

    def __init__(self) -> None:
        super().__init__(directory=static_dir())

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not all(_served(part) for part in Path(path).parts):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)
