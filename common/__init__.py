"""Shared foundation of the platform: settings, Spark session, HTTP client, storage, logging."""
