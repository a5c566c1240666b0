"""SNMP agents on 127.0.0.1/udp: snmpsim serving the real recordings, and net-snmp snmpd.

snmpsim (PyPI 1.2) runs in its own venv `.servers/snmpsim-venv` on Debian's /usr/bin/python3 with
python3-gdbm, so it indexes the recordings in well under a second. The data tree is prepared once
per content under `.servers/snmpsim-data/<digest>/` (index cache beside it, reused by later runs);
logs go to a per-instance temp dir.

The "-live" copy of each recording animates these columns with snmpsim's `numeric` variation
module: value(t) = recorded value + rate * (seconds since the agent process started), Counter32
wrapping modulo 2**32. Rates are per second (`LIVE_RATES`); an agent restart starts over from the
recorded value, like a rebooted device. Only columns a recording holds are animated (of the
Cisco recordings only iosxe_c9300 has the Counter32 ifInOctets/ifOutOctets; ios_c3560 has no
ifHCInOctets); a recording without sysUpTime.0 gets one in its live copy, starting at 0.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from .proc import (
    FIXTURES,
    SERVERS,
    HarnessError,
    ManagedServer,
    ServerProcess,
    require_binary,
)

SNMPREC_DIR = FIXTURES / "snmprec"
SNMPSIM_VENV = SERVERS / "snmpsim-venv"
SNMPSIM_DATA_CACHE = SERVERS / "snmpsim-data"

# v3 credentials served by both agents
V3_USER = "netmonv3"
V3_USER_SHA256 = "netmonv3s256"  # snmpd only
V3_AUTH_KEY = "authpass123"
V3_PRIV_KEY = "privpass123"

# Animated columns of the "-live" recordings: name -> (OID prefix, BER tag, rate per second)
LIVE_COLUMNS: dict[str, tuple[str, str, int]] = {
    "ifInOctets": ("1.3.6.1.2.1.2.2.1.10.", "65", 1_250_000),  # Counter32, 10 Mbit/s
    "ifOutOctets": ("1.3.6.1.2.1.2.2.1.16.", "65", 625_000),  # Counter32, 5 Mbit/s
    "ifHCInOctets": ("1.3.6.1.2.1.31.1.1.1.6.", "70", 12_500_000),  # Counter64, 100 Mbit/s
    "ifHCOutOctets": ("1.3.6.1.2.1.31.1.1.1.10.", "70", 6_250_000),  # Counter64, 50 Mbit/s
    "sysUpTime": ("1.3.6.1.2.1.1.3.0", "67", 100),  # TimeTicks: 100 per second
}
LIVE_RATES: dict[str, int] = {name: rate for name, (_, _, rate) in LIVE_COLUMNS.items()}
COUNTER32_MODULUS = 2**32
PREPARE_VERSION = "2"  # bump when the data transformation below changes


def recordings() -> list[str]:
    """Names of the shipped recordings (community / v3 context names)."""
    return sorted(p.stem for p in SNMPREC_DIR.glob("*.snmprec"))


def animate_line(line: str, wrap_after_s: float | None = None) -> str:
    """One snmprec line of the live variant: counters and sysUpTime advance at LIVE_RATES.

    With `wrap_after_s`, Counter32 columns start that many seconds before their 2**32 wrap.
    """
    oid, tag, value = line.split("|", 2)
    for prefix, want_tag, rate in LIVE_COLUMNS.values():
        if tag == want_tag and (oid == prefix or oid.startswith(prefix)):
            initial = int(value)
            extra = ""
            if tag == "65":
                if wrap_after_s is not None:
                    initial = COUNTER32_MODULUS - int(rate * wrap_after_s)
                extra = f",max={COUNTER32_MODULUS},wrap=1"
            return f"{oid}|{tag}:numeric|rate={rate},initial={initial}{extra}"
    return line


def _oid_key(line: str) -> tuple[int, ...]:
    return tuple(int(part) for part in line.split("|", 1)[0].split("."))


def live_lines(lines: list[str], wrap_after_s: float | None = None) -> list[str]:
    """The live variant of a recording; one lacking sysUpTime.0 gets one starting at 0."""
    out = [animate_line(line, wrap_after_s) for line in lines]
    uptime_oid = LIVE_COLUMNS["sysUpTime"][0]
    if not any(line.startswith(uptime_oid + "|") for line in lines):
        out.append(animate_line(f"{uptime_oid}|67|0"))
        out.sort(key=_oid_key)  # snmpsim's GETNEXT bisects the file: keep OID order
    return out


def write_data_dir(
    out: Path, names: Iterable[str] | None = None, wrap_after_s: float | None = None
) -> Path:
    """Write `<name>.snmprec` and `<name>-live.snmprec` for each recording into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names or recordings():
        text = (SNMPREC_DIR / f"{name}.snmprec").read_text()
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        (out / f"{name}.snmprec").write_text("\n".join(lines) + "\n")
        live = live_lines(lines, wrap_after_s)
        (out / f"{name}-live.snmprec").write_text("\n".join(live) + "\n")
    # snmpsim rebuilds an index unless the data file is strictly older (whole seconds) than it
    for path in out.glob("*.snmprec"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def shared_data_dir() -> Path:
    """The prepared tree for the shipped recordings, built once per content and reused."""
    digest = hashlib.sha256(PREPARE_VERSION.encode())
    for path in sorted(SNMPREC_DIR.glob("*.snmprec")):
        digest.update(path.name.encode() + path.read_bytes())
    root = SNMPSIM_DATA_CACHE / digest.hexdigest()[:16]
    with _locked(root.with_suffix(".lock")):
        if not (root / "READY").exists():
            shutil.rmtree(root, ignore_errors=True)
            write_data_dir(root / "data")
            (root / "cache").mkdir()
            (root / "READY").write_text("ok\n")
    return root


# --- readiness probe: a hand-made SNMPv2c GET (no pysnmp, no net-snmp tools needed) -------------


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(4, "big", signed=True).lstrip(b"\x00") or b"\x00")


SYS_UPTIME_OID = bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])


def snmp_answers(host: str, port: int, community: str, timeout_s: float = 0.5) -> bool:
    """True when an SNMPv2c GET of sysUpTime.0 gets any reply datagram."""
    request_id = secrets.randbelow(2**30)
    varbind = _tlv(0x30, _tlv(0x06, SYS_UPTIME_OID) + b"\x05\x00")
    pdu = _tlv(0xA0, _int(request_id) + _int(0) + _int(0) + _tlv(0x30, varbind))
    packet = _tlv(0x30, _int(1) + _tlv(0x04, community.encode()) + pdu)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.sendto(packet, (host, port))
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return False
    return _int(request_id) in data


# --- snmpsim ------------------------------------------------------------------------------------


class SnmpSim(ManagedServer):
    """snmpsim-command-responder on one UDP port serving every `*.snmprec` in `data_dir`.

    Community (v1/v2c) and v3 context name = file name without `.snmprec`. `stop()`/`start()`
    keeps the port: an agent restart (live counters and sysUpTime start over).
    """

    v3_user = V3_USER
    v3_auth_key = V3_AUTH_KEY
    v3_priv_key = V3_PRIV_KEY
    live_rates = LIVE_RATES
    name = "snmpsim"
    port_kind = "udp"
    ready_what = "SNMP reply"

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int = 0,
        cache_dir: Path | None = None,
        base: Path | None = None,
    ) -> None:
        if data_dir is None:
            shared = shared_data_dir()
            data_dir, cache_dir = shared / "data", shared / "cache"
        super().__init__("snmpsim", base, port)
        self.data_dir = Path(data_dir).resolve()
        self.cache_dir = Path(cache_dir) if cache_dir else self.base / "cache"
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    @property
    def communities(self) -> list[str]:
        return sorted(p.stem for p in self.data_dir.glob("*.snmprec"))

    def _argv(self) -> list[str]:
        exe = SNMPSIM_VENV / "bin" / "snmpsim-command-responder"
        if not os.access(exe, os.X_OK):
            raise HarnessError(f"{exe} missing: run `make test` once (it builds the snmpsim venv)")
        return [
            str(exe),
            f"--cache-dir={self.cache_dir}",
            f"--logging-method=file:{self.base / 'snmpsim.log'}",
            "--log-level=error",
            "--v3-engine-id=auto",
            f"--data-dir={self.data_dir}",
            f"--agent-udpv4-endpoint={self.host}:{self.port}",
            f"--v3-user={V3_USER}",
            f"--v3-auth-key={V3_AUTH_KEY}",
            "--v3-auth-proto=SHA",
            f"--v3-priv-key={V3_PRIV_KEY}",
            "--v3-priv-proto=AES",
        ]

    def _env(self) -> dict[str, str]:
        # As root snmpsim would drop privileges to a user that cannot read our files
        return dict(os.environ, SNMPSIM_ALLOW_ROOT="true")

    def _ready(self) -> bool:
        return snmp_answers(self.host, self.port, self.communities[0])

    def _launch(self, proc: ServerProcess) -> None:
        # one indexer at a time per cache dir (a cold cache is built during start-up)
        with _locked(self.cache_dir / ".lock"):
            super()._launch(proc)

    def _after_failed_start(self) -> None:
        # a cache left broken by a killed indexer: rebuild it on the next try
        for stale in self.cache_dir.glob("*.dbm*"):
            stale.unlink(missing_ok=True)


def start_snmpsim(data_dir: Path | None = None, port: int = 0) -> SnmpSim:
    """Start an snmpsim on `data_dir` (default: the shipped recordings) and `port` (0: free)."""
    return SnmpSim(data_dir=data_dir, port=port).start()


# --- net-snmp snmpd -----------------------------------------------------------------------------

SNMPD_CONF = """\
[snmp] persistentDir {base}/persist
agentAddress udp:{host}:{port}
sysLocation  CI-lab rack 1
sysContact   netmon-ci@example.invalid
sysName      ci-snmpd
sysServices  72
rocommunity  public  {host}
createUser   {v3}     SHA     "{auth}" AES "{priv}"
createUser   {v3s256} SHA-256 "{auth}" AES "{priv}"
rouser       {v3}     authpriv
rouser       {v3s256} authpriv
"""


# More snmpd v3 users, one per security level and protocol family chmd supports (same keys):
# name -> (chmd auth_protocol, chmd priv_protocol). chmd's AES192/AES256 extend the key as
# pysnmp's default and Cisco do (Reeder), which net-snmp calls AES-192-C/AES-256-C (its own
# AES-192/AES-256 use the Blumenthal extension).
SNMPD_V3_USERS: dict[str, tuple[str | None, str | None]] = {
    "v3md5des": ("MD5", "DES"),
    "v3md5aes256": ("MD5", "AES256"),
    "v3shaaes192": ("SHA", "AES192"),
    "v3sha224aes256": ("SHA224", "AES256"),
    "v3sha384aes": ("SHA384", "AES"),
    "v3sha512aes256": ("SHA512", "AES256"),
    "v3shanopriv": ("SHA", None),
    "v3noauth": (None, None),
}
_NETSNMP_AUTH = {"SHA224": "SHA-224", "SHA256": "SHA-256", "SHA384": "SHA-384", "SHA512": "SHA-512"}
_NETSNMP_PRIV = {"AES192": "AES-192-C", "AES256": "AES-256-C"}


def snmpd_v3_users_conf() -> str:
    """createUser/rouser lines for SNMPD_V3_USERS."""
    lines = []
    for name, (auth, priv) in SNMPD_V3_USERS.items():
        create = f"createUser {name}"
        if auth:
            create += f' {_NETSNMP_AUTH.get(auth, auth)} "{V3_AUTH_KEY}"'
        if priv:
            create += f' {_NETSNMP_PRIV.get(priv, priv)} "{V3_PRIV_KEY}"'
        level = "authpriv" if priv else "auth" if auth else "noauth"
        lines += [create, f"rouser {name} {level}"]
    return "\n".join(lines) + "\n"


class Snmpd(ManagedServer):
    """Debian's net-snmp snmpd on one UDP port: v2c `public`, v3 users (SHA/AES, SHA-256/AES,
    and SNMPD_V3_USERS)."""

    community = "public"
    v3_user = V3_USER
    v3_user_sha256 = V3_USER_SHA256
    v3_auth_key = V3_AUTH_KEY
    v3_priv_key = V3_PRIV_KEY
    sys_name = "ci-snmpd"
    name = "snmpd"
    port_kind = "udp"
    ready_what = "SNMP reply"

    def __init__(self, base: Path | None = None) -> None:
        super().__init__("snmpd", base)

    def _prepare(self) -> None:
        (self.base / "persist").mkdir(mode=0o700, exist_ok=True)

    def _argv(self) -> list[str]:
        conf = self.base / "snmpd.conf"
        conf.write_text(
            SNMPD_CONF.format(
                base=self.base,
                host=self.host,
                port=self.port,
                v3=V3_USER,
                v3s256=V3_USER_SHA256,
                auth=V3_AUTH_KEY,
                priv=V3_PRIV_KEY,
            )
            + snmpd_v3_users_conf()
        )
        # -f foreground, -C only our config, -m "" no MIB files, -I -smux no TCP :199 listener
        argv = [require_binary("snmpd", "/usr/sbin/snmpd"), "-f", "-m", "", "-I", "-smux"]
        argv += ["-C", "-c", str(conf), "-Lf", str(self.base / "snmpd.log")]
        return argv

    def _ready(self) -> bool:
        return snmp_answers(self.host, self.port, self.community)
