"""Stemlab: live audience polling."""
