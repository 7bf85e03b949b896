"""Connecting a study's driver to Ray: a local instance, or a running cluster by its address.

``ray.init(address=...)`` alone retries an address where nothing listens for minutes, logging
each attempt, and reports a cluster that refuses the driver's token as "Failed to connect" to
an address it rewrote. Here the address is probed first (one TCP connect with a short
timeout), Ray's own connection attempts are bounded, and every failure becomes one line,
:class:`RayUnavailable`, saying that connecting failed, why, and what to set where the cause
is Ray's token authentication (``RAY_AUTH_MODE=token`` and the cluster's token).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from schedsim.errors import InputError

PROBE_TIMEOUT_S = 5.0
# Ray's own connection knobs (read from the environment when ray is imported): one attempt
# of at most about 12 s instead of 20 of up to 41 s each (the probe has found the port open).
CONNECT_BOUNDS = {
    "RAY_gcs_server_port_wait_time_s": "1",  # attempts at the GCS client
    "RAY_gcs_rpc_server_connect_timeout_s": "3",  # twice: its channel, then its pubsub
    "RAY_py_gcs_connect_timeout_s": "6",  # then the cluster's id
    "RAY_gcs_server_request_timeout_seconds": "10",  # finding this host's raylet
}
TOKEN_HELP = ("the cluster's token in RAY_AUTH_TOKEN, or in a file named by RAY_AUTH_TOKEN_PATH "
              "(default ~/.ray/auth_token; `ray get-auth-token` prints it on the head node)")
AUTH_HELP = "set RAY_AUTH_MODE=token and " + TOKEN_HELP


class RayUnavailable(InputError):
    """Ray cannot be used: not installed, or the cluster at ``--ray ADDRESS`` cannot be
    joined. One line, like every bad input (exit 2)."""

    def __init__(self, address: str | None, why: str) -> None:
        where = f"--ray {address}" if address else "--ray"
        super().__init__(where, "", "a usable Ray", has_value=False)
        self.args = (f"{where}: {why}",)


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (the cluster's GCS address, as ``ray start --head`` prints it)."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError("--ray", "", "HOST:PORT, the address `ray start --head` printed "
                         "(e.g. 127.0.0.1:6379)", address)
    return host, int(port)


def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """One TCP connect to the cluster's GCS port; :class:`RayUnavailable` saying why not."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except socket.gaierror:
        why = f"unknown host {host!r}"
    except TimeoutError:
        why = f"no answer within {timeout_s:g} s (a firewall, or the wrong host)"
    except ConnectionRefusedError:
        why = (f"connection refused: no Ray cluster listens there (start one with `ray start "
               f"--head --port {port}`, or give the address it printed)")
    except OSError as exc:
        why = exc.strerror or str(exc)
    raise RayUnavailable(address, f"connecting to the Ray cluster failed: {why}")


@contextmanager
def _stderr_kept(into: list[str]) -> Iterator[None]:
    """File descriptor 2 (where Ray's C++ core logs each failed attempt) goes to a temporary
    file for the block; its text is appended to ``into``."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            into.append(tmp.read().decode("utf-8", "replace"))


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in the environment (where the user has not set them) for the block."""
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def explain(exc: BaseException, logged: str = "") -> str:
    """Why ``ray.init`` failed, in a line (``logged``: what Ray logged meanwhile); token
    authentication is named with what to set."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 5:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain) + " " + logged
    token_mode = os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
    if "no authentication token was found" in text:
        return f"RAY_AUTH_MODE=token is set but no token was found: give {TOKEN_HELP}"
    if any(word in text for word in ("InvalidAuthToken", "Unauthenticated",
                                     "AuthenticationError")):
        if token_mode:
            return ("the cluster uses token authentication and refused this driver's token "
                    "(not the cluster's): give " + TOKEN_HELP)
        return ("the cluster uses token authentication and this driver sent no token: "
                + AUTH_HELP)
    if "Timed out" in text or "TimedOut" in text:
        return ("its GCS did not answer (a port that is not a Ray head's GCS, or a head "
                "still starting)")
    last = str(chain[-1]).strip().splitlines()
    detail = last[-1] if last else type(chain[-1]).__name__
    detail = detail if len(detail) <= 160 else detail[:157] + "..."
    return f"{detail} (is it the address `ray start --head` printed?)"


def connect(address: str | None) -> bool:
    """Start a local Ray instance (no ``address``) or join the cluster at ``address``.

    Returns whether this call initialised Ray (and so must shut it down); raises
    :class:`RayUnavailable` with one line when Ray is missing or the cluster cannot be joined,
    within about 30 s.
    """
    if address:
        probe(address)  # before importing ray: fails in seconds where nothing listens
    try:
        with _environment(CONNECT_BOUNDS if address else {}):  # read when ray is imported
            import ray
    except ImportError:
        raise RayUnavailable(address, "Ray is not installed (python3 -m pip install "
                             "'ray[default]')") from None
    if ray.is_initialized():
        return False
    if not address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        return True
    logged: list[str] = []
    try:
        with _environment(CONNECT_BOUNDS), _stderr_kept(logged):
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, its own errors
        raise RayUnavailable(address, "connecting to the Ray cluster failed: "
                             + explain(exc, "".join(logged))) from None
    sys.stderr.write("".join(logged))  # a successful join's warnings, if any
    return True
