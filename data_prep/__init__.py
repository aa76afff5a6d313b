"""Corpus adapters, audio decoding, splits and the on-disk DatasetDict (first stage of the recipe)."""
