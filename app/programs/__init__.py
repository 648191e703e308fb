"""Programs: an unmodified Python program run and traced live (design.md section 6)."""
