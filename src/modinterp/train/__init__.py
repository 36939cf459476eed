"""modinterp.train"""
