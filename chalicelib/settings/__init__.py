"""Practice settings staff change from the dashboard: versioned, audited, applied to the practice item."""
