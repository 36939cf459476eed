"""modinterp.train: the trainer (AdamW groups, schedules, AMP, compile, DDP), checkpoints and exact resume."""

from modinterp.train.checkpoint import CheckpointError, load_model_weights, load_tensors, save_tensors
from modinterp.train.config import ModelChoice, TrainConfig, load_train_config
from modinterp.train.run import make_model, make_positions, train_from_games
from modinterp.train.trainer import NonFiniteLossError, Trainer, TrainResult

__all__ = [
    "CheckpointError", "ModelChoice", "NonFiniteLossError", "TrainConfig", "TrainResult", "Trainer",
    "load_model_weights", "load_tensors", "load_train_config", "make_model", "make_positions", "save_tensors",
    "train_from_games",
]
