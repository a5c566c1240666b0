"""`chmd poll`: poll one device once (or twice with --rates) and print; writes nothing.

Like `telegraf --test`: `--format lp` prints exactly the InfluxDB line protocol chmd would
write (through `chmd.store.lineproto`, the writer's own serializer).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from chmd.cli import EXIT_CONFIG, EXIT_FAILURE, config_option, exit_config_error, main
from chmd.errors import ConfigError
from chmd.inventory.schema import Device
from chmd.model import PollResult, Sample


def _adhoc_device(opts: dict[str, Any]) -> Device:
    snmp: dict[str, Any] = {
        "version": opts["snmp_version"],
        "port": opts["port"],
        "timeout": opts["timeout"],
        "retries": opts["retries"],
    }
    if opts["snmp_version"] == "3":
        snmp.update(
            user=opts["user"],
            auth_protocol=opts["auth_protocol"],
            auth_key=opts["auth_key"],
            priv_protocol=opts["priv_protocol"],
            priv_key=opts["priv_key"],
            context=opts["context"] or "",
        )
    else:
        snmp["community"] = opts["community"]
    snmp = {k: v for k, v in snmp.items() if v is not None}
    return Device.model_validate(
        {
            "name": opts["name"] or opts["host"],
            "host": opts["host"],
            "timeout": opts["deadline"],
            "snmp": snmp,
            "profiles": list(opts["profile"]) or None,
        }
    )


def _load_device(config: Path, name: str) -> tuple[Device, Any]:
    from chmd.config import load_config

    loaded = load_config(config)
    for device in loaded.devices:
        if device.name == name:
            return device, loaded
    known = ", ".join(d.name for d in loaded.devices[:10])
    raise ConfigError([f"{config}: no device {name!r} in the inventory (known: {known})"])


def render(results: list[PollResult], fmt: str) -> str:
    samples = [s for r in results[-1:] for s in r.samples]
    if fmt == "lp":
        from chmd.store.lineproto import SkipCounts, encode_many

        return "\n".join(encode_many(samples, SkipCounts()))
    if fmt == "json":
        return json.dumps([_sample_dict(s) for s in samples], indent=1, sort_keys=True)
    return _table(samples)


def _sample_dict(sample: Sample) -> dict[str, Any]:
    return {
        "measurement": sample.measurement,
        "tags": dict(sample.tags),
        "fields": dict(sample.fields),
        "time_ns": sample.time_ns,
    }


def _table(samples: list[Sample]) -> str:
    lines = []
    for s in samples:
        tags = " ".join(
            f"{k}={v}" for k, v in sorted(s.tags.items()) if k not in ("device", "agent_host")
        )
        fields = " ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.fields.items()
        )
        lines.append(f"{s.measurement:<10} {tags:<50} {fields}")
    return "\n".join(lines)


async def _run(collector: Any, device: Device, rates: bool, wait_s: float) -> list[PollResult]:
    try:
        results = [await collector.poll(device)]
        if rates and results[0].ok:
            await asyncio.sleep(wait_s)
            results.append(await collector.poll(device))
        return results
    finally:
        await collector.aclose()


@main.command()
@config_option
@click.argument("device_name", metavar="DEVICE", required=False)
@click.option("--via", default="snmp", show_default=True, help="Collector to use (snmp, ssh).")
@click.option("--host", help="Ad-hoc target instead of an inventory DEVICE.")
@click.option("--port", default=161, show_default=True, type=int)
@click.option("--community", help="v1/v2c community.")
@click.option(
    "--snmp-version",
    "snmp_version",
    type=click.Choice(["1", "2c", "3"]),
    default="2c",
    show_default=True,
)
@click.option("--user", help="v3 user.")
@click.option(
    "--auth-protocol", type=click.Choice(["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"])
)
@click.option("--auth-key", help="v3 auth key (or env:NAME / file:PATH).")
@click.option("--priv-protocol", type=click.Choice(["DES", "AES", "AES128", "AES192", "AES256"]))
@click.option("--priv-key", help="v3 privacy key (or env:NAME / file:PATH).")
@click.option("--context", help="v3 context name.")
@click.option(
    "--timeout", type=float, default=2.0, show_default=True, help="Per-request timeout (s)."
)
@click.option("--retries", type=int, default=1, show_default=True)
@click.option(
    "--deadline", type=float, default=30.0, show_default=True, help="Whole-poll deadline (s)."
)
@click.option("--name", help="Device name for the `device` tag (default: the host).")
@click.option("--profile", multiple=True, help="Pin SNMP profiles (repeatable).")
@click.option(
    "--format", "fmt", type=click.Choice(["lp", "json", "table"]), default="lp", show_default=True
)
@click.option("--rates", is_flag=True, help="Poll twice and print the second poll (with rates).")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between polls with --rates.",
)
def poll(
    config: Path,
    device_name: str | None,
    via: str,
    fmt: str,
    rates: bool,
    wait_s: float,
    **opts: Any,
) -> None:
    """Poll DEVICE (or --host) once and print what chmd would write; writes nothing."""
    from chmd.collect import COLLECTORS

    if via not in COLLECTORS:
        raise click.UsageError(f"--via {via}: unknown collector (known: {', '.join(COLLECTORS)})")
    loaded: Any = None
    try:
        if device_name and not opts["host"]:
            device, loaded = _load_device(config, device_name)
            if getattr(device, via, None) is None:
                raise click.UsageError(f"device {device.name!r} has no `{via}:` access configured")
        elif opts["host"]:
            if via != "snmp":
                raise click.UsageError(f"--host polls over SNMP; for --via {via} name a DEVICE")
            device = _adhoc_device(opts)
        else:
            raise click.UsageError("give a DEVICE from the inventory or --host")
        collector = COLLECTORS[via](loaded)
    except ConfigError as exc:
        exit_config_error(exc.problems, "nothing polled")
    except ValueError as exc:  # pydantic ValidationError of the ad-hoc device
        click.echo(f"invalid target: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    results = asyncio.run(_run(collector, device, rates, wait_s))
    output = render(results, fmt)
    if output:
        click.echo(output)
    for error in results[-1].errors:
        click.echo(f"error: {error.step}: {error.reason}: {error.message}", err=True)
    if not results[-1].ok:
        sys.exit(EXIT_FAILURE)
