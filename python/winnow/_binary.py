"""Finding the ``winnow`` binary and running it: standard error streamed line by line,
standard output collected, a non-zero exit turned into :class:`WinnowError`."""

from __future__ import annotations

import codecs
import os
import re
import shutil
import subprocess
import threading
from typing import Callable, List, Optional, Sequence

from .errors import BinaryNotFoundError, WinnowError

#: Called with each line the binary writes to standard error (progress, warnings).
LineHandler = Callable[[str], None]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def find_binary() -> str:
    """The path of the ``winnow`` binary: ``$WINNOW_BIN``, else ``winnow`` on ``PATH``.

    Raises :class:`BinaryNotFoundError` (a :class:`WinnowError`) saying what to set when
    neither names an executable file.
    """
    configured = os.environ.get("WINNOW_BIN")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise BinaryNotFoundError(f"WINNOW_BIN={configured} is not an executable file")
    found = shutil.which("winnow")
    if found:
        return found
    raise BinaryNotFoundError(
        "the winnow binary was not found: put `winnow` on PATH or set WINNOW_BIN=/path/to/winnow"
    )


def run(arguments: Sequence[str], on_line: Optional[LineHandler] = None) -> str:
    """Runs ``winnow ARGUMENTS`` and returns its standard output.

    Each line of standard error goes to ``on_line`` as it arrives (a progress bar redrawn
    with carriage returns gives one call per redraw). A non-zero exit raises
    :class:`WinnowError` with the binary's last message and the exit status. Interrupting
    the caller (Ctrl-C) terminates the binary before the interrupt goes on.
    """
    command = [find_binary(), *[str(argument) for argument in arguments]]
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as error:
        raise WinnowError(f"cannot start {command[0]}: {error.strerror}") from error
    output: List[bytes] = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read()), daemon=True)
    reader.start()
    try:
        lines = _stream_lines(process, on_line)
        status = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        reader.join()
        process.stdout.close()
        process.stderr.close()
    if status != 0:
        raise WinnowError(_failure_message(lines, status), status)
    return b"".join(output).decode("utf-8", errors="replace")


def _stream_lines(process: subprocess.Popen, on_line: Optional[LineHandler]) -> List[str]:
    """Reads the process's standard error to its end, passing each line to ``on_line``;
    returns the non-empty lines."""
    lines: List[str] = []
    pending = ""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    descriptor = process.stderr.fileno()
    while True:
        chunk = os.read(descriptor, 65536)
        pending += decoder.decode(chunk, final=not chunk)
        *complete, pending = _LINE_BREAK.split(pending)
        for line in complete:
            _deliver(line, lines, on_line)
        if not chunk:
            break
    _deliver(pending, lines, on_line)
    return lines


def _deliver(line: str, lines: List[str], on_line: Optional[LineHandler]) -> None:
    """Keeps a non-empty line and hands it to ``on_line``."""
    if not line.strip():
        return
    lines.append(line)
    if on_line is not None:
        on_line(line)


def _failure_message(lines: List[str], status: int) -> str:
    """The binary's last one-line error (``winnow: …``), else its last line, else the status."""
    for line in reversed(lines):
        if line.startswith("winnow:") or line.startswith("Error:"):
            return line.strip()
    if lines:
        return lines[-1].strip()
    if status < 0:
        return f"winnow was ended by signal {-status}"
    return f"winnow exited with status {status}"
