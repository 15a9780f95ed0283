"""The HDF5 export dialog: choose checkpoint, split and projections; export in a child process."""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from workbench.export import SPLITS, DestinationExists, ExportError, check_destination
from workbench.rundir import RunDir

from . import theme
from .export_process import ExportProcess

# the choices of `ssl-workbench export --compression` (docs/HDF5.md), default first
COMPRESSION_LABELS = {"none": "none (fastest to write)", "lzf": "lzf (fast, smaller)",
                      "gzip": "gzip (smaller, slower)", "gzip-9": "gzip-9 (smallest, for archives)"}

PROJECTION_LABELS = {"pca": "PCA (instant)", "tsne": "t-SNE (openTSNE, ~seconds per 1k points)",
                     "umap": "UMAP (first use compiles, ~30 s)"}


class ExportDialog(QDialog):
    """Exports one run's embeddings to HDF5 (format_version 1, see docs/HDF5.md).

    The destination is checked first with workbench.export.check_destination (the same rule
    as the CLI): a refusal is shown in the dialog; an existing file that is not an export of
    ours is replaced only after the user says so. The export itself runs in a child process
    (ExportProcess), so a crash while writing HDF5 ends that process, not the app.
    """

    def __init__(self, run_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.task = None
        self.written: Path | None = None
        self.setWindowTitle("Export embeddings to HDF5")
        self.setMinimumWidth(520)
        self.checkpoint = QComboBox()
        for name, label in (("best", "best (highest kNN)"), ("last", "last")):
            if RunDir(self.run_dir).checkpoint(f"{name}.pt").is_file():
                self.checkpoint.addItem(label, name)
        self.split = QComboBox()
        for split in SPLITS:
            self.split.addItem({"test": "test split", "train": "train split", "all": "train + test"}[split], split)
        self.compression = QComboBox()
        for name, label in COMPRESSION_LABELS.items():
            self.compression.addItem(label, name)
        self.projection_boxes = {}
        proj_row = QVBoxLayout()
        for name, label in PROJECTION_LABELS.items():
            box = QCheckBox(label)
            box.setChecked(name == "pca")
            self.projection_boxes[name] = box
            proj_row.addWidget(box)
        self.path = QLineEdit(str(self.run_dir / "embeddings.h5"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Run", QLabel(self.run_dir.name))
        form.addRow("Checkpoint", self.checkpoint)
        form.addRow("Items", self.split)
        form.addRow("Projections", proj_row)
        form.addRow("Compression", self.compression)
        form.addRow("Save to", path_row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.RichText)
        self.message.setOpenExternalLinks(False)
        self.message.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.Cancel)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel)
        v = QVBoxLayout(self)
        v.addLayout(form)
        v.addWidget(self.progress)
        v.addWidget(self.message)
        v.addWidget(self.buttons)
        if self.checkpoint.count() == 0:
            self.export_button.setEnabled(False)
            self._say("This run has no checkpoint yet: train it for an epoch first.")

    def _say(self, text: str, error: bool = False) -> None:
        """Show a line under the form (rich text), in the theme's error colour when it is a failure."""
        theme.set_look(self.message, tone="error" if error else "")
        self.message.setText(text)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), "HDF5 (*.h5 *.hdf5)")
        if path:
            self.path.setText(path)

    def projections(self) -> list[str]:
        return [name for name, box in self.projection_boxes.items() if box.isChecked()]

    def start(self) -> None:
        out = Path(self.path.text().strip()).expanduser()
        if not out.name:
            self._say("Choose a file to save to.")
            return
        force = False
        try:
            check_destination(out)
        except DestinationExists:
            if not self._confirm_replace(out):
                self._say("Nothing was replaced: choose another file to save to.")
                return
            force = True
        except ExportError as exc:  # a run's own file, a link, a device, a missing folder…
            self._say(f"Cannot export there: {html.escape(str(exc))}", error=True)
            self.path.setFocus()
            return
        self.export_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.show()
        self._say("Exporting…")
        self.task = ExportProcess()
        self.task.progress.connect(self._on_progress)
        self.task.done.connect(self._on_done)
        self.task.failed.connect(self._on_failed)
        self.task.cancelled.connect(self._on_cancelled)
        self.task.start(self.run_dir, out, split=self.split.currentData(), projections=self.projections(),
                        checkpoint=self.checkpoint.currentData(), force=force,
                        compression=self.compression.currentData())

    def _confirm_replace(self, out: Path) -> bool:
        answer = QMessageBox.question(
            self, "Replace file?",
            f"{out} already exists and is not an SSL Workbench export.\n\n"
            f"Replace it with the exported embeddings? Its contents will be lost.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _on_progress(self, fraction: float, stage: str) -> None:
        self.progress.setValue(int(fraction * 100))
        if stage:
            self._say(f"Exporting: {stage}…")

    def _on_done(self, path) -> None:
        self.task = None
        self.written = Path(path)
        self.progress.setValue(100)
        folder = QUrl.fromLocalFile(str(self.written.parent)).toString()
        self._say(f"Wrote <b>{html.escape(str(self.written))}</b> · <a href='{folder}'>show folder</a>")
        self.export_button.setEnabled(True)
        self.cancel_button.setText("Close")

    def _on_failed(self, message: str) -> None:
        self.task = None
        self.progress.hide()
        self._say(f"Export failed: {html.escape(message)}", error=True)
        self.export_button.setEnabled(True)

    def _on_cancelled(self) -> None:
        self.task = None
        self.progress.hide()
        self._say("Export cancelled; nothing was written.")
        self.export_button.setEnabled(True)

    def _cancel(self) -> None:
        if self.task is not None:
            self._say("Cancelling…")
            self.task.cancel()
        else:
            self.reject()

    def reject(self) -> None:
        if self.task is not None:  # closing the window cancels a running export
            self.task.cancel()
        super().reject()


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    dialog = ExportDialog(Path(sys.argv[1]))
    dialog.show()
    sys.exit(app.exec())
