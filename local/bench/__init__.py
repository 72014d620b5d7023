"""``make bench``: the figures of issue 12, each measured in this one run so that ratios compare.
See docs/performance.md (written by ``python -m local.bench --write``) for what each one means."""
