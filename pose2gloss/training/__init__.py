"""Training: the recipe and its configuration, batches streamed from shards, augmentation and the baseline."""
