"""Utilities every stage shares (data_prep, recipe, model_card, bench, demo): one home for each concept.

It sits upstream of all of them and imports none of them, so data still flows one way.
"""
