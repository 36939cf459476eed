"""Trainer tests (a package so its module names do not clash with other test folders)."""
