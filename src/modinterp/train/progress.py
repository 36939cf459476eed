"""A rich progress bar for training: step, loss and positions per second (silent when disabled)."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainProgress:
    def __init__(self, total_steps: int, start_step: int = 0, enabled: bool = True):
        self._progress = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[speed]:,.0f} pos/s"),
                TimeElapsedColumn(), TimeRemainingColumn(),
            )
            self._task = self._progress.add_task("train", total=total_steps, completed=start_step, loss=float("nan"), speed=0.0)
            self._progress.start()

    def update(self, step: int, loss: float, positions_per_s: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, loss=loss, speed=positions_per_s)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
