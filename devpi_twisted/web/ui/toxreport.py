"""A tox result (the JSON devpi test uploads) read into what its page shows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: The setup and test steps of a tox environment, in the order they ran.
_PHASES = ("setup", "test")


@dataclass(frozen=True)
class Step:
    phase: str
    command: str
    retcode: str
    output: str

    @property
    def passed(self) -> bool:
        return self.retcode in ("0", "")


@dataclass(frozen=True)
class ToxEnv:
    name: str
    python: str
    steps: list[Step]

    @property
    def passed(self) -> bool:
        return all(step.passed for step in self.steps)


@dataclass(frozen=True)
class ToxReport:
    host: str
    platform: str
    envs: list[ToxEnv]

    @property
    def passed(self) -> bool:
        return bool(self.envs) and all(env.passed for env in self.envs)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def read_report(raw: bytes) -> ToxReport:
    """The report in a tox result; anything unexpected in it is shown as empty, not refused."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    envs = []
    testenvs = data.get("testenvs")
    for name, env in sorted(testenvs.items() if isinstance(testenvs, dict) else []):
        if not isinstance(env, dict):
            continue
        python = env.get("python")
        version = _text(python.get("version")) if isinstance(python, dict) else ""
        steps = []
        for phase in _PHASES:
            for step in env.get(phase) or []:
                if isinstance(step, dict):
                    steps.append(
                        Step(phase, _text(step.get("command")), _text(step.get("retcode")), _text(step.get("output")))
                    )
        envs.append(ToxEnv(str(name), version.split()[0] if version else "", steps))
    return ToxReport(_text(data.get("host")), _text(data.get("platform")), envs)
