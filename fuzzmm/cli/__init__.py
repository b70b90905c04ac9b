"""The `fuzzmm` command: variants, fuzz, replay, minimize, corpus dedup.

Exit codes: 0 nothing found (fuzz) or not reproduced (replay); 1 a finding or
a reproduction; 2 bad input or usage, with a one-line reason on stderr.

The package is the command line alone: its options (parser.py), what each
command prints (commands.py), and here the dispatch, the signals that end a
command as Ctrl-C does, and the errors told in one line.  The work is done by
library functions.
"""
import os
import signal
import sys
import warnings

from fuzzmm.cli.parser import Parser, parser
from fuzzmm.errors import FuzzmmError


def _interrupt(signum, frame):
    """SIGTERM or SIGHUP ends a command the way Ctrl-C does: findings saved, summary printed,
    nothing left behind."""
    raise KeyboardInterrupt


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning (a model method that overrides nothing, say) as one line, like an error."""
    print(f"fuzzmm: warning: {message}", file=sys.stderr)


def _trust(args):
    """The model files the user trusts (--trust-model, repeatable) handed to the trust policy,
    fuzzmm.trust, before any model or corpus file is read."""
    trusted_models = getattr(args, "trust_model", None)
    if trusted_models:
        from fuzzmm import trust
        trust.allow(trusted_models)


def main(argv=None):
    warnings.showwarning = _show_warning
    command_line = parser()
    args, unknown = command_line.parse_known_args(argv)
    if unknown:     # reported by the command they were given to, not by `fuzzmm`
        prog = " ".join(filter(None, (command_line.prog, args.command, getattr(args, "corpus_command", None))))
        Parser(prog=prog).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        command_line.print_help()
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:      # as nohup leaves it
        signal.signal(signal.SIGHUP, _interrupt)               # a closed terminal or ssh session
    try:
        empty = [name for name, value in vars(args).items()
                 if value == "" or isinstance(value, list) and "" in value]
        if empty:           # an empty value would silently mean the default, or nothing
            name = empty[0] if empty[0] in ("file", "dir", "source") else "--" + empty[0].replace("_", "-")
            command = " ".join(filter(None, (args.command, getattr(args, "corpus_command", None))))
            raise FuzzmmError(f"{command}: {name} needs a value, not an empty string")
        _trust(args)
        from fuzzmm.cli.commands import COMMANDS
        return COMMANDS[args.command](args)
    except FuzzmmError as exc:
        print(f"fuzzmm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fuzzmm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:          # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:           # a file the command had to write or read: the user's to fix
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"fuzzmm: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
