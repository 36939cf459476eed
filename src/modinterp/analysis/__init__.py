"""modinterp.analysis"""
