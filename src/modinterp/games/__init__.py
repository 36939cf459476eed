"""modinterp.games"""
