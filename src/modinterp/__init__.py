"""modinterp: interpretability by construction.

Grow a large network from a small interpretable one, carve networks into modules read off the
Gomory-Hu tree of their weight graph, and describe each module in words. See docs/architecture.md.
"""

__version__ = "0.1.0"
