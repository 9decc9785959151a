"""Turnsignal models: PyMC builders returning pm.Model and the fit/predict/save/load wrapper."""
