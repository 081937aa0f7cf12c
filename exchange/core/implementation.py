"""Which implementation of the core runs: compiled (Cython) or interpreted, chosen at import.

The hot modules (``build_info.COMPILED_MODULES``) are one source run two ways. Python would
import a built extension in preference to the ``.py`` beside it, even after that ``.py`` was
edited; so before the core is first imported this module decides, and loads the interpreted
modules by hand where they must win:

* ``CMX_CORE=interpreted`` in the environment: always the interpreted core (the reference).
* ``CMX_CORE=compiled``: the compiled core, or ``ImportError`` if it is missing or stale.
* unset (or ``auto``): the compiled core when all its extensions are present and were built
  from the current sources, else the interpreted one, with a warning if a build is stale.

Both give the same events, state hashes and journal bytes for the same commands (the
differential test ``tests/test_core_implementations.py`` checks it); only speed differs.

``interpreted_core()`` loads a second, interpreted copy beside a compiled one, under its own
module names and sharing every other module (messages, instruments, ...), so a benchmark or a
test can run both on the same command objects in one process.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import warnings
from types import ModuleType, SimpleNamespace

from .build_info import COMPILED_MODULES, DIGEST_FILE, source_digest

COMPILED = "compiled"
INTERPRETED = "interpreted"
ENV_VAR = "CMX_CORE"

_CORE_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE = __name__.rpartition(".")[0]


def _extension_path(name: str) -> str | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(_CORE_DIR, name + suffix)
        if os.path.exists(path):
            return path
    return None


def compiled_status() -> tuple[bool, str]:
    """Whether a usable compiled build is present, and if not, why not."""
    missing = [name for name in COMPILED_MODULES if _extension_path(name) is None]
    if len(missing) == len(COMPILED_MODULES):
        return False, "not built"
    if missing:
        return False, f"partly built (missing {', '.join(missing)})"
    try:
        with open(os.path.join(_CORE_DIR, DIGEST_FILE), encoding="ascii") as f:
            built_from = f.read().strip()
    except OSError:
        return False, f"built, but {DIGEST_FILE} is missing"
    if built_from != source_digest(_CORE_DIR):
        return False, "stale: the sources changed after the build"
    return True, "built from the current sources"


def describe(implementation: str) -> str:
    """One line saying which core runs and, when it is not the compiled one, why not."""
    if implementation == COMPILED:
        return "compiled (Cython)"
    usable, why = compiled_status()
    if usable:
        return f"interpreted ({ENV_VAR}={os.environ.get(ENV_VAR)}; a compiled build is present)"
    return f"interpreted (the compiled core is {why})"


def _load_source(fullname: str, name: str) -> ModuleType:
    """Execute ``<core>/<name>.py`` as module ``fullname`` (never the extension beside it)."""
    path = os.path.join(_CORE_DIR, name + ".py")
    loader = importlib.machinery.SourceFileLoader(fullname, path)
    spec = importlib.util.spec_from_file_location(fullname, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[fullname] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[fullname]
        raise
    parent, _, child = fullname.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def select() -> str:
    """Decide and prepare the implementation; called once by the package before any import
    of the hot modules. Returns ``COMPILED`` or ``INTERPRETED``."""
    wanted = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if wanted not in ("auto", COMPILED, INTERPRETED):
        raise ImportError(f"{ENV_VAR}={wanted!r}: expected auto, compiled or interpreted")
    usable, why = compiled_status()
    if wanted == COMPILED and not usable:
        raise ImportError(f"{ENV_VAR}=compiled, but the compiled core is {why}; "
                          "rebuild it with `pip install -e .`")
    if wanted == INTERPRETED or not usable:
        if wanted == "auto" and why.startswith(("stale", "partly", "built,")):
            warnings.warn(f"the compiled core is {why}; using the interpreted core "
                          "(rebuild with `pip install -e .`)", RuntimeWarning, stacklevel=3)
        for name in COMPILED_MODULES:  # dependency order: engine imports the other two
            _load_source(f"{_PACKAGE}.{name}", name)
        return INTERPRETED
    return COMPILED


def interpreted_core() -> SimpleNamespace:
    """An interpreted copy of the hot modules, usable beside the package's own (compiled) ones.

    The copy lives under ``exchange.core._interpreted`` and imports every other module of the
    core from the package itself, so both take the same command objects and emit the same
    event types. Returns a namespace with ``Engine``, ``Book``, ``Order`` and the modules.
    """
    package = f"{_PACKAGE}._interpreted"
    if package not in sys.modules:
        shell = ModuleType(package)
        shell.__path__ = []  # nothing is found by search: every member is registered below
        sys.modules[package] = shell
        for file in sorted(os.listdir(_CORE_DIR)):
            name, ext = os.path.splitext(file)
            if ext == ".py" and name != "__init__" and name not in COMPILED_MODULES:
                sys.modules[f"{package}.{name}"] = importlib.import_module(f"{_PACKAGE}.{name}")
        for name in COMPILED_MODULES:
            _load_source(f"{package}.{name}", name)
    modules = {name: sys.modules[f"{package}.{name}"] for name in COMPILED_MODULES}
    return SimpleNamespace(
        Engine=modules["engine"].Engine,
        Book=modules["book"].Book,
        Order=modules["book"].Order,
        modules=modules,
    )
