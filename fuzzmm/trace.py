"""Logging set-up shared by the parent and the workers (structlog, JSON lines)."""
import structlog


def configure_worker_logging(worker_index=None):
    """Configure structlog in this process before its first log call.

    A forked child keeps the parent's cached loggers, so each worker configures
    its own rather than inheriting a configuration bound to the parent.
    """
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer(sort_keys=True)],
        cache_logger_on_first_use=False,
    )
    return structlog.get_logger().bind(worker=worker_index) if worker_index is not None else structlog.get_logger()
