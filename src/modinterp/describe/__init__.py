"""modinterp.describe"""
