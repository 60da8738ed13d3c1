"""Pages and API of demands: browse, post, candidates, the SME inbox and the organizer dashboard."""
