"""Tooling of the source checkout (not installed): see tools/book.py."""
