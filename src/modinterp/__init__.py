"""modinterp: interpretability by construction.

Grow a large network from a small interpretable one, carve networks into modules read off the
Gomory-Hu tree of their weight graph, and describe each module in words. See docs/architecture.md.
"""

import os as _os

__version__ = "0.1.0"

# oneDNN (PyTorch's CPU kernels) keeps a compiled kernel, with its buffers, per input shape: 1,024 shapes by default.
# The arena's batches change shape every ply, so a study process that played eight 400-game matches grew to 22 GB and
# was killed by the OOM killer. The capacity is read when oneDNN first runs: set here, on import, before any tensor
# op; a value the user set wins. Outputs do not change (a cache only). Measured by bench/arena_memory.py.
ONEDNN_CACHE_CAPACITY = "16"
_os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_CACHE_CAPACITY)
