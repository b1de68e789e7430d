"""Suite kinds: how each kind of evaluation is computed (one module per kind)."""
