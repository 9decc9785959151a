"""Turnsignal service: Litestar REST API, persistence, client and CLI."""
