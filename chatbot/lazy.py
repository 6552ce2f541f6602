"""Lazy exports for a package's `__init__`: names resolve from their module on first use.

Every package re-exports its public names, but importing a package must not import all of it:
`chatbot --help` must stay instant, and `chatbot.web` would otherwise pull in Gradio for a user
who only wanted the download folder helper. PEP 562's module `__getattr__` gives both.

    __getattr__, __dir__ = lazy_exports(__name__, {"StoredIndex": ".store"})

A relative module (".store") is taken inside the package; an absolute one as written. A name not
exported raises AttributeError, which lets `from package import submodule` fall through to the
import system as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module `__getattr__` and `__dir__` that load each exported name from its module."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(module, package), name)

    def __dir__() -> list[str]:  # the exports beside what the package already holds
        return sorted(set(exports) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
