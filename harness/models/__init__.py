"""Model adapters: each implements the contract in harness.api."""
