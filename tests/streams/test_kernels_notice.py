"""The user is told what a first run waits for while the kernels compile (streams.kernels)."""

from __future__ import annotations

import io

from streams.kernels import NOTICE, prepare_kernels


def test_a_slow_warm_up_prints_the_notice_and_the_time_it_took() -> None:
    stream = io.StringIO()
    seconds = prepare_kernels(stream, notice_after=0.0)
    lines = stream.getvalue().splitlines()
    assert lines[0] == NOTICE
    assert lines[1] == f"riskmon: kernels ready in {seconds:.1f} s"
    assert len(lines) == 2


def test_a_fast_warm_up_prints_nothing() -> None:
    stream = io.StringIO()
    prepare_kernels(stream, notice_after=600.0)
    assert stream.getvalue() == ""
