"""Networks playing the game: the arena (batched matches against random, alpha-beta and other networks; Wilson
intervals, Elo) and self-play game generation with a value network. Depends on games, data and models only."""
