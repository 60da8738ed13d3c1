"""Pages and API of contracts (云签约)."""
