"""Build step: compile the matching core's hot modules and the simulation kernel's event loop
with Cython, when this machine can.

The core stays plain Python (``exchange/core/book.py``, ``accounts.py``, ``engine.py``); the
``.pxd`` file beside each adds C types to that same source, so there is one implementation,
run compiled or interpreted. The extensions are optional: without a C compiler the install
still succeeds and the interpreted core is used. Next to the built modules goes
``_compiled_from.txt``, the digest of the sources they were built from, so that an edited
source is never silently shadowed by a stale build (see ``exchange/core/implementation.py``).
The simulation kernel (``scenarios/_ckernel.pyx``, a C-array event heap beside the interpreted
``scenarios/kernel.py``) is built the same way, with its own digest file.
Everything else about the package is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange", "core"))
from build_info import (  # noqa: E402
    COMPILED_MODULES,
    DIGEST_FILE,
    KERNEL_DIGEST_FILE,
    KERNEL_EXTENSION,
    KERNEL_SOURCE,
    files_digest,
    source_digest,
)

CORE_DIR = os.path.join("exchange", "core")


class BuildCore(build_ext):
    """``build_ext`` that records which sources each compiled part came from."""

    def run(self) -> None:
        super().run()
        core = [ext for ext in self.extensions if ext.name != KERNEL_EXTENSION]
        if core and all(self._built(ext) for ext in core):
            # A partial build is not used (the core is compiled whole or not at all).
            out_dir = os.path.dirname(self.get_ext_fullpath(core[0].name))
            self._write_digest(os.path.join(out_dir, DIGEST_FILE), source_digest(CORE_DIR))
        kernel = [ext for ext in self.extensions if ext.name == KERNEL_EXTENSION]
        if kernel and self._built(kernel[0]):
            root = os.path.dirname(os.path.dirname(self.get_ext_fullpath(KERNEL_EXTENSION)))
            self._write_digest(os.path.join(root, KERNEL_DIGEST_FILE),
                               files_digest([KERNEL_SOURCE]))

    def _built(self, ext: Extension) -> bool:
        return os.path.exists(self.get_ext_fullpath(ext.name))

    @staticmethod
    def _write_digest(path: str, digest: str) -> None:
        with open(path, "w", encoding="ascii") as f:
            f.write(digest + "\n")


def core_extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:  # building without Cython: the interpreted core only
        return []
    extensions = [
        Extension(f"exchange.core.{name}", [os.path.join(CORE_DIR, f"{name}.py")])
        for name in COMPILED_MODULES
    ]
    extensions.append(Extension(KERNEL_EXTENSION, [KERNEL_SOURCE]))
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
