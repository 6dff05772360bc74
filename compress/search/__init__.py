"""How candidates are chosen and trained: strategies, the journal, the trainer. No Keras at import."""
