"""Pages, forms and API of chain-matching events."""
