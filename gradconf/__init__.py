"""gradconf: a differential-testing conformance suite for automatic differentiation."""

__version__ = "0.1.0"
SCHEMA_VERSION = "1.1"
