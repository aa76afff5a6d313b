"""Model card rendering from a finished run (last stage; reads what recipe wrote)."""
