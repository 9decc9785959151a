"""LMSR prediction markets (issue 4): open, trade, positions, price history, settlement on resolution."""
