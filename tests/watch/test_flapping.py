from opsbook.watch.flapping import Debounce


def test_fails_after_n_and_recovers_after_m() -> None:
    gate = Debounce(fail_after=3, recover_after=2)
    assert [gate.observe(ok) for ok in (False, False, True, False, False)] == [False] * 5
    assert gate.failing is False  # never three failures in a row
    assert gate.observe(False) is True and gate.failing is True
    assert gate.observe(True) is False and gate.failing is True  # one success is not enough
    assert gate.observe(False) is False
    assert [gate.observe(True), gate.observe(True)] == [False, True]
    assert gate.failing is False


def test_defaults_follow_every_result() -> None:
    gate = Debounce()
    assert gate.observe(False) is True and gate.observe(True) is True
