"""modinterp.data"""
