"""The movie-booking domain: settings, storage, accounts, catalog and bookings (no HTTP here but web.py)."""
