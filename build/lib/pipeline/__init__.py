"""Micro-batch pipeline for support chat exports."""

__version__ = "0.1.0"
