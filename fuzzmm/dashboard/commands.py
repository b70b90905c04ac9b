"""The `fuzzmm dashboard` and `fuzzmm report` commands: their options and what they do.

Imported by fuzzmm.cli to build its parser, so this module imports nothing heavy itself: Flask,
the templates and the replays load only when one of the commands runs.
"""
import os
import sys

from fuzzmm.errors import FuzzmmError


def add_dashboard_commands(sub, default_corpus):
    """The `dashboard` and `report` subcommands, added to the `fuzzmm` parser's `sub`."""
    b = sub.add_parser("dashboard", help="serve a live web page of the campaigns and findings of a corpus",
                       description="Serve a web page that shows, live, the campaigns publishing to a corpus (a "
                       "directory, or redis://... shared by many machines): machines, jobs, coverage and runs/s "
                       "over time, and the findings with their swimlanes and replay commands. Everything is "
                       "served from the installed package; nothing is fetched from the network.",
                       epilog="Runs until interrupted (Ctrl-C), then exits 0; 2 on bad input or usage.")
    b.add_argument("source", metavar="CORPUS", nargs="?", default=default_corpus,
                   help=f"the corpus: a directory or redis://host:port/db (default: {default_corpus})")
    b.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                   "only)")
    b.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one (default: 8765)")

    o = sub.add_parser("report", help="write one self-contained HTML file of a corpus's findings and swimlanes",
                       description="Replay every entry of a corpus and write one HTML file, with no reference to "
                       "the network, that shows the findings, each with its scenario, replay command and "
                       "swimlane, and the campaigns that published to the corpus: a CI artifact.",
                       epilog="Exits 0 when the file was written, 2 on bad input or usage.")
    o.add_argument("source", metavar="CORPUS", help="the corpus: a directory or redis://host:port/db")
    o.add_argument("-o", "--output", required=True, help="the HTML file to write")


def _existing_store(spec):
    """The store of a corpus that must exist already (a directory is not made for it)."""
    from fuzzmm.corpus.store import open_store
    if not spec.startswith("redis://") and "://" not in spec and not os.path.isdir(spec):
        raise FuzzmmError(f"{spec}: not a directory")
    return open_store(spec)


def cmd_dashboard(args):
    from fuzzmm.dashboard.server import serve
    if not 0 <= args.port <= 65535:
        raise FuzzmmError(f"--port must be 0..65535, not {args.port}")
    store = _existing_store(args.source)
    try:
        serve(store, args.host, args.port,
              lambda url: print(f"fuzzmm dashboard of {store.where}: {url} (Ctrl-C stops it)", flush=True))
    except KeyboardInterrupt:
        return 0
    return 0


def cmd_report(args):
    from fuzzmm.dashboard import pages, swimlanes
    from fuzzmm.dashboard.view import gather
    store = _existing_store(args.source)
    if os.path.isdir(args.output):
        raise FuzzmmError(f"{args.output}: is a directory; -o names the file to write")
    if os.path.isfile(args.output):
        from fuzzmm.cli import _refuse_other_reproducer
        _refuse_other_reproducer(args.output, "-o")
    view = gather(store)
    drawn = {}

    def swimlane(reproducer):
        if reproducer.id not in drawn:
            print(f"  replaying {reproducer.where}", file=sys.stderr, flush=True)
            drawn[reproducer.id] = swimlanes.in_process(reproducer.entry)
        return drawn[reproducer.id]
    html = pages.report(view, swimlane)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(html)
    print(f"{args.output}: {len(view['reproducers'])} corpus entries, {len(view['findings'])} findings, "
          f"{len(view['campaigns'])} campaigns")
    return 0
