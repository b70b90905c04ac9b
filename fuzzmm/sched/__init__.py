"""Scheduling: schedules as data (schedule.py), the executor with its persistent workers
(executor.py, worker.py, stuck.py, verdict.py; the parent's watchdog is fuzzmm/watchdog.py), strategies and their registry
(strategies.py), and the search loop (search.py, hypothesis_loop.py, draws.py).

The package imports none of them itself: `fuzzmm --help` reads the strategy registry without
starting the executor's imports (the compiled core's workers, Hypothesis).  Import each from
its own module.
"""
