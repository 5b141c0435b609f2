"""Which process wrote something, and whether that process is gone.

Rows and temporary files that a process leaves behind while working (a ``running`` stage row, a
RUNNING MLflow run, a ``*.tmp`` file) carry their writer's host and pid. After a crash (kill -9,
power loss) they stay behind; the next run removes them only when their writer is provably gone:
same host, and no live process with that pid started before the thing was written (a pid is
reused by the kernel, so a live pid that started later is someone else).
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

# A pid's process that started up to this long after its row was stamped is still taken as its
# writer: create_time and the stamp come from different clocks' roundings.
_CLOCK_SLACK_S = 2.0


def host_name() -> str:
    """This machine's name, as written into rows and file names (safe in a file name)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "localhost"


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str

    @classmethod
    def current(cls) -> Owner:
        return cls(os.getpid(), host_name())

    def is_gone(self, since: datetime | float) -> bool | None:
        """Whether the writer that stamped something at ``since`` has ended.

        ``since`` is a naive-UTC datetime or a POSIX timestamp. None when it cannot be decided
        (another host: its processes are not visible from here).
        """
        if self.host != host_name():
            return None
        import psutil  # only recovery asks; writers just name themselves

        stamped = since if isinstance(since, float | int) else since.replace(tzinfo=UTC).timestamp()
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE:  # dead, only not reaped by its parent yet
                return True
            return process.create_time() > stamped + _CLOCK_SLACK_S  # the pid was reused
        except psutil.NoSuchProcess:
            return True
        except psutil.AccessDenied:
            return False  # it exists; someone else's process is not ours to judge
