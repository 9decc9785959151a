"""Turnsignal forecasting core: pure numpy/pandas math (eval tables, links, emergence, scoring, LMSR)."""
