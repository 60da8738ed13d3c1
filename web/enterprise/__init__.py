"""Pages and API of firms and the enterprise services (consortia, policies, tiers)."""
