"""What the compiled core and the compiled simulation kernel are built from, shared by
``setup.py`` and the import-time checks.

Standard library only: ``setup.py`` loads this file before the package can be imported.
"""

from __future__ import annotations

import hashlib
import os

# Compiled together or not at all: engine.pxd cimports the types of the other two.
COMPILED_MODULES = ("book", "accounts", "engine")
# Written beside the built extensions: the digest of the sources they were compiled from.
DIGEST_FILE = "_compiled_from.txt"


#: The simulation kernel's compiled event loop (``scenarios/kernel.py`` says why it is
#: compiled): its extension, its source and the digest file written beside the extension,
#: paths relative to the directory that holds the ``scenarios`` package.
KERNEL_EXTENSION = "scenarios._ckernel"
KERNEL_SOURCE = os.path.join("scenarios", "_ckernel.pyx")
KERNEL_DIGEST_FILE = os.path.join("scenarios", "_ckernel_from.txt")


def source_files(core_dir: str) -> list[str]:
    """The files a compiled build depends on: each module's source and its type declarations."""
    return [
        os.path.join(core_dir, f"{name}{suffix}")
        for name in COMPILED_MODULES
        for suffix in (".py", ".pxd")
    ]


def source_digest(core_dir: str) -> str:
    """SHA-256 over the compiled modules' sources, in a fixed order."""
    return files_digest(source_files(core_dir))


def files_digest(paths: list[str]) -> str:
    """SHA-256 over each file's name and bytes, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()
