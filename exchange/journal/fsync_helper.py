"""The journal's fsync helper process (see :class:`exchange.journal.groupcommit.SyncProcess`).

Run as ``python -I -S fsync_helper.py FD`` with the journal's file descriptor inherited as
``FD``: stdin carries requests (little-endian u64 sequence numbers the server has written),
stdout the answers. For everything it has read it runs one fsync, then answers ``b"S"`` and
the newest sequence number it had read before that fsync; if the fsync fails it answers
``b"E"`` and the errno, and exits (a failure is final). It exits when the server closes the
request pipe or dies. It ignores SIGINT: a Ctrl-C meant for the server must not look like a
disk failure; the server stops it.

Standard library only, and started with ``-I -S``: nothing from the environment or the
project's packages is loaded, so it starts in milliseconds and cannot be redirected.
"""

import os
import signal
import sys

REQUEST = 8  # bytes per request: a little-endian u64


def serve(fd: int, requests: int = 0, answers: int = 1) -> None:
    pending = b""
    while True:
        data = os.read(requests, 65536)
        if not data:
            return
        pending += data
        whole = len(pending) - len(pending) % REQUEST
        if not whole:
            continue
        seq = int.from_bytes(pending[whole - REQUEST:whole], "little")
        pending = pending[whole:]
        try:
            os.fsync(fd)
        except OSError as exc:
            os.write(answers, b"E" + (exc.errno or 0).to_bytes(8, "little"))
            return
        os.write(answers, b"S" + seq.to_bytes(8, "little"))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        serve(int(sys.argv[1]))
    except BrokenPipeError:
        pass  # the server is gone (killed): nobody left to answer, and nothing to report
