"""What the compiled core is built from, shared by ``setup.py`` and the import-time check.

Standard library only: ``setup.py`` loads this file before the package can be imported.
"""

from __future__ import annotations

import hashlib
import os

# Compiled together or not at all: engine.pxd cimports the types of the other two.
COMPILED_MODULES = ("book", "accounts", "engine")
# Written beside the built extensions: the digest of the sources they were compiled from.
DIGEST_FILE = "_compiled_from.txt"


def source_files(core_dir: str) -> list[str]:
    """The files a compiled build depends on: each module's source and its type declarations."""
    return [
        os.path.join(core_dir, f"{name}{suffix}")
        for name in COMPILED_MODULES
        for suffix in (".py", ".pxd")
    ]


def source_digest(core_dir: str) -> str:
    """SHA-256 over the compiled modules' sources, in a fixed order."""
    digest = hashlib.sha256()
    for path in source_files(core_dir):
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()
