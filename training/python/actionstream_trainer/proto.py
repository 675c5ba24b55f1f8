"""The message channel to the Go side.

stdout carries only JSON objects, one per line, each with a "type":
  progress  {"type":"progress","stage":...,"step":i,"total":n,...}  (any extra fields)
  result    {"type":"result", ...}   the command's answer; at most one per command
  error     {"type":"error","message":...}  the reason for a non-zero exit
Everything else a library prints (to the C-level stdout too) is redirected to stderr,
so a stray print can never corrupt the channel.
"""
import json
import os
import sys


class Channel:
    def __init__(self):
        # Keep a private copy of the real stdout, then point fd 1 (and sys.stdout) at
        # stderr: torch/onnx warnings and prints land there.
        sys.stdout.flush()
        self._out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def send(self, kind, **fields):
        msg = {"type": kind}
        msg.update(fields)
        self._out.write(json.dumps(msg, separators=(",", ":")) + "\n")
        self._out.flush()

    def progress(self, stage, step=None, total=None, **fields):
        if step is not None:
            fields["step"] = step
        if total is not None:
            fields["total"] = total
        self.send("progress", stage=stage, **fields)

    def result(self, **fields):
        self.send("result", **fields)

    def error(self, message):
        self.send("error", message=message)
