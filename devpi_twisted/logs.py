"""Where the process's log events go: filtered by level, one text line or JSON object per event."""

from __future__ import annotations

import json
import signal
import sys
from datetime import datetime, timezone
from typing import IO, Any, Mapping, Optional

from twisted.application.service import MultiService
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    formatEventAsClassicLogText,
    formatTime,
)
from twisted.python.components import Componentized
from twisted.python.logfile import LogFile

from devpi_twisted.secret_names import is_secret

#: Fields of an event that never go into a JSON line: twisted's own bookkeeping
#: (C{log_*}) is left out by prefix, these by name (legacy events' raw parts).
_LEFT_OUT = frozenset(("message", "format", "time", "isError", "system", "why"))
#: The fields every JSON line starts with.
_RECORD = ("time", "level", "namespace", "message", "system", "error", "traceback")
#: The longest text written for a field value that is not a plain JSON value.
_MAX_TEXT = 1000


def _as_text(value: object) -> str:
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."


def event_as_json(event: LogEvent) -> str:
    """
    An event as one JSON object for log shippers: C{time} (ISO 8601, UTC),
    C{level}, C{namespace}, C{message} (the formatted text), C{system} and
    C{traceback} where the event has them, then the event's own fields
    (values that are not plain JSON as text; names that suggest a secret left out).
    """
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(event.get("log_time", 0), timezone.utc).isoformat(
            timespec="milliseconds"
        ),
        "level": getattr(event.get("log_level"), "name", "-"),
        "namespace": event.get("log_namespace", "-"),
        "message": formatEvent(event),
    }
    if "log_system" in event:
        record["system"] = _as_text(event["log_system"])
    failure = event.get("log_failure")
    if failure is not None:
        record["error"] = _as_text(failure.getErrorMessage())
        record["traceback"] = failure.getTraceback()
    for name, value in event.items():
        if name.startswith("log_") or name in _LEFT_OUT or name in record or is_secret(name):
            continue
        record[name] = value
    try:
        return json.dumps(record, default=_as_text, ensure_ascii=False) + "\n"
    except (TypeError, ValueError):  # e.g. a dict with tuple keys, a circular list
        text = {name: value if name in _RECORD else _as_text(value) for name, value in record.items()}
        return json.dumps(text, ensure_ascii=False) + "\n"


class EventAsText:
    """
    Events as twistd's text lines (C{time [namespace#level] message}), the
    time formatted once per second rather than once per event.
    """

    def __init__(self) -> None:
        self._second: Optional[int] = None
        self._time = "-"

    def __call__(self, event: LogEvent) -> Optional[str]:
        return formatEventAsClassicLogText(event, self._format_time)

    def _format_time(self, when: Optional[float]) -> str:
        if when is None:
            return "-"
        second = int(when)
        if second != self._second:
            self._second, self._time = second, formatTime(second)
        return self._time


def make_observer(out: IO[str], log_format: str, log_level: str) -> ILogObserver:
    """
    An observer writing the events at C{log_level} or above to C{out}: as
    twistd's text lines (C{log_format} C{text}) or as JSON objects (C{json}).
    """
    format_event = event_as_json if log_format == "json" else EventAsText()
    write = FileLogObserver(out, format_event)
    predicate = LogLevelFilterPredicate(LogLevel.levelWithName(log_level))
    return FilteringLogObserver(write, [predicate])


def twistd_log_file(twistd_options: Mapping[str, Any]) -> Optional[IO[str]]:
    """
    Where twistd would write its log given its options (C{--nodaemon},
    C{--logfile}): standard output, or a file rotated by size and on SIGUSR1
    as twistd does. None where twistd logs otherwise (C{--syslog},
    C{--logger}) or refuses to (a daemon logging to standard output).
    """
    if twistd_options.get("syslog") or twistd_options.get("logger"):
        return None
    name = twistd_options.get("logfile") or ""
    daemon = not twistd_options.get("nodaemon")
    if name == "-":
        return None if daemon else sys.stdout
    if not name and not daemon:
        return sys.stdout
    log_file = LogFile.fromFullPath(name or "twistd.log")

    def rotate(signum: int, frame: Any) -> None:
        from twisted.internet import reactor
        from twisted.internet.interfaces import IReactorFromThreads

        IReactorFromThreads(reactor).callFromThread(log_file.rotate)

    signal.signal(signal.SIGUSR1, rotate)
    return log_file


class LoggingServices(MultiService):
    """
    Services that give the application they join C{observer} as its log
    observer: twistd logs through an application's L{ILogObserver} component
    when it has one, and a plugin's service joins twistd's application.
    """

    def __init__(self, observer: ILogObserver) -> None:
        super().__init__()
        self._observer = observer

    def setServiceParent(self, parent: Any) -> None:
        if isinstance(parent, Componentized) and parent.getComponent(ILogObserver) is None:
            parent.setComponent(ILogObserver, self._observer)
        super().setServiceParent(parent)
