"""Read-only JSON API and dashboard over the gold Delta tables (`python -m api`)."""
