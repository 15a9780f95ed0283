"""Data shipped with the app: the light and dark themes, the Qt style sheet and the icons (read with importlib.resources)."""
