"""Recall (recare): when a patient is due for their next hygiene visit, and when to tell them."""
