"""The shared-memory pool: create, attach by name, close, unlink; stale-segment cleanup."""
from fuzzmm._core import Pool, cleanup_stale, unique_name  # noqa: F401

__all__ = ["Pool", "cleanup_stale", "unique_name"]
