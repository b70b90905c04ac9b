"""The crash corpus: entries and their files, the stores that hold them, replay and minimisation."""
from fuzzmm.corpus.entry import Entry, load, load_doc  # noqa: F401
from fuzzmm.corpus.atomic import write_atomic, clean_temp  # noqa: F401
from fuzzmm.corpus.store import Store, open_store  # noqa: F401
from fuzzmm.corpus.directory import DirectoryStore  # noqa: F401
from fuzzmm.corpus.redis import RedisStore  # noqa: F401
from fuzzmm.corpus.replay import replay, program_ref, checked_ref, variant_mismatch  # noqa: F401
from fuzzmm.corpus.minimize import minimize, shrink_quickly  # noqa: F401
