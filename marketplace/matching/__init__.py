"""Matching: the engine that ranks firms for a demand, its profiles, reasons, evaluation and CLI."""
