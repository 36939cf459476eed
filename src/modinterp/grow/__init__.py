"""Growing networks: embed a small BoardTransformer into a larger one so its function is preserved, and verify it."""

from modinterp.grow.embed import (
    EmbeddingMismatchError,
    EmbeddingPlan,
    EmbeddingReport,
    EmbeddingVerificationError,
    embed,
    parameter_masks,
    verify_embedding,
)

__all__ = ["embed", "verify_embedding", "parameter_masks", "EmbeddingPlan", "EmbeddingReport", "EmbeddingMismatchError",
           "EmbeddingVerificationError"]
