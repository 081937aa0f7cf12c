"""Build step: compile the matching core's hot modules with Cython, when this machine can.

The core stays plain Python (``exchange/core/book.py``, ``accounts.py``, ``engine.py``); the
``.pxd`` file beside each adds C types to that same source, so there is one implementation,
run compiled or interpreted. The extensions are optional: without a C compiler the install
still succeeds and the interpreted core is used. Next to the built modules goes
``_compiled_from.txt``, the digest of the sources they were built from, so that an edited
source is never silently shadowed by a stale build (see ``exchange/core/implementation.py``).
Everything else about the package is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange", "core"))
from build_info import COMPILED_MODULES, DIGEST_FILE, source_digest  # noqa: E402

CORE_DIR = os.path.join("exchange", "core")


class BuildCore(build_ext):
    """``build_ext`` that records which sources the compiled core came from."""

    def run(self) -> None:
        super().run()
        built = [ext for ext in self.extensions if os.path.exists(self.get_ext_fullpath(ext.name))]
        if len(built) != len(self.extensions):
            return  # a partial build is not used (the core is compiled whole or not at all)
        out_dir = os.path.dirname(self.get_ext_fullpath(built[0].name))
        with open(os.path.join(out_dir, DIGEST_FILE), "w", encoding="ascii") as f:
            f.write(source_digest(CORE_DIR) + "\n")


def core_extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:  # building without Cython: the interpreted core only
        return []
    extensions = [
        Extension(f"exchange.core.{name}", [os.path.join(CORE_DIR, f"{name}.py")])
        for name in COMPILED_MODULES
    ]
    compiled = cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            # Types come from the .pxd files only: an annotation such as ``ts: int`` must not
            # turn into a runtime type check the interpreted core does not make.
            "annotation_typing": False,
        },
        quiet=True,
    )
    for extension in compiled:
        extension.optional = True  # a failed compile warns and leaves the interpreted core
    return compiled


if __name__ == "__main__":  # as pip's build backend runs it; tests import core_extensions()
    setup(ext_modules=core_extensions(), cmdclass={"build_ext": BuildCore})
