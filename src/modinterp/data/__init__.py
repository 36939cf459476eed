"""modinterp.data: games on disk (`store`: versioned, validated, split by game) and training batches."""
