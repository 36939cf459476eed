"""modinterp.probes"""
