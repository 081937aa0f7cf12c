"""Length- and CRC-framed records: the on-disk unit of the journal and of snapshots.

A frame is ``<u32 length><u32 crc32(payload)><u32 crc32(first 8 header bytes)><payload>``
(little endian). A crash can only tear the *last* frame of an append-only file, so a short
final frame (or one whose payload fails its CRC at the very end of the file, or a tail of
zeros left by the file system) is cut off, while a bad frame followed by more data is real
corruption and is reported, never silently skipped: recovery must never stop at a good
frame. The header has its own CRC so that a damaged length field cannot pass for a torn
tail and silently drop the good frames after it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

HEADER = struct.Struct("<III")
_PREFIX = struct.Struct("<II")
MAX_FRAME = 64 * 1024 * 1024


class CorruptJournalError(ValueError):
    """A frame in the middle of a file fails its check: data after it cannot be trusted."""


def encode_frame(payload: bytes) -> bytes:
    prefix = _PREFIX.pack(len(payload), zlib.crc32(payload))
    return prefix + zlib.crc32(prefix).to_bytes(4, "little") + payload


def iter_frames(data: bytes | memoryview) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, payload) for every intact frame.

    Stops silently at a torn or corrupt *final* frame (the caller learns where the good data
    ends from the last offset it saw plus that frame's size); raises CorruptJournalError for a
    bad frame that has data after it.
    """
    view = memoryview(data)
    size = len(view)
    pos = 0
    while pos < size:
        if size - pos < HEADER.size:
            return  # torn header
        length, crc, header_crc = HEADER.unpack_from(view, pos)
        if zlib.crc32(view[pos:pos + _PREFIX.size]) != header_crc:
            if not any(view[pos:]):
                return  # a zero-filled tail: the file was extended but never written
            raise CorruptJournalError(f"frame header at byte {pos} fails its CRC")
        end = pos + HEADER.size + length
        if length > MAX_FRAME or end > size:
            return  # torn payload
        payload = bytes(view[pos + HEADER.size:end])
        if zlib.crc32(payload) != crc:
            if end == size:
                return  # corrupt final frame: a torn write
            raise CorruptJournalError(f"frame at byte {pos} fails its CRC and is not the last")
        yield pos, payload
        pos = end


def good_length(data: bytes | memoryview) -> int:
    """Bytes of ``data`` covered by intact frames."""
    end = 0
    for offset, payload in iter_frames(data):
        end = offset + HEADER.size + len(payload)
    return end
