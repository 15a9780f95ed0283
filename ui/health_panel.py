"""The explorer's Health panel: how honest the map is (trustworthiness, continuity, false neighbours) and
whether the embeddings have collapsed (spread, effective rank, leave-one-out kNN), each with a plain reading."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QFrame, QLabel, QVBoxLayout, QWidget

from ui import theme
from workbench.analysis import VERDICTS, EmbeddingHealth, collapse_verdict, false_neighbour_share
from workbench.neighbourhoods import MapQuality

__all__ = ["HealthPanel", "false_neighbour_text", "collapse_verdict", "EmbeddingHealth"]

KNN_NAME = "neighbour-label agreement"  # not the dashboard's kNN top-1 (train → test): see set_embedding_health
# Both numbers are right and measure different things; a person reading them side by side needs this.
BOTH_HOLD = ("Trustworthiness counts how far down the true ranking a map neighbour sits, so a map whose "
             "wrong neighbours are still close (ranked just past {k}) scores high; the false-neighbour share "
             "counts points that miss half of their exact {k} nearest. Both hold when the map keeps the "
             "rough neighbourhood but not the exact one.")


def false_neighbour_text(quality: MapQuality, below: float) -> str:
    """'23% of points (114 of 500): most of their 10 map neighbours are not true neighbours.'"""
    checked = quality.checked()
    bad = len(quality.false_neighbours(below))
    share = false_neighbour_share(quality, below)
    need = int(np.ceil(below * quality.k))
    text = (f"False neighbours: {share:.0%} of points ({bad:,} of {checked:,}) have fewer than {need} of "
            f"their {quality.k} map neighbours among their {quality.k} true ones")
    if checked < quality.n:
        text += f" (checked on a {checked:,}-point sample)"
    return text + "."


class HealthPanel(QFrame):
    """A compact, word-wrapped block of text; filled piecewise as background computations finish."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("healthPanel")
        self.setFrameShape(QFrame.StyledPanel)
        self.title = QLabel("Health")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.map_text = QLabel()
        self.embedding_text = QLabel()
        self.verdict = QLabel()
        self.marks_check = QCheckBox("Mark false neighbours")
        self._last_verdict: str | None = None  # kept across clear(): the next snapshot is read against it
        for label in (self.map_text, self.embedding_text, self.verdict):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            label.setTextFormat(Qt.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(3)
        layout.addWidget(self.title)
        layout.addWidget(self.map_text)
        layout.addWidget(self.marks_check)
        layout.addWidget(self.embedding_text)
        layout.addWidget(self.verdict)
        self.clear()
        self.apply_theme()

    def clear(self) -> None:
        self.map_text.setText("")
        self.embedding_text.setText("")
        self.verdict.setText("")
        self.map_text.setToolTip("")

    def set_map_busy(self, projection: str) -> None:
        self.map_text.setText(f"Map quality ({projection}): computing…")

    def set_map_quality(self, projection: str, quality: MapQuality | None, below: float) -> None:
        """Trustworthiness and continuity with k, the sample they came from, and the false neighbours."""
        if quality is None:
            self.map_text.setText(f"Map quality ({projection}): too few points to judge.")
            return
        lines = [f"<b>Map quality</b> ({projection}, k = {quality.k})",
                 f"trustworthiness <b>{quality.trustworthiness:.3f}</b> · continuity "
                 f"<b>{quality.continuity:.3f}</b>"]
        if quality.is_sampled:
            lines.append(f"estimated on {quality.sampled:,} of {quality.n:,} points (random sample, seed "
                         f"{quality.seed})")
        lines.append(false_neighbour_text(quality, below))
        kept = float(np.nanmean(quality.preservation)) if quality.checked() else None
        if kept is not None:  # the measure that fits the false-neighbour reading, beside trustworthiness
            lines.append(f"exact neighbours kept: <b>{kept:.0%}</b> of each point's {quality.k} on average")
        if quality.trustworthiness >= 0.8 and false_neighbour_share(quality, below) >= 0.25:
            lines.append(f"<i>{BOTH_HOLD.format(k=quality.k)}</i>")
        self.map_text.setText("<br>".join(lines))
        self.map_text.setToolTip(
            "Trustworthiness: 1 when every point's nearest neighbours on the map are also its nearest "
            "neighbours in the embedding (no false neighbours); continuity: 1 when every true neighbour "
            "is also near on the map (nothing torn apart). Both in [0, 1]; k is the neighbourhood size.\n"
            + BOTH_HOLD.format(k=quality.k))

    def set_embedding_busy(self) -> None:
        self.embedding_text.setText("Embeddings: computing…")
        self.verdict.setText("")

    def set_embedding_health(self, health: EmbeddingHealth) -> None:
        parts = [f"std ratio {health.std_ratio:.2f}", f"effective rank {health.effective_rank:.1f} of {health.dim}"]
        accuracy = health.knn_accuracy
        if accuracy is not None:
            parts.append(f"{KNN_NAME} {accuracy:.0%} (each shown point's label vs the vote of its {health.knn_k} "
                         f"nearest shown points; the dashboard's kNN is train → test)")
        self.embedding_text.setText(f"<b>Embeddings</b> ({health.dim}-d): " + " · ".join(parts))
        # the last reading is passed on: numbers near a line keep it instead of flipping on noise
        text = collapse_verdict(health.std_ratio, health.effective_rank, health.dim, self._last_verdict)
        self._last_verdict = next((v for v in VERDICTS if text.startswith(v)), None)
        self.verdict.setText(text)

    def text(self) -> str:
        """Everything the panel says, as plain text (tests, screenshots)."""
        from PySide6.QtGui import QTextDocument
        doc = QTextDocument()
        out = []
        for label in (self.map_text, self.embedding_text, self.verdict):
            doc.setHtml(label.text())
            if doc.toPlainText():
                out.append(doc.toPlainText())
        return "\n".join(out)

    def apply_theme(self) -> None:
        theme.set_look(self.verdict, tone="muted")  # the panel's border: #healthPanel in resources/style.qss

