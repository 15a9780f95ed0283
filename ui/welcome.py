"""The first screen: a ready example that starts with one click, with how long it takes on this machine."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.config import RunConfig, new_run_config
from workbench.estimate import describe

from . import theme
from .estimator import Estimator, setup_key

EXAMPLE = {"method": "simclr", "dataset": "shapes", "epochs": 3}
EXAMPLE_TITLE = "SimCLR on Shapes, 3 epochs"


def example_run() -> RunConfig:
    return new_run_config(EXAMPLE["method"], EXAMPLE["dataset"], epochs=EXAMPLE["epochs"])


class Welcome(QWidget):
    """Shown instead of empty plots until a run is started or opened."""

    measure_on_show = True  # time the example once the window is up (tests turn it off: it spawns a process)
    MEASURE_DELAY_MS = 1500  # after the first paint, so the measurement never slows the window's start

    start_example = Signal(object)  # RunConfig
    open_requested = Signal()
    runs_requested = Signal()

    def __init__(self, estimator: Estimator, parent: QWidget | None = None):
        super().__init__(parent)
        self.estimator = estimator
        self.run = example_run()
        title = QLabel("Train a self-supervised model and watch what it learns")
        theme.set_look(title, tone="strong")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        title.setFont(font)
        intro = QLabel("SimCLR learns from unlabelled pictures by pulling two altered copies of each picture "
                       "together. Shapes holds small coloured shapes whose shape, colour, size and place are "
                       "known, so the maps show what the model picked up. Nothing is downloaded.")
        intro.setWordWrap(True)

        card = QFrame()
        card.setObjectName("previewCard")
        self.example_title = QLabel(f"<b>Ready example: {EXAMPLE_TITLE}</b>")
        self.time_label = QLabel()
        self.time_label.setWordWrap(True)
        theme.set_look(self.time_label, tone="muted")
        self.start_button = QPushButton(theme.icon("start"), "Start the example")
        self.start_button.setObjectName("exampleButton")
        self.start_button.setMinimumHeight(34)
        self.start_button.clicked.connect(lambda: self.start_example.emit(example_run()))
        cv = QVBoxLayout(card)
        cv.setContentsMargins(16, 14, 16, 14)
        cv.addWidget(self.example_title)
        cv.addWidget(self.time_label)
        cv.addWidget(self.start_button, 0, Qt.AlignLeft)

        other = QLabel("Or pick a method and data in the panel on the left and press Start. "
                       "Drop a folder of your own images onto the window to train on them.")
        other.setWordWrap(True)
        open_button = QPushButton(theme.icon("open"), "Open a run…")
        open_button.clicked.connect(self.open_requested)
        runs_button = QPushButton("Earlier runs")
        runs_button.clicked.connect(self.runs_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(open_button)
        buttons.addWidget(runs_button)
        buttons.addStretch(1)

        column = QVBoxLayout()
        column.setSpacing(14)
        column.addWidget(title)
        column.addWidget(intro)
        column.addWidget(card)
        column.addWidget(other)
        column.addLayout(buttons)
        column.addStretch(1)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addLayout(column, 3)
        outer.addStretch(1)

        estimator.estimated.connect(self._on_estimate)
        estimator.failed.connect(self._on_failed)
        self._measured = False
        known = estimator.cached(self.run)
        self.time_label.setText(f"{describe(known).capitalize()} here, measured on this machine." if known else
                                "How long it takes here is measured once the window is up.")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.measure_on_show and not self._measured:
            self._measured = True
            QTimer.singleShot(self.MEASURE_DELAY_MS, self, self.measure)

    def measure(self) -> None:
        """Say how long the example takes: from the cache at once, else after a short measurement."""
        self._measured = True
        if self.estimator.cached(self.run) is None:
            self.time_label.setText("Measuring how fast this machine trains it (a few real steps)…")
        self.estimator.estimate(self.run)

    def _on_estimate(self, key: str, seconds: float) -> None:
        if key == setup_key(self.run):
            self.time_label.setText(f"{describe(seconds).capitalize()} here, measured on this machine.")

    def _on_failed(self, key: str, why: str) -> None:
        if key == setup_key(self.run):
            self.time_label.setText(f"Could not time it here ({why}); it usually takes a few minutes on a CPU.")
