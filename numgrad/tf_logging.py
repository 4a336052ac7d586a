"""``ng.logging``: TF1's logging names (set_verbosity, INFO, ...) on Python's logging, under
the logger named 'numgrad'."""
import logging as _logging

__all__ = ["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "set_verbosity",
           "get_verbosity", "debug", "info", "warning", "warn", "error", "fatal", "log",
           "get_logger"]

DEBUG, INFO, WARN, ERROR, FATAL = (_logging.DEBUG, _logging.INFO, _logging.WARNING,
                                   _logging.ERROR, _logging.CRITICAL)
WARNING = WARN
_LOGGER = _logging.getLogger("numgrad")


def get_logger():
    """The 'numgrad' logger."""
    return _LOGGER


def set_verbosity(v):
    """Log messages at level `v` and above (ng.logging.INFO, ERROR, ...)."""
    _LOGGER.setLevel(v)


def get_verbosity():
    """The effective level of the 'numgrad' logger."""
    return _LOGGER.getEffectiveLevel()


def log(level, msg, *args, **kwargs):
    """Log `msg` at `level`."""
    _LOGGER.log(level, msg, *args, **kwargs)


def debug(msg, *args, **kwargs):
    """Log at DEBUG."""
    _LOGGER.debug(msg, *args, **kwargs)


def info(msg, *args, **kwargs):
    """Log at INFO."""
    _LOGGER.info(msg, *args, **kwargs)


def warning(msg, *args, **kwargs):
    """Log at WARNING."""
    _LOGGER.warning(msg, *args, **kwargs)


warn = warning


def error(msg, *args, **kwargs):
    """Log at ERROR."""
    _LOGGER.error(msg, *args, **kwargs)


def fatal(msg, *args, **kwargs):
    """Log at FATAL (CRITICAL)."""
    _LOGGER.critical(msg, *args, **kwargs)
