"""Shared logic for the Scryer migration runbooks."""
