"""Deployment configs (nginx, systemd, supervisor, cron) rendered as text from a L{Deployment}."""

from __future__ import annotations

from devpi_twisted.deploy import cron, nginx, supervisor, systemd
from devpi_twisted.deploy.errors import UnsafeValue
from devpi_twisted.deploy.settings import Deployment

__all__ = ["Deployment", "UnsafeValue", "render_all"]


def render_all(deployment: Deployment) -> dict[str, str]:
    """Every config file of C{deployment}: file name -> text."""
    return {
        "nginx-devpi-twisted.conf": nginx.render(deployment),
        "devpi-twisted.service": systemd.render(deployment),
        "supervisor-devpi-twisted.conf": supervisor.render(deployment),
        "crontab": cron.render(deployment),
    }
