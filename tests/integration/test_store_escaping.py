"""Property: whatever names and strings a device reports, InfluxDB 1.6.7 stores exactly what
chmd's line protocol promises (`stored_text`; string values unchanged)."""

from __future__ import annotations

import itertools

import pytest
from harness import InfluxDB
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chmd.model import Sample
from chmd.store import lineproto as lp

pytestmark = pytest.mark.integration

DB = "st_escape"
TRICKY = [*list(" ,=\"'\\\n\r\t#"), "é", "€", "😀", "日本", "a", "b", "x", "Gi1/0/1"]
names = st.lists(st.sampled_from(TRICKY), min_size=1, max_size=8).map("".join)
strings = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
) | st.lists(st.sampled_from(TRICKY), max_size=10).map("".join)
_ids = itertools.count()


@pytest.fixture(scope="module")
def server(influxdb: InfluxDB) -> InfluxDB:
    influxdb.create_database(DB)
    return influxdb


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(measurement=names, tag_key=names, tag_value=names, field_key=names, text=strings)
def test_influxdb_stores_exactly_what_chmd_promises(
    server: InfluxDB, measurement: str, tag_key: str, tag_value: str, field_key: str, text: str
) -> None:
    """Measurement, tag key/value, field key and string value come back as promised."""
    n = next(_ids)
    m = f"m{n}_{measurement}"  # unique measurement per example; never a comment line
    tk, fk = f"k{tag_key}", f"f{field_key}"
    sample = Sample(m, {tk: tag_value, "id": str(n)}, {fk: 7, "s": text}, 1_000_000 + n)
    line = lp.encode(sample, lp.SkipCounts())
    assert line is not None
    server.write(line, db=DB)
    want_m = lp.stored_text(m, lp.MEASUREMENT_ESCAPES)
    result = server.query(f"SELECT * FROM /.*/ WHERE id='{n}'", db=DB)["results"][0]  # noqa: S608 (InfluxQL from test constants)
    series = {s["name"]: s for s in result.get("series", [])}
    assert want_m in series, (line, list(series))
    row = dict(zip(series[want_m]["columns"], series[want_m]["values"][0], strict=True))
    assert row[lp.stored_text(tk)] == lp.stored_text(tag_value)
    assert row[lp.stored_text(fk, lp.FIELD_KEY_ESCAPES)] == 7
    assert row["s"] == text
    assert row["time"] == 1_000_000 + n


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    whole=st.integers(min_value=lp.INT64_MIN, max_value=lp.INT64_MAX),
    real=st.floats(allow_nan=False, allow_infinity=False),
    flag=st.booleans(),
)
def test_numbers_round_trip_exactly(server: InfluxDB, whole: int, real: float, flag: bool) -> None:
    """Any int64, any finite float (shortest repr) and booleans come back exactly."""
    n = next(_ids)
    sample = Sample(f"num{n}", {"id": str(n)}, {"i": whole, "f": real, "b": flag}, 2_000_000 + n)
    line = lp.encode(sample, lp.SkipCounts())
    assert line is not None
    server.write(line, db=DB)
    rows = server.points(f'SELECT i, f, b FROM "num{n}"', db=DB)  # noqa: S608 (test constants)
    assert len(rows) == 1
    row = rows[0]
    assert (row["time"], row["i"], row["b"]) == (2_000_000 + n, whole, flag)
    # Go's JSON writes integral floats without a point: compare as the float parsed back
    assert float(row["f"]) == real
