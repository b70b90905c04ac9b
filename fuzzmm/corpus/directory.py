"""A corpus directory: one JSON file per finding, deduplicated by signature.

Each (model, variant, signature) has one reproducer, the smallest seen, under a
name made from its key; a person may also name one by hand or copy one in.
Campaigns that share a directory compare and write a finding under its `.lock`,
and write each file atomically; a finding whose writer was killed between its
last byte and the rename is recovered from its temporary file on the next start
or dedup.  Beside the files, `.state/` keeps the searches' saved state and
`.hypothesis/` Hypothesis's example database.
"""
import json
import os

from fuzzmm.corpus import lock
from fuzzmm.corpus.atomic import (TEMP_PREFIX, check_writable, clean_temp, is_temp, left_by_dead_writers,
                                  write_atomic)
from fuzzmm.corpus.entry import CURATED, KEPT, MAX_FILE_BYTES, WRITTEN, against, load, load_doc
from fuzzmm.errors import FuzzmmError


class DirectoryStore:
    """The corpus in the directory `path`.  Making one touches nothing: prepare() makes the
    directory, and save() makes it if need be; entries() of a missing one is an error."""

    def __init__(self, path):
        self.path = path
        self.where = path
        # (the directory's mtime when read, {key: file}) of its files, for holder(): read once
        # and again only when the directory changes, so an export stays linear
        self._keys = None

    def prepare(self):
        """Make the directory, recover the findings writers that are gone left whole in their
        temporary files and remove what they left half-written: what a campaign does before
        it uses the directory.  Returns the store."""
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise FuzzmmError(f"cannot use corpus directory {self.path}: {exc.strerror}") from None
        self.recover()
        clean_temp(os.path.join(self.path, ".state"))
        return self

    def recover(self):
        """Save, by the save rule, each finding a writer that is gone left whole in a temporary
        file (killed between its last byte and the rename), and remove the temporary files
        they left: a part of a file is nothing to keep.  A whole JSON document that is no
        corpus entry this fuzzmm reads moves aside to a free `.bad` name.  Returns
        [(temporary file, the file that holds its finding's key now)]."""
        recovered = []
        for temp in left_by_dead_writers(self.path):
            try:
                doc = json.loads(_text_of(temp) or "")
            except (ValueError, RecursionError):
                doc = None                  # cut short: a part of a file
            if doc is not None:
                try:
                    entry = load_doc(doc, temp, base=self.path)
                except FuzzmmError:
                    name = os.path.basename(temp)[len(TEMP_PREFIX):]
                    try:
                        os.replace(temp, _free_name(os.path.join(self.path, f"recovered-{name}.bad")))
                    except FileNotFoundError:   # another campaign starting moved it first
                        pass
                    continue
                held, _ = self.save(entry)  # FuzzmmError (the lock not had, a full disk): the file stays
                recovered.append((temp, held))
            try:
                os.unlink(temp)
            except FileNotFoundError:       # another campaign starting recovered it first
                pass
        return recovered

    def check_writable(self):
        """Refuse, before any work, a directory no finding could be written into."""
        try:
            check_writable(self.path)
        except OSError as exc:
            raise FuzzmmError(f"cannot write to corpus directory {self.path}: {exc.strerror}") from None

    def save(self, entry):
        """Store `entry` unless the corpus already holds a reproducer of its key that is no larger.

        Returns (path, outcome): the path that holds the signature's reproducer afterwards, and
        WRITTEN (the first of its key), REPLACED (a larger or unreadable file of its name gave
        way), KEPT (the corpus's own, no larger or in a newer format, stays) or CURATED (a
        larger one a person added to stays, and `entry` is written nowhere: the caller shows
        it).  A smaller one goes under its generated name; a file named by hand, one a person
        added to (Entry.curated), and one in a newer format are never overwritten; an
        unreadable one moves aside to a free `.bad` name.
        """
        try:
            return self._save(entry)
        except OSError as exc:
            raise FuzzmmError(f"cannot write to corpus directory {self.path}: {exc.strerror}") from None

    def _save(self, entry):
        path = os.path.join(self.path, entry.file_name(base=self.path))
        os.makedirs(self.path, exist_ok=True)
        with lock.held(self.path):      # compare and write as one step against other campaigns
            held = self.holder(entry)
            outcome = WRITTEN
            if held is not None:
                outcome, unreadable = against(_text_of(held), entry)
                if outcome in (KEPT, CURATED):
                    return held, outcome
                if unreadable:
                    os.replace(held, _free_name(held + ".bad"))     # kept for its owner to look at
                if held != path:
                    outcome = WRITTEN                               # beside a file named by hand
            write_atomic(path, entry.to_json(base=self.path))
            self._note(entry, path)
        entry.path = path
        return path, outcome

    def holder(self, entry):
        """The file that holds the entry's key (model, variant, signature), or None: the file
        of its generated name, else any file with that key, since a person may have named a
        reproducer by hand (h1-mel-counter-leak.json) or copied it in."""
        path = os.path.join(self.path, entry.file_name(base=self.path))
        if os.path.exists(path):
            return path
        if not os.path.isdir(self.path):
            return None
        stamp = os.stat(self.path).st_mtime_ns
        if self._keys is None or self._keys[0] != stamp:
            self._keys = (stamp, {found.key(base=self.path): other for other, found in self.entries()
                                  if not isinstance(found, FuzzmmError)})
        return self._keys[1].get(entry.key(base=self.path))

    def _note(self, entry, path):
        """Note a file just written in the directory's keys, so the next holder() need not reread them."""
        if self._keys is not None:
            self._keys[1][entry.key(base=self.path)] = path
            self._keys = (os.stat(self.path).st_mtime_ns, self._keys[1])

    def entries(self):
        """(path, Entry or FuzzmmError) for every corpus file in the directory, sorted by name."""
        if not os.path.isdir(self.path):
            raise FuzzmmError(f"{self.path}: not a directory")
        out = []
        for name in sorted(os.listdir(self.path)):
            if name.endswith(".json") and not is_temp(name):
                path = os.path.join(self.path, name)
                if not os.path.isfile(path):    # a FIFO would block a scan, /dev/zero fill its memory
                    out.append((path, FuzzmmError(f"{path}: not a regular file")))
                    continue
                try:
                    out.append((path, load(path)))
                except FuzzmmError as exc:
                    out.append((path, exc))
        return out

    def dedup(self, reproduces=None, spare=()):
        """Keep the smallest reproducer of each (model, variant, signature); returns the removed paths.

        `reproduces(entry)`, when given, says whether a file still shows its finding:
        the smallest file that does is kept, and a signature none of whose files
        reproduces keeps them all, so no reproducer is ever removed in favour of a
        file that is not one.  Unreadable files, and those whose paths are in `spare`,
        are left alone and reported by the caller; so are files a person added to
        (Entry.curated: fixed_in, a field of their own), which say more than a reproducer.
        Findings left whole in the temporary files of writers that are gone are recovered first."""
        self.recover()
        groups = {}
        for _, entry in self.entries():
            if not isinstance(entry, FuzzmmError) and entry.path not in spare:
                groups.setdefault(entry.key(), []).append(entry)
        removed = []
        for group in groups.values():
            if len(group) < 2:
                continue
            group.sort(key=lambda entry: entry.size)
            keep = next((entry for entry in group if reproduces is None or reproduces(entry)), None)
            if keep is None:
                continue
            for entry in group:
                if entry is not keep and not entry.curated:
                    os.unlink(entry.path)
                    removed.append(entry.path)
        return removed

    def load_state(self, name):
        try:
            with open(self._state_path(name), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            os.replace(self._state_path(name), self._state_path(name) + ".bad")
            return None

    def save_state(self, name, doc):
        try:
            write_atomic(self._state_path(name), doc)
        except OSError:
            pass                # the state only speeds up a later start; the findings are saved apart

    def _state_path(self, name):
        return os.path.join(self.path, ".state", name.replace("/", "_") + ".json")

    def hypothesis_database(self):
        """Hypothesis's example database beside the corpus; what else Hypothesis keeps (its
        cache of the program's constants) goes there too, not into the working directory."""
        from hypothesis.configuration import set_hypothesis_home_dir
        from hypothesis.database import DirectoryBasedExampleDatabase
        set_hypothesis_home_dir(os.path.join(self.path, ".hypothesis"))
        return DirectoryBasedExampleDatabase(os.path.join(self.path, ".hypothesis"))


def _text_of(path):
    """A corpus file's text, or None for what is no regular file (a FIFO would block) or
    cannot be read."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except (OSError, UnicodeDecodeError):
        return None


def _free_name(path):
    """`path`, or `path.1`, `path.2`...: the first that names nothing."""
    candidate, n = path, 0
    while os.path.lexists(candidate):
        n += 1
        candidate = f"{path}.{n}"
    return candidate
