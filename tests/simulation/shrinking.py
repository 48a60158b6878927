"""A failing run made short: hypothesis chooses a run's scenario (its seed, how many
replicas, members and customers, the fault rates, which kinds of chaos happen) and, once a
run breaks an invariant, shrinks the scenario to the smallest it finds that still breaks
one. What is left is a short trace to read, and a scenario that replays it exactly.

(The choices inside a run, thousands of them, stay with the seed: hypothesis could not hold
them all in one example.)"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from tests.simulation.order_pipeline import CHAOS_KINDS, RunReport, Scenario, simulate
from tests.simulation.world import FaultRates

RATES = st.sampled_from((0.0, 0.02, 0.08, 0.2))
SCENARIOS = st.builds(
    Scenario,
    seed=st.integers(0, 2**32 - 1),
    replicas=st.integers(1, 4),
    readers=st.integers(1, 3),
    notifiers=st.integers(1, 3),
    customers=st.integers(1, 8),
    rates=st.builds(FaultRates, RATES, RATES, RATES, RATES, RATES),
    chaos=st.frozensets(st.sampled_from(sorted(CHAOS_KINDS))),
    lifecycle=st.booleans(),
)


def shortest_failure(
    *, examples: int, runs: int, derandomize: bool = False
) -> tuple[Scenario, RunReport] | None:
    """The shortest failing run hypothesis finds in `examples` scenarios, shrunk within
    `runs` runs in all; None when every run it tried held. `derandomize`: the same
    scenarios every time (for a test), instead of new ones each call."""
    shortest: tuple[Scenario, RunReport] | None = None
    # Hypothesis asks again about scenarios it has seen: the same answer each time.
    answers: dict[str, bool] = {}

    def breaks_an_invariant(scenario: Scenario) -> bool:
        nonlocal shortest
        key = repr(scenario)
        if key not in answers:
            if len(answers) >= runs:
                return False  # out of budget: shrinking stops where it is
            report = simulate(scenario.seed, scenario)
            answers[key] = report.violation is not None
            if report.violation is not None and (
                shortest is None or len(report.trace) < len(shortest[1].trace)
            ):
                shortest = scenario, report
        return answers[key]

    with contextlib.suppress(NoSuchExample):
        find(
            SCENARIOS,
            breaks_an_invariant,
            settings=settings(
                max_examples=examples,
                derandomize=derandomize,
                deadline=None,
                database=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            ),
        )
    return shortest
