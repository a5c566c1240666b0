"""chmd: the Catalyst Health Monitor daemon."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chmd")  # one source of truth: pyproject.toml's [project] version
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from chmd import native

native.guard()  # before any compiled module is imported: a stale build must not shadow its source
