"""The webgl backend: WebGL2 fragment shaders generated at conversion (see lower.py)."""
