"""modinterp.studies"""
