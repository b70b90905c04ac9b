"""The Hypothesis profiles of fuzz tests: what each one sets, and which one is in use.

Profiles (registered with Hypothesis as fuzzmm-ci, fuzzmm-dev, fuzzmm-long):
  ci    deterministic and bounded: derandomized, no example database, 100 examples
  dev   the local default: random, with the example database, 200 examples
  long  long local runs: 50,000 examples per fuzz test
Which one fuzz tests use: `--fuzzmm-profile NAME`, else the FUZZMM_PROFILE
environment variable, else `ci` when Hypothesis sees a CI environment (CI set),
else `dev`.  Keyword arguments of `fuzz_test`/`fuzz` override single settings.
The global Hypothesis profile (your own @given tests) is not touched; pass
`--hypothesis-profile fuzzmm-ci` to use one there too.

This module imports nothing heavy (Hypothesis only when a profile is
registered): the pytest plugin reads the names and the choice in every run.
"""
from dataclasses import dataclass
import os


@dataclass(frozen=True)
class Profile:
    name: str                   # registered with Hypothesis as fuzzmm-NAME
    max_examples: int
    derandomize: bool
    keeps_database: bool        # Hypothesis's example database (off: the same runs on any machine)
    shrink_s: float             # fuzz's shrinking budget; then the smallest failure so far is reported


_PROFILES = (
    Profile("ci", max_examples=100, derandomize=True, keeps_database=False, shrink_s=30.0),
    Profile("dev", max_examples=200, derandomize=False, keeps_database=True, shrink_s=60.0),
    Profile("long", max_examples=50_000, derandomize=False, keeps_database=True, shrink_s=300.0),
)

PROFILES = tuple(p.name for p in _PROFILES)
PROFILE_ENV = "FUZZMM_PROFILE"
SHRINK_SECONDS = {p.name: p.shrink_s for p in _PROFILES}
SHRINK_RUNS = 3000      # the same bound for a derandomized profile (ci), in runs: the same result on any machine

_registered = False


def _in_ci():
    try:
        from hypothesis._settings import is_in_ci
    except ImportError:                                  # pragma: no cover - older or newer Hypothesis
        return "CI" in os.environ
    return is_in_ci()


def active_profile(choice=None):
    """(profile name, why it was chosen) for fuzz tests; `choice` is --fuzzmm-profile."""
    if choice:
        name, why = choice, "--fuzzmm-profile"
    elif os.environ.get(PROFILE_ENV):
        name, why = os.environ[PROFILE_ENV], f"{PROFILE_ENV} is set"
    elif _in_ci():
        name, why = "ci", "a CI environment (CI is set)"
    else:
        name, why = "dev", "the default outside CI"
    if name not in PROFILES:
        from fuzzmm.errors import FuzzmmError
        raise FuzzmmError(f"unknown fuzzmm profile {name!r} ({why}); choose from {', '.join(PROFILES)}")
    return name, why


def register_profiles():
    """Register fuzzmm-ci, fuzzmm-dev and fuzzmm-long with Hypothesis (idempotent)."""
    global _registered
    if _registered:
        return
    from hypothesis import HealthCheck, settings
    # Built on Hypothesis's "default" profile, not on whatever is loaded now (its "ci" profile when
    # CI is set), so that each fuzzmm profile means the same everywhere.
    common = dict(parent=settings.get_profile("default"), deadline=None, report_multiple_bugs=False,
                  print_blob=False, suppress_health_check=[HealthCheck.too_slow])
    for p in _PROFILES:
        database = {} if p.keeps_database else {"database": None}
        settings.register_profile(f"fuzzmm-{p.name}", max_examples=p.max_examples, derandomize=p.derandomize,
                                  **database, **common)
    _registered = True


def profile_settings(name=None):
    """The Hypothesis settings of fuzzmm profile `name` ("ci", "dev", "long"; default: the active
    one), e.g. `@profile_settings("ci")` on a @given test of your own."""
    from hypothesis import settings
    register_profiles()
    return settings.get_profile(f"fuzzmm-{name or active_profile()[0]}")
