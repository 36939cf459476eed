"""modinterp.games: Domineering on any board.

`domineering` (batched engine, move codes, symmetries), `concepts` (named board quantities),
`players` (random and alpha-beta guided games), `solver` (exact outcomes of small boards).
Import the submodules directly; this package imports nothing so that `games` stays light.
"""
