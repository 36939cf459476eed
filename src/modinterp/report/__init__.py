"""modinterp.report"""
