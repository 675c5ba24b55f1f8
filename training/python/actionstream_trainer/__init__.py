"""PyTorch side of actionstream's training: builds X3D networks from the Go-written
architecture spec, exports them to ONNX under the model contract, and (later) trains them.

The package is embedded in the Go binary (training/python) and run as
``python3 -m actionstream_trainer <command> ...``; it talks back through JSON lines
(see proto.py).
"""
