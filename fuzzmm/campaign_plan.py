"""What a fuzzing campaign runs, and running it: the `fuzzmm fuzz` command as library functions.

A plan crosses a model's variants (each once, in the order first named) with the
strategies asked for (one, or the portfolio), one job each, the jobs' seeds
counting up from the campaign's; fuzzmm/campaign.py runs the jobs on parallel
executors and saves what they find.
"""
from dataclasses import dataclass
import random
from typing import TYPE_CHECKING, Callable

from fuzzmm.errors import FuzzmmError

if TYPE_CHECKING:
    from fuzzmm.campaign import Job
    from fuzzmm.models import Model


@dataclass(frozen=True)
class CampaignPlan:
    model: "Model"              # the model fuzzed
    variants: list[str]         # its variants, each once
    strategies: tuple[str, ...]     # the strategy names each variant is fuzzed with
    seed: int                   # the campaign's seed: given, or drawn at random
    pct_depth: int
    jobs: list["Job"]           # one per (variant, strategy)


def plan_campaign(model: str | None = None, variants: list[str] | None = None, strategy: str = "pct",
                  seed: int | None = None, pct_depth: int = 3) -> CampaignPlan:
    """The jobs of a campaign on `model` (a built-in name, module or .py file; None: the seed
    model), on `variants` (None: all), with `strategy` (a registered name, or the portfolio).
    Bad input is FuzzmmError."""
    from fuzzmm.campaign import Job
    from fuzzmm.models import load_model
    from fuzzmm.sched.strategies import PORTFOLIO, PORTFOLIO_NAME
    loaded = load_model(model)
    variants = list(dict.fromkeys(variants or loaded.variants))     # each once, in the order first named
    if pct_depth < 1 or pct_depth > 9:
        raise FuzzmmError(f"--pct-depth must be 1..9, not {pct_depth}")
    seed = seed if seed is not None else random.SystemRandom().randrange(2 ** 31)
    strategies = PORTFOLIO if strategy == PORTFOLIO_NAME else (strategy,)
    jobs = [Job(model or loaded.name, v, loaded.ref(v), s, seed + i)
            for i, (v, s) in enumerate((v, s) for v in variants for s in strategies)]
    return CampaignPlan(loaded, variants, strategies, seed, pct_depth, jobs)


def run_campaign(plan: CampaignPlan, duration: float, executors: int, corpus: str,
                 emit: Callable[[dict], None], on_capped: Callable[[int], None] | None = None,
                 machine: str | None = None) -> dict:
    """Run the plan's jobs for about `duration` seconds on at most `executors` processes (no
    more than there are jobs: `on_capped(used)` hears of the cap before the first job starts),
    saving findings into `corpus` (a directory or redis://...).  `emit(event)` hears each
    progress and finding event; the campaign's summary is returned, with its seed.  `machine`
    names the campaign's published state (None: the host name)."""
    from fuzzmm.campaign import Campaign
    campaign = Campaign(plan.jobs, duration, executors, corpus, emit, pct_depth=plan.pct_depth, machine=machine)
    if campaign.executors < executors and on_capped is not None:
        on_capped(campaign.executors)
    summary = campaign.run()
    summary["seed"] = plan.seed
    return summary
