"""`make check-seeds` (tools/seeds.py): every failing claim of a claims cell is listed, not only the first."""
import textwrap

from tools import seeds


def test_every_failing_assert_is_recorded_and_passing_ones_are_not():
    cell = textwrap.dedent("""\
        # NBVAL_CHECK_OUTPUT
        x = 1
        assert x == 2, f"x is {x}"
        for i in range(3):
            assert i < 2
        assert x == 1
        print("done")
        """)
    ns = {}
    exec(seeds.record_claims(cell), ns)
    failed = ns[seeds.RECORD]
    assert [(line, msg) for line, _, msg in failed] == [(3, "x is 1"), (5, "")]
    assert failed[0][1].startswith("assert x == 2")
