"""Real test servers on 127.0.0.1 for chmd's integration tests and benchmarks.

Plain classes without pytest: `tests/conftest.py` wraps them as fixtures. A bench script does
`sys.path.insert(0, "tests")`, then `from harness import InfluxDB`; every class has start()
and close().
"""

from .influxdb import InfluxDB
from .proc import FIXTURES, LOOPBACK, REPO, SERVERS, HarnessError, free_port, wait_until

__all__ = [
    "FIXTURES",
    "LOOPBACK",
    "REPO",
    "SERVERS",
    "HarnessError",
    "InfluxDB",
    "free_port",
    "wait_until",
]
