"""modinterp.device: the allocator setting CPU training uses (glibc's malloc told to reuse freed memory)."""

import json
import os
import subprocess
import sys

import pytest

from modinterp.device import _glibc_mallopt

glibc_only = pytest.mark.skipif(_glibc_mallopt() is None, reason="mallopt is glibc's")

# Allocates, fills and frees a 64 MiB block five times; prints whether the setting took and the minor page
# faults of each round. Run in a fresh process: the setting is process-wide and cannot be undone.
_PROBE = """
import json, resource, numpy as np
from modinterp.device import reuse_freed_memory
took = reuse_freed_memory()
faults = []
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = np.ones(16 * 2**20, dtype=np.float32)
    del block
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"took": took, "faults": faults}))
"""


def _probe(**env) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], env=os.environ | env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


@glibc_only
def test_freed_large_blocks_are_reused_without_new_page_faults():
    reused = _probe(MODINTERP_MALLOC="")
    assert reused["took"] and sum(reused["faults"][1:]) <= 8  # only the first round touches fresh pages
    system = _probe(MODINTERP_MALLOC="system")  # glibc's default: each round maps (and faults in) a new block
    assert not system["took"] and min(system["faults"]) >= 32  # 64 MiB is at least 32 huge pages


def test_importing_modinterp_caps_onednns_kernel_cache_unless_the_user_set_it():
    import subprocess
    import sys

    code = "import os, modinterp; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    capped = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert capped.stdout.strip() == "16"
    own = subprocess.run([sys.executable, "-c", code], env={**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "256"},
                         capture_output=True, text=True, check=True)
    assert own.stdout.strip() == "256"
