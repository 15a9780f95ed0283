"""The run shown in the tabs, as the run panel lists it: method, data and settings, with "Use these settings"."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton, QVBoxLayout

from workbench.config import RunConfig, format_number

from . import theme

def _value(v) -> str:
    return format_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def describe_settings(run: RunConfig, method_title: str, dataset_title: str, has_backbone: bool = True) -> str:
    """'SimCLR on Shapes · 3 epochs · batch 128 · lr 0.001 · adam · small_cnn · seed 0', then the method's own."""
    line = f"{method_title} on {dataset_title}" + (f" ({run.data_root})" if run.data_root else "")
    parts = [line, f"{run.epochs} epoch{'' if run.epochs == 1 else 's'}", f"batch {run.batch_size}", f"lr {_value(run.lr)}", run.optimizer,
             *([run.backbone] if has_backbone else []), f"seed {run.seed}"]
    own = ", ".join(f"{k} {_value(v)}" for k, v in sorted(run.method_config.items()))
    return html.escape(" · ".join(parts)) + (f"<br>{html.escape(own)}" if own else "")


class RunSummary(QGroupBox):
    """Hidden until a run is opened, resumed or started; then says what that run is."""

    use_requested = Signal(object)  # RunConfig

    def __init__(self):
        super().__init__("Run shown")
        self.setObjectName("runSummary")
        self.run: RunConfig | None = None
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.RichText)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.use_button = QPushButton("Use these settings")
        self.use_button.setToolTip("Fill the panel below with this run's method, data and settings, "
                                   "to start a similar run")
        self.use_button.clicked.connect(lambda: self.run is not None and self.use_requested.emit(self.run))
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.use_button, 0, Qt.AlignLeft)
        self.hide()

    def show_run(self, name: str, run: RunConfig, method_title: str, dataset_title: str,
                 has_backbone: bool = True) -> None:
        self.run = run
        muted = theme.colors()["muted"]
        self.text.setText(f"<b>{html.escape(name)}</b><br>"
                          f"<span style='color: {muted}'>{describe_settings(run, method_title, dataset_title, has_backbone)}</span>")
        self.setToolTip(name)
        self.show()
