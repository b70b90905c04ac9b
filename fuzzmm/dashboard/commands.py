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


def check_report_target(path):
    """Refuse, before any entry is replayed, a report file that could not be written: a
    directory, a missing directory, a corpus file (a reproducer is lost once written over), a
    file or directory that takes no writes."""
    from fuzzmm.corpus.outputs import check_directory_writable, refuse_other_reproducer
    if os.path.isdir(path):
        raise FuzzmmError(f"{path}: is a directory; -o names the file to write")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FuzzmmError(f"cannot write {path}: directory {directory} does not exist")
    if not os.path.exists(path):
        check_directory_writable(path)
        return
    if not os.path.isfile(path):            # /dev/stdout, a pipe: opened only when written
        return
    refuse_other_reproducer(path, "-o")
    try:
        with open(path, "a", encoding="utf-8"):     # opened as it will be written, nothing written yet
            pass
    except OSError as exc:
        raise FuzzmmError(f"cannot write {path}: {exc.strerror}") from None


def cmd_report(args):
    from fuzzmm.dashboard import pages, swimlanes
    from fuzzmm.dashboard.view import gather
    store = _existing_store(args.source)
    check_report_target(args.output)
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
