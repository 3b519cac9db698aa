"""Installing RabbitMQ where the AMQP track needs it and the machine allows it.

The project never runs the system's RabbitMQ service: it starts a private node of its own (see
``node``). So after installing the package the service is stopped and disabled, and the epmd the
package started is asked to leave. Only root on a Debian-like system (CI, a grading server, a
Gradescope image) installs; anywhere else ``advice`` says what to do.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from grader.amqp.node import INSTALL_HINT, find_server

SERVICE_OFF = (["service", "rabbitmq-server", "stop"], ["update-rc.d", "rabbitmq-server", "disable"],
               ["systemctl", "disable", "rabbitmq-server"], ["epmd", "-kill"])


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None and not os.environ.get("BROKERLAB_NO_INSTALL")


def ensure_installed(log=print) -> bool:
    """True once rabbitmq-server is there (installed now if missing and allowed)."""
    if find_server() is not None or os.environ.get("BROKERLAB_AMQP_URL"):
        return True
    if not can_install():
        return False
    log("rabbitmq-server is missing: installing it with apt-get (the AMQP track grades against it)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", "rabbitmq-server"]):
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            log(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
            return False
    stop_system_service()
    return find_server() is not None


def stop_system_service() -> None:
    """The package's own service and epmd: stopped and disabled (the project starts its own node)."""
    for command in SERVICE_OFF:
        if shutil.which(command[0]):
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def advice() -> str:
    return INSTALL_HINT
