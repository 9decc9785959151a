"""Two-person bets (issue 4): offer, accept, cancel, expiry, settlement on resolution."""
