"""WebDNN: run trained deep neural networks in the web browser.

Pipeline: frontend (model file -> IR) -> passes (optimize IR) -> backend lowering
(IR -> descriptor + weights) -> runtime (TypeScript, in the browser or Node).
"""

__version__ = "0.1.0"
