"""Gavel's business rules. Nothing here imports Tornado; every function takes
its dependencies (database, clock, event publisher) as arguments."""
