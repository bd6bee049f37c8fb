"""``annosync emulator``: serve the in-memory CVAT 2.73 emulator until Ctrl-C.

For trying annosync (or one's own pipeline) without a real CVAT: the server speaks CVAT's REST
API at the printed URL, with a seeded superuser and any ``--user`` accounts. State lives in
memory and is gone when the command exits.
"""

from __future__ import annotations

import sys
import threading

import click

_log_lock = threading.Lock()


def _log_request(method: str, path: str) -> None:
    with _log_lock:
        sys.stdout.write(f"> {method} {path}\n")
        sys.stdout.flush()


def _log_fault(kind: str, method: str, path: str) -> None:
    with _log_lock:
        sys.stdout.write(f"! {kind} {method} {path}\n")
        sys.stdout.flush()


@click.command("emulator")
@click.option("--port", type=int, default=8080, show_default=True,
              help="TCP port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--user", "users", multiple=True, metavar="NAME",
              help="Also create a regular user NAME (password NAME-password-1); repeatable.")
@click.option("--throttle", "throttles", multiple=True, metavar="SCOPE=RATE",
              help="Rate-limit like CVAT's DRF throttles: anon=100/minute (CVAT's default) "
                   "and/or user=N/minute; repeatable. Off by default.")
@click.option("--fault-rate", type=click.FloatRange(0.0, 1.0), default=0.0, metavar="P",
              help="Fail this share of API requests at random (5xx, resets, truncated "
                   "answers, stalls, 429), before or after acting on them.")
@click.option("--fault-seed", type=int, default=0, show_default=True,
              help="Seed of --fault-rate's random choices.")
@click.option("--stall", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="How long a --fault-rate stall lasts.")
@click.option("--log-requests", is_flag=True,
              help="Print '> METHOD PATH' on stdout as each request arrives ('! KIND METHOD "
                   "PATH' for each injected fault).")
def command(port: int, host: str, users: tuple[str, ...], throttles: tuple[str, ...],
            fault_rate: float, fault_seed: int, stall: float, log_requests: bool) -> None:
    """Run a local CVAT 2.73 emulator (in-memory state) until interrupted."""
    rates: dict[str, str] = {}
    for spec in throttles:
        scope, sep, rate = spec.partition("=")
        if not sep or scope not in ("anon", "user"):
            raise click.BadParameter(f"{spec!r}: expected anon=RATE or user=RATE",
                                     param_hint="--throttle")
        rates[scope] = rate
    from annosync.emulator import Emulator

    try:
        emu = Emulator(port=port, users=users, host=host, throttle=rates)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--throttle") from None
    if fault_rate:
        emu.faults.chaos(fault_rate, seed=fault_seed, stall=stall)
    if log_requests:
        emu.app.on_request = _log_request
        emu.app.on_fault = _log_fault
    try:
        emu.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    click.echo(f"CVAT emulator (2.73.0) listening on {emu.url}")
    click.echo(f"admin: {emu.admin_username} / {emu.admin_password}")
    for name in users:
        click.echo(f"user:  {name} / {name}-password-1")
    click.echo("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
        click.echo("emulator stopped", err=True)
