"""A GETBULK answer is split into columns the same way on the fast (checked in C) and the
one-varbind-at-a-time path: end of column, endOfMibView, non-increasing OIDs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.client import _Requester
from chmd.errors import ProtocolError

COLUMNS: list[OID] = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 10), (1, 3, 6, 1, 2, 1, 2, 2, 1, 16)]


def reference(
    columns: list[OID], vbs: list[VarBind], cursor: dict[OID, OID], rows: dict[OID, list[VarBind]]
) -> None:
    """The walk's column split as it was written first: one varbind at a time."""
    width = len(columns)
    for position, column in enumerate(columns):
        n = len(column)
        last = cursor[column]
        ended = False
        for vb in vbs[position::width]:
            oid = vb[0]
            if vb[1] == ber.END_OF_MIB_VIEW or oid[:n] != column:
                ended = True
                break
            if oid <= last:
                raise ProtocolError(f"agent returned non-increasing OID {ber.format_oid(oid)}")
            last = oid
            rows[column].append(vb)
        if ended:
            del cursor[column]
        else:
            cursor[column] = last


def varbind(column: OID, sub: int, tag: int, leave: bool) -> VarBind:
    oid = (*column[:-1], column[-1] + 1, sub) if leave else (*column, sub)
    return (oid, tag, 0)


answers = st.lists(
    st.tuples(
        st.integers(0, 1),  # column
        st.integers(0, 40),  # row index: not always increasing
        st.sampled_from([ber.COUNTER32, ber.COUNTER32, ber.COUNTER32, ber.END_OF_MIB_VIEW]),
        st.integers(0, 9).map(lambda n: n == 0),  # now and then, leave the column
    ),
    max_size=30,
)


@st.composite
def well_formed(draw: st.DrawFn) -> list[tuple[int, int, int, bool]]:
    """Whole rows of both columns with increasing indexes (what agents send), with at most
    one flaw: endOfMibView, a varbind past the column, a repeated or a lower index."""
    subs = sorted(set(draw(st.lists(st.integers(21, 60), min_size=1, max_size=12))))
    answer = [(c, sub, ber.COUNTER32, False) for sub in subs for c in (0, 1)]
    flaw = draw(st.sampled_from(["none", "none", "end", "leave", "repeat", "lower", "ragged"]))
    at = draw(st.integers(0, len(answer) - 1))
    c, sub, tag, leave = answer[at]
    if flaw == "end":
        answer[at] = (c, sub, ber.END_OF_MIB_VIEW, leave)
    elif flaw == "leave":
        answer[at] = (c, sub, tag, True)
    elif flaw == "repeat" and at >= 2:
        answer[at] = answer[at - 2]
    elif flaw == "lower":
        answer[at] = (c, 20 - at, tag, leave)
    elif flaw == "ragged":
        del answer[at]
    return answer


@given(answers | well_formed(), st.integers(0, 20))
def test_fast_split_equals_the_varbind_at_a_time_split(
    answer: list[tuple[int, int, int, bool]], start: int
) -> None:
    """For any answer (increasing or not, leaving the column or not, endOfMibView anywhere),
    the rows, the cursors and a non-increasing error are those of the plain loop."""
    vbs = [varbind(COLUMNS[c], sub, tag, leave) for c, sub, tag, leave in answer]
    outcomes = []
    for split in (_Requester._consume, reference):
        cursor = {c: (*c, start) if start else c for c in COLUMNS}
        rows: dict[OID, list[VarBind]] = {c: [] for c in COLUMNS}
        try:
            split(list(COLUMNS), vbs, cursor, rows)
            outcomes.append((cursor, rows))
        except ProtocolError as exc:
            outcomes.append(("error", str(exc)))
    assert outcomes[0] == outcomes[1]


def test_increasing_rows_are_taken_whole() -> None:
    """A well-formed answer of two columns is split into both, cursors at each column's last
    OID, and a column that runs into the next one ends there."""
    a, b = COLUMNS
    vbs = [
        ((*a, 1), ber.COUNTER32, 1),
        ((*b, 1), ber.COUNTER32, 2),
        ((*a, 2), ber.COUNTER32, 3),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 17, 1), ber.COUNTER32, 4),
    ]
    cursor = {a: a, b: b}
    rows: dict[OID, list[VarBind]] = {a: [], b: []}
    _Requester._consume([a, b], vbs, cursor, rows)
    assert rows == {a: [vbs[0], vbs[2]], b: [vbs[1]]}
    assert cursor == {a: (*a, 2)}


def test_a_repeated_oid_is_refused() -> None:
    """The same OID twice in a column is a ProtocolError naming it, never a loop."""
    a = COLUMNS[0]
    vbs = [((*a, 1), ber.COUNTER32, 1), ((*a, 1), ber.COUNTER32, 1)]
    with pytest.raises(ProtocolError, match=r"non-increasing OID 1\.3\.6\.1\.2\.1\.2\.2\.1\.10\.1"):
        _Requester._consume([a], vbs, {a: a}, {a: []})
