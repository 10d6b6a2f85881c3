"""The webgpu backend: WGSL compute shaders generated at conversion time."""
