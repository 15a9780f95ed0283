"""A form generated from a Config dataclass: one editor per field, ranges and help from its metadata."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QSpinBox,
                               QWidget)

from ui import theme
from workbench.config import field_error, field_type, format_number



def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _format_float(value: float) -> str:
    return f"{value:g}"


class ConfigForm(QWidget):
    """Editors for the fields of a dataclass; invalid values are flagged where they are typed.

    `values()` gives the typed values; `errors()` maps field name -> message for the fields
    that are invalid now. `changed` fires on every edit.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self._fields: dict[str, dataclasses.Field] = {}
        self._editors: dict[str, QWidget] = {}
        self._cls: type | None = None
        self._errors: dict[str, str] = {}

    def set_dataclass(self, cls: type, values: dict[str, Any] | None = None,
                      only: list[str] | None = None, exclude: tuple[str, ...] = ()) -> None:
        """Build editors for cls's fields (all, or those in `only`), filled with `values`."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._fields.clear()
        self._editors.clear()
        self._errors.clear()
        self._cls = cls
        values = values or {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        names = only if only is not None else list(fields)
        for name in names:
            f = fields[name]
            if name in exclude:
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            editor = self._editor(f, values.get(name, default))
            meta = f.metadata
            tip = meta.get("help", "")
            if meta.get("min") is not None or meta.get("max") is not None:
                lo, hi = meta.get("min"), meta.get("max")
                tip += f"\nRange: {'>' if meta.get('exclusive_min') else '≥'} {format_number(lo)}" if lo is not None else ""
                tip += f", ≤ {format_number(hi)}" if hi is not None else ""
            tip += f"\nDefault: {default}"
            editor.setToolTip(tip.strip())
            editor.setObjectName(f"field_{name}")
            label = QLabel(meta.get("label") or _label(name))
            label.setToolTip(tip.strip())
            self._layout.addRow(label, editor)
            self._fields[name] = f
            self._editors[name] = editor
        if not self._fields:
            self._layout.addRow(QLabel("This method has no settings of its own."))
        self._revalidate()

    def _editor(self, f: dataclasses.Field, value: Any) -> QWidget:
        tp = field_type(self._cls, f)
        meta = f.metadata
        if meta.get("choices"):
            box = QComboBox()
            for choice in meta["choices"]:
                box.addItem(str(choice), choice)
            box.setCurrentIndex(max(0, list(meta["choices"]).index(value) if value in meta["choices"] else 0))
            box.currentIndexChanged.connect(self._on_edit)
            return box
        if tp is bool:
            check = QCheckBox()
            check.setChecked(bool(value))
            check.toggled.connect(self._on_edit)
            return check
        if tp is int:
            spin = QSpinBox()
            lo, hi = meta.get("min"), meta.get("max")
            spin.setRange(int(lo) if lo is not None else -2**31, int(hi) if hi is not None else 2**31 - 1)
            spin.setValue(int(value))
            spin.setKeyboardTracking(True)
            spin.valueChanged.connect(self._on_edit)
            return spin
        # floats, strings and structured values: free text, checked on every keystroke, so
        # that 1e-3 and 0.001 both work and a bad value is shown rather than silently clamped
        line = QLineEdit()
        if tp is float:
            line.setText(_format_float(value))
        elif tp in (list, tuple, dict):
            line.setText(json.dumps(list(value) if isinstance(value, tuple) else value))
        else:
            line.setText("" if value is None else str(value))
        line.textChanged.connect(self._on_edit)
        return line

    def _read(self, name: str) -> tuple[Any, str | None]:
        f, editor = self._fields[name], self._editors[name]
        tp = field_type(self._cls, f)
        if isinstance(editor, QComboBox):
            return editor.currentData(), None
        if isinstance(editor, QCheckBox):
            return editor.isChecked(), None
        if isinstance(editor, QSpinBox):
            return editor.value(), None
        text = editor.text().strip()
        if tp is float:
            try:
                return float(text), None
            except ValueError:
                return None, f"{name}={text!r} is not a number"
        if tp in (list, tuple, dict):
            try:
                return tp(json.loads(text)), None
            except (ValueError, TypeError):
                return None, f"{name}: {text!r} is not valid JSON"
        if text == "" and f.default is None:
            return None, None
        return text, None

    def values(self) -> dict[str, Any]:
        return {name: self._read(name)[0] for name in self._fields}

    def errors(self) -> dict[str, str]:
        return dict(self._errors)

    def editor(self, name: str) -> QWidget:
        return self._editors[name]

    def set_row_visible(self, name: str, visible: bool) -> None:
        """Show or hide a field's row (label and editor); its value is still read."""
        if name in self._editors:
            self._layout.setRowVisible(self._editors[name], visible)

    def set_value(self, name: str, value: Any) -> None:
        """Set one field programmatically (e.g. a method's preferred batch size)."""
        editor = self._editors.get(name)
        if editor is None:
            return
        if isinstance(editor, QComboBox):
            i = editor.findData(value)
            if i >= 0:
                editor.setCurrentIndex(i)
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value))
        else:
            editor.setText(_format_float(value) if isinstance(value, float) else str(value))

    def _on_edit(self, *_):
        self._revalidate()
        self.changed.emit()

    def _revalidate(self) -> None:
        self._errors.clear()
        for name, f in self._fields.items():
            value, problem = self._read(name)
            problem = problem or (field_error(self._cls, f, value) if value is not None else None)
            editor = self._editors[name]
            if problem:
                self._errors[name] = problem
                theme.set_look(editor, invalid=True)
                editor.setToolTip(problem)
            elif editor.property("invalid"):
                theme.set_look(editor, invalid=False)
                editor.setToolTip(f.metadata.get("help", ""))


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    from workbench.config import RunConfig

    app = QApplication(sys.argv)
    form = ConfigForm()
    form.set_dataclass(RunConfig, exclude=("method", "dataset", "method_config", "data_root"))
    form.show()
    sys.exit(app.exec())
