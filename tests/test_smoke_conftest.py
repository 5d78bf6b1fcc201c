from gradconf.case import Case
from helpers import MINIMAL


def test_minimal_case_loads(one_case):
    case = one_case(MINIMAL)
    assert isinstance(case, Case)
    assert [c.id for c in case.checks] == ["value", "vjp"]
