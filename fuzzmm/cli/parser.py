"""The `fuzzmm` command line: its commands, their options and help.

Only the declaration: what each command does is in fuzzmm/cli/commands.py, and
this module imports no more than the strategy registry and the dashboard's option declarations,
so `fuzzmm --help` is quick.
"""
import argparse
import os

from fuzzmm import verify
from fuzzmm.dashboard.commands import add_dashboard_commands
from fuzzmm.sched.strategies import summaries as strategy_summaries

DEFAULT_DURATION_S = 20.0
DEFAULT_STRATEGY = "pct"
DEFAULT_CORPUS = os.path.join(".fuzzmm", "corpus")
TRUST_MODEL_HELP = "trust the model file PATH (a corpus file naming it may run its code); see README 'Security model'"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (not the usage block above it), exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


STRATEGIES = {name: what + (" (the default)" if name == DEFAULT_STRATEGY else "")
              for name, what in strategy_summaries().items()}


def _add_trust_model(p):
    p.add_argument("--trust-model", action="append", metavar="PATH", help=TRUST_MODEL_HELP)


def parser():
    p = Parser(prog="fuzzmm", description="Find ordering bugs in concurrent "
               "reference-counting and locking code by running it in real processes "
               "over shared memory under controlled schedules.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    v = sub.add_parser("variants", help="list models and their variants")
    v.add_argument("--model", help="a built-in model name, a module, or a path to a .py file "
                   "(default: every built-in model)")
    v.add_argument("--json", action="store_true", help="print one JSON object per variant")

    f = sub.add_parser("fuzz", help="search for findings and keep them in a corpus",
                       description="Run a model's variants under generated scenarios and schedules for --duration "
                       "seconds, write each finding that replays to the corpus, and end with a table of findings.",
                       epilog="Exits 1 when something was found, else 0; 2 on bad input or usage, or when a "
                       "job failed and nothing was found; 130 when interrupted before the first run. An "
                       "interrupted campaign (Ctrl-C, SIGTERM, SIGHUP) ends with its summary.")
    f.add_argument("--model", help="built-in model name, module or .py file (default: thp-numa, the seed model)")
    f.add_argument("--variant", action="append",
                   help="a variant to fuzz; repeat for several, each is run once (default: all)")
    f.add_argument("--strategy", default=DEFAULT_STRATEGY,
                   choices=list(STRATEGIES), help="how schedules are chosen: "
                   + "; ".join(f"{name}: {what}" for name, what in STRATEGIES.items()))
    f.add_argument("--duration", type=float, default=DEFAULT_DURATION_S,
                   help=f"wall-clock budget in seconds (default: {DEFAULT_DURATION_S:g})")
    f.add_argument("--executors", type=int,     # None: one per core, capped at the job count without a word
                   help="executors run in parallel, each with its own pool and workers (default: one per core)")
    f.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help=f"directory where findings are written, or redis://host:port/db to share one corpus "
                   f"between machines (default: {DEFAULT_CORPUS})")
    f.add_argument("--seed", type=int, help="seed of the search (default: random, printed in the summary)")
    f.add_argument("--pct-depth", type=int, default=3, help="PCT bug depth d: d-1 change points (default: 3)")
    f.add_argument("--machine", help="the name this campaign publishes its state under, for `fuzzmm dashboard` "
                   "(default: the host name)")
    f.add_argument("--json", action="store_true", help="print JSON lines: progress, finding, then a summary "
                   "with a section per job")
    _add_trust_model(f)

    r = sub.add_parser("replay", help="reproduce a corpus file deterministically",
                       description="Run a corpus file's scenario under its recorded schedule and say whether "
                       "the file's finding shows again.",
                       epilog="Exits 1 when the finding reproduced in every run, 0 when it did not, "
                       "2 on bad input or usage.")
    r.add_argument("file", help="the corpus file")
    r.add_argument("--repeat", type=int, default=1, help="replay N times and report any difference (default: 1)")
    r.add_argument("--variant", help="replay on this variant of the file's model instead of its own")
    r.add_argument("--trace", action="store_true", help="print the run as a swimlane, one column per task, "
                   "showing the operations on the object the finding concerns")
    r.add_argument("--trace-all", action="store_true", help="print the swimlane as --trace does, but with every "
                   "operation of every task, not only those on the finding's object")
    r.add_argument("--trace-json", metavar="PATH", help="write the run's events as JSON lines to PATH ('-': stdout)")
    r.add_argument("--svg", metavar="OUT.svg", help="write the run's swimlane as an SVG picture to OUT.svg "
                   "(the operations --trace shows; with --trace-all, every one)")
    r.add_argument("--json", action="store_true", help="print one JSON object with the result")
    _add_trust_model(r)

    m = sub.add_parser("minimize", help="shrink a corpus file while it reproduces the same signature",
                       description="Drop tasks, operations and switches, move switches earlier and make "
                       "arguments smaller, keeping each change only if the file's signature still shows "
                       "(and it still does not on its fixed_in variants); print each smaller size on "
                       "stderr as it is found, then write the smallest.",
                       epilog="Exits 1 when the file reproduced and the smallest reproducer was written "
                       "(smaller or not), as replay does; 2 when it does not reproduce or on bad input; "
                       "130 when interrupted, after writing the smallest so far.")
    m.add_argument("file", help="the corpus file")
    m.add_argument("-o", "--output", help="where to write the result (default: replace FILE)")
    m.add_argument("--max-runs", type=int, default=20000,
                   help="bound on the runs made on the file's own variant, searches for new switches "
                   "included; each smaller file kept is also replayed once on each fixed_in variant "
                   "(default: 20000)")
    _add_trust_model(m)

    verify.add_parser(sub, DEFAULT_CORPUS)

    c = sub.add_parser("corpus", help="corpus maintenance")
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION")
    d = csub.add_parser("dedup", help="keep the smallest reproducer of each signature: each signature's files are "
                        "replayed smallest first, and none is removed unless one of them reproduces; a file "
                        "with fixed_in or a field of a person's own is never removed")
    d.add_argument("dir", help="the corpus directory")
    _add_trust_model(d)
    e = csub.add_parser("export", help="write a corpus (a directory or redis://...) as files into DIR, "
                        "each under its generated name, one per signature: the smallest, unless a larger one "
                        "has fixed_in or a field of a person's own (it is kept, the smaller named on stderr)")
    e.add_argument("source", help="the corpus: a directory or redis://host:port/db")
    e.add_argument("dir", help="the directory to write into")
    _add_trust_model(e)

    add_dashboard_commands(sub, DEFAULT_CORPUS)
    return p
