"""The crash corpus: files, replay and minimisation."""
from fuzzmm.corpus.files import Entry, load, load_doc, save, entries, dedup, write_atomic, clean_temp  # noqa: F401
from fuzzmm.corpus.replay import replay, program_ref, checked_ref, variant_mismatch  # noqa: F401
from fuzzmm.corpus.minimize import minimize, shrink_quickly  # noqa: F401
