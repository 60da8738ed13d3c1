"""Demands: what firms post, their workflow, and the suggestions made for them."""
