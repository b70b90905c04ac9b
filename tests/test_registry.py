"""The strategy registry says everything the rest of fuzzmm needs of a strategy, by name."""
from fuzzmm.sched.strategies import PORTFOLIO, STRATEGIES, summaries


def test_only_a_chaos_mode_strategy_is_free_running():
    """A campaign pins every strategy's job to one CPU except one whose runs are free-running."""
    assert [name for name, r in STRATEGIES.items() if r.free_running] == ["chaos"]


def test_the_portfolio_and_the_help_come_from_the_registry():
    """The portfolio lists the registered strategies marked for it, and --help lists them all."""
    assert set(PORTFOLIO) == {name for name, r in STRATEGIES.items() if r.in_portfolio}
    assert set(summaries()) == set(STRATEGIES) | {"portfolio"}
