"""modinterp.models"""
