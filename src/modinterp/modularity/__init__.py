"""modinterp.modularity"""
