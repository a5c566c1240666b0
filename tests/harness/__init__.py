"""Real test servers on 127.0.0.1 for chmd's integration tests and benchmarks.

Plain classes without pytest: `tests/conftest.py` wraps them as fixtures. A bench script does
`sys.path.insert(0, "tests")`, then `from harness import InfluxDB`; every class has start()
and close().
"""

from .influxdb import InfluxDB
from .proc import FIXTURES, LOOPBACK, REPO, SERVERS, HarnessError, free_port, wait_until
from .prometheus import Prometheus
from .sinks import HttpSink, ReceivedRequest, SmtpSink
from .snmp import LIVE_RATES, Snmpd, SnmpSim, start_snmpsim, write_data_dir
from .sshd import Sshd
from .victoriametrics import VictoriaMetrics

__all__ = [
    "FIXTURES",
    "LIVE_RATES",
    "LOOPBACK",
    "REPO",
    "SERVERS",
    "HarnessError",
    "HttpSink",
    "InfluxDB",
    "Prometheus",
    "ReceivedRequest",
    "SmtpSink",
    "SnmpSim",
    "Snmpd",
    "Sshd",
    "VictoriaMetrics",
    "free_port",
    "start_snmpsim",
    "wait_until",
    "write_data_dir",
]
