"""Device inventory: defaults ← groups ← devices, merged once at load."""
