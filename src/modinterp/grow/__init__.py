"""modinterp.grow"""
