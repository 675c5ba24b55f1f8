"""Command line of the PyTorch side; the Go package training/python is its only caller.

  count   --spec A.json [--spec B.json ...]        parameter counts of each built network
  export  --spec A.json --out M.onnx --meta meta.json [--checkpoint C.pt] [--seed N] [--fp16]
  fp16    --input M.onnx --out M16.onnx                   an exported model in float16 (fp16.py)
  forward --spec A.json --input x.f32 --batch N --output y.f32 [--checkpoint C.pt] [--seed N]
          [--randomize-bn] [--save-checkpoint C.pt]
  fit     --spec A.json --data DIR --out RUN [...]         train on a prepared dataset (train.py)
  person-fit --data DIR --out M.onnx [...]                  a small person detector, YOLOX format (person.py)
  clips   --data DIR --split S --out x.f32 [--index i ...]  a dataset's clips as the trainer sees them
  inspect-checkpoint --checkpoint C [--scheme S] [--trust-checkpoint]   what a public X3D checkpoint holds
  import  --spec A.json --checkpoint C [--scheme S] [--trust-checkpoint] --out ours.pt   convert it (importer.py)
Raw tensors (.f32) are little-endian float32, C order.
"""
import argparse
import json
import os
import sys
import traceback

from . import proto


def _load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _model(args, torch, net):
    spec = _load_json(args.spec)
    torch.manual_seed(args.seed)
    model = net.build(spec)
    if args.checkpoint:
        ckpt = torch.load(args.checkpoint, map_location="cpu")
        state = ckpt
        if isinstance(ckpt, dict) and "model_state" in ckpt:
            state = ckpt["model_state"]
        model.load_state_dict(state, strict=True)
    return spec, model


def cmd_count(args, ch):
    from . import net
    counts = []
    for i, path in enumerate(args.spec):
        spec = _load_json(path)
        # No init: counting needs shapes only.
        total, no_bn = net.build(spec, init=False).param_counts()
        counts.append({"spec": path, "name": spec.get("name", ""), "params": total,
                       "params_excluding_bn": no_bn})
        ch.progress("count", step=i + 1, total=len(args.spec))
    ch.result(counts=counts)


def cmd_export(args, ch):
    import torch
    from . import export, net
    ch.progress("build")
    spec, model = _model(args, torch, net)
    meta = _load_json(args.meta) if args.meta else {}
    if not isinstance(meta, dict):
        raise ValueError("--meta: want a JSON object of string values")
    ch.progress("export")
    info = export.export(model, args.out, meta, opset=args.opset, fp16=args.fp16)
    total, no_bn = model.param_counts()
    ch.result(params=total, params_excluding_bn=no_bn, **info)


def randomize_bn(model, torch, calib_batches=2, calib_batch=2):
    """Give every BN realistic running statistics (measured on random clips in train
    mode) and non-trivial affine parameters, so folding and the residual branches are
    exercised as in a trained model. Used by the export tests."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(calib_batches):
            x = torch.randn(model.input_shape(calib_batch))
            if model.mode == "roi":
                model(x, torch.tensor([[float(i), 0.1, 0.1, 0.9, 0.9] for i in range(calib_batch)]))
            else:
                model(x)
    model.eval()


def cmd_forward(args, ch):
    import numpy as np
    import torch
    from . import net
    spec, model = _model(args, torch, net)
    if args.randomize_bn:
        randomize_bn(model, torch)
    if args.save_checkpoint:
        torch.save({"arch": spec, "model_state": model.state_dict()}, args.save_checkpoint)
    shape = model.input_shape(args.batch)
    x = np.fromfile(args.input, dtype="<f4")
    if x.size != int(np.prod(shape)):
        raise ValueError(f"--input has {x.size} floats, want {shape}")
    model.eval()
    clip = torch.from_numpy(x.reshape(shape).astype(np.float32))
    with torch.no_grad():
        if model.mode is None:
            y = model(clip)
        else:  # the exported outputs (sigmoids applied), concatenated flat in their order
            from . import export
            module, _, _, _, _ = export.graph_io(export.inference_copy(model))
            if model.mode == "roi":
                if not args.rois:
                    raise ValueError("an RoI model needs --rois")
                rois = torch.from_numpy(np.fromfile(args.rois, dtype="<f4").reshape(-1, 5))
                y = module(clip, rois)
            else:
                y = torch.cat([t.reshape(-1) for t in module(clip)])
    y.numpy().astype("<f4").tofile(args.output)
    ch.result(shape=list(y.shape), max_abs=float(y.abs().max()))


def cmd_fp16(args, ch):
    import onnx
    from . import export, fp16
    proto = onnx.load(args.input)
    fp16.to_fp16(proto, export.INPUT_NAME, export.OUTPUT_NAME)
    tmp = args.out + ".tmp"
    onnx.save(proto, tmp)
    os.replace(tmp, args.out)
    ch.result(path=args.out, bytes=os.path.getsize(args.out), nodes=len(proto.graph.node))


def cmd_fit(args, ch):
    from . import train
    spec = _load_json(args.spec)
    train.fit(args, spec, ch)


def cmd_clips(args, ch):
    """Writes stored clips converted exactly as fit converts them (centre crop), so a
    test can compare them with what the serving decoder produces."""
    import numpy as np
    import torch
    from . import data
    ds = data.Dataset(args.data)
    sp = ds.split(args.split)
    idx = args.index if args.index else list(range(len(sp)))
    lut = torch.from_numpy(ds.lut)
    u8 = torch.from_numpy(np.array(sp.clips[idx]))
    x = data.to_float(u8, lut)
    if not args.store_size:
        x = data.centre(x, ds.crop_offset, ds.size)
    x.contiguous().numpy().astype("<f4").tofile(args.out)
    ch.result(shape=list(x.shape), labels=[int(sp.labels[i]) for i in idx])


def cmd_inspect_checkpoint(args, ch):
    from . import importer
    state = importer.load_state(args.checkpoint, trust=args.trust_checkpoint)
    scheme = args.scheme or importer.detect(state)
    ch.result(**importer.inspect(state, scheme), tensors=len(state))


def cmd_import(args, ch):
    import torch
    from . import importer
    spec = _load_json(args.spec)
    state = importer.load_state(args.checkpoint, trust=args.trust_checkpoint)
    scheme = args.scheme or importer.detect(state)
    model, n = importer.convert(spec, state, scheme)
    torch.save({"arch": spec, "model_state": model.state_dict()}, args.out)
    ch.result(scheme=scheme, tensors=n, out=args.out)


def parser():
    p = argparse.ArgumentParser(prog="actionstream_trainer")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = default)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("count")
    c.add_argument("--spec", action="append", required=True)
    c.set_defaults(func=cmd_count)

    def model_args(q):
        q.add_argument("--spec", required=True)
        q.add_argument("--checkpoint")
        q.add_argument("--seed", type=int, default=0)

    e = sub.add_parser("export")
    model_args(e)
    e.add_argument("--out", required=True)
    e.add_argument("--meta")
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--fp16", action="store_true", help="float16 weights and activations, float32 clip/logits")
    e.set_defaults(func=cmd_export)

    f = sub.add_parser("forward")
    model_args(f)
    f.add_argument("--input", required=True)
    f.add_argument("--output", required=True)
    f.add_argument("--batch", type=int, required=True)
    f.add_argument("--randomize-bn", action="store_true")
    f.add_argument("--rois", help="RoI models: rois [K,5] as raw float32")
    f.add_argument("--save-checkpoint")
    f.set_defaults(func=cmd_forward)
    from . import train
    train.add_parser(sub, cmd_fit)
    from . import person
    person.add_parser(sub)

    i = sub.add_parser("inspect-checkpoint")
    i.add_argument("--checkpoint", required=True)
    i.add_argument("--scheme", choices=["pytorchvideo", "slowfast", "mmaction2"])
    i.add_argument("--trust-checkpoint", action="store_true")
    i.set_defaults(func=cmd_inspect_checkpoint)

    im = sub.add_parser("import")
    im.add_argument("--spec", required=True)
    im.add_argument("--checkpoint", required=True)
    im.add_argument("--scheme", choices=["pytorchvideo", "slowfast", "mmaction2"])
    im.add_argument("--trust-checkpoint", action="store_true")
    im.add_argument("--out", required=True)
    im.set_defaults(func=cmd_import)

    h = sub.add_parser("fp16", help="convert an exported fp32 model to fp16")
    h.add_argument("--input", required=True)
    h.add_argument("--out", required=True)
    h.set_defaults(func=cmd_fp16)

    k = sub.add_parser("clips")
    k.add_argument("--data", required=True)
    k.add_argument("--split", default="train")
    k.add_argument("--out", required=True)
    k.add_argument("--index", type=int, action="append")
    k.add_argument("--store-size", action="store_true", help="whole stored square, no centre crop")
    k.set_defaults(func=cmd_clips)
    return p


def main(argv=None):
    ch = proto.Channel()
    args = parser().parse_args(argv)
    try:
        if args.threads > 0:
            import torch
            torch.set_num_threads(args.threads)
        args.func(args, ch)
    except Exception as exc:  # reported to Go; the traceback goes to stderr
        if getattr(exc, "user_facing", False):  # bad input, said in full by the message
            ch.error(str(exc))
        else:
            traceback.print_exc()
            ch.error(f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
