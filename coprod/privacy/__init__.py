"""Data protection: everything held about one person (`dataprotection`), erasing them (`erasure`), and keeping
nothing longer than the retention period (`retention`)."""
