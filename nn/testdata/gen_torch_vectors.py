#!/usr/bin/python3
"""Generate PyTorch reference vectors for mlenv's nn and optim tests.

Run from the repository root with Debian's PyTorch 1.13:

    apt-get install -y python3-torch
    /usr/bin/python3 nn/testdata/gen_torch_vectors.py

It writes, into nn/testdata/:
  torch_vectors.safetensors  inputs, weights, outputs and gradients per case,
                             named "<case>.<what>"
  mlp_weights.safetensors    state dicts of whole PyTorch models (an MLP,
  cnn_weights.safetensors    a small CNN, a tiny DLRM), loaded by the Go
  dlrm_weights.safetensors   tests through nn.LoadFile
and optim/testdata/torch_optim.safetensors for the optimizer cases.

Each case's loss is sum(out * gout) with a fixed random gout, unless the
case is itself a loss. Integer inputs (labels, ids) are stored as F32.
The safetensors files are written by the small writer below, so no package
beyond torch is needed.
"""
import json
import math
import os
import struct

import torch
import torch.nn as tnn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def save(path, tensors):
    """Write a dict of tensors as F32 safetensors (sorted names)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        flat = t.reshape(-1).tolist()
        blob = struct.pack("<%df" % len(flat), *flat)
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


out = {}


def case(name, inputs, fn, gout=True):
    """Record inputs, fn(*inputs), and gradients of each input that needs one."""
    for k, v in inputs.items():
        out[f"{name}.{k}"] = v
    res = fn(*inputs.values())
    out[f"{name}.out"] = res
    if res.dim() == 0 or not gout:
        loss = res.sum()
    else:
        g = torch.randn_like(res)
        out[f"{name}.gout"] = g
        loss = (res * g).sum()
    loss.backward()
    for k, v in inputs.items():
        if v.grad is not None:
            out[f"{name}.grad.{k}"] = v.grad


def rnd(*shape):
    return torch.randn(*shape, requires_grad=True)


torch.manual_seed(0)

# Linear.
lin = tnn.Linear(5, 3)
case("linear", {"x": rnd(4, 5), "weight": lin.weight, "bias": lin.bias},
     lambda x, w, b: F.linear(x, w, b))

# Activations and softmax family.
for act, fn in [("relu", torch.relu), ("gelu", F.gelu), ("silu", F.silu),
                ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)]:
    case("act_" + act, {"x": rnd(3, 7)}, fn)
case("softmax", {"x": rnd(3, 6)}, lambda x: torch.softmax(x, 1))
case("logsoftmax", {"x": rnd(3, 6)}, lambda x: torch.log_softmax(x, 0))
case("logsumexp", {"x": rnd(3, 6)}, lambda x: torch.logsumexp(x, 1))

# Losses.
case("bce", {"logits": rnd(9), "targets": torch.randint(0, 2, (9,)).float()},
     F.binary_cross_entropy_with_logits)
labels = torch.tensor([0, 4, 2, 2])
for eps in (0.0, 0.1):
    name = "ce%g" % eps
    out[name + ".labels"] = labels.float()
    case(name, {"logits": rnd(4, 5)},
         lambda z: F.cross_entropy(z, labels, label_smoothing=eps))
case("mse", {"pred": rnd(3, 4), "target": torch.randn(3, 4)}, F.mse_loss)


# A whole MLP (6 -> 8 -> 8 -> 1, ReLU) with BCE; its weights also go to
# mlp_weights.safetensors, as PyTorch's state_dict names them.
class MLP(tnn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = tnn.ModuleList(
            [tnn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])

    def forward(self, x):
        for i, l in enumerate(self.layers):
            x = l(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


mlp = MLP([6, 8, 8, 1])
x = rnd(5, 6)
y = torch.randint(0, 2, (5, 1)).float()
logits = mlp(x)
loss = F.binary_cross_entropy_with_logits(logits, y)
loss.backward()
out["mlp.x"], out["mlp.y"], out["mlp.logits"], out["mlp.loss"] = x, y, logits, loss
out["mlp.grad.x"] = x.grad
for k, v in mlp.named_parameters():
    out["mlp.grad." + k] = v.grad
save(os.path.join(HERE, "mlp_weights.safetensors"), dict(mlp.state_dict()))


# Embedding bags: ids 0..5 in 3 bags (one empty), padding id 2.
ids = torch.tensor([1, 2, 4, 4, 0, 2])
offsets = torch.tensor([0, 3, 3])
for mode in ("sum", "mean"):
    name = "bag_" + mode
    out[name + ".ids"], out[name + ".offsets"] = ids.float(), offsets.float()
    case(name, {"weight": rnd(6, 4)},
         lambda w: F.embedding_bag(ids, w, offsets, mode=mode, padding_idx=2))

# Embedding with a padding id; the padding row is zero, as nn.Embedding
# initialises it.
out["embedding.ids"] = torch.tensor([3.0, 0.0, 3.0, 1.0])
emb_w = torch.randn(5, 2)
emb_w[0] = 0
case("embedding", {"weight": emb_w.requires_grad_(True)},
     lambda w: F.embedding(out["embedding.ids"].long(), w, padding_idx=0))

# Norms.
case("layernorm", {"x": rnd(3, 5), "weight": torch.randn(5, requires_grad=True),
                   "bias": torch.randn(5, requires_grad=True)},
     lambda x, w, b: F.layer_norm(x, (5,), w, b, eps=1e-5))
for name, shape in (("bn1d", (6, 3)), ("bn2d", (2, 3, 4, 5))):
    rm, rv = torch.zeros(3), torch.ones(3)
    w, b = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    case(name, {"x": rnd(*shape), "weight": w, "bias": b},
         lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5))
    out[name + ".running_mean"], out[name + ".running_var"] = rm, rv
    x2 = torch.randn(*shape)
    out[name + ".eval_x"] = x2
    out[name + ".eval_out"] = F.batch_norm(x2, rm, rv, w, b, training=False, eps=1e-5)

# Convolution and pooling.
conv = tnn.Conv2d(3, 4, 3, stride=2, padding=1)
case("conv2d", {"x": rnd(2, 3, 7, 6), "weight": conv.weight, "bias": conv.bias},
     lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1))
case("maxpool", {"x": rnd(2, 3, 6, 4)}, lambda x: F.max_pool2d(x, 2, 2))
case("avgpool", {"x": rnd(2, 3, 5, 4)}, lambda x: F.avg_pool2d(x, 3, 1))

# Multi-head attention (batch_first) with an additive mask.
mha = tnn.MultiheadAttention(8, 2, batch_first=True)
tnn.init.normal_(mha.in_proj_bias)
mask = torch.zeros(4, 5)
mask[0, 3:] = float("-inf")
mask[2, 0] = float("-inf")
out["mha.mask"] = mask
case("mha", {"q": rnd(2, 4, 8), "k": rnd(2, 5, 8), "v": rnd(2, 5, 8),
             "in_proj_weight": mha.in_proj_weight, "in_proj_bias": mha.in_proj_bias,
             "out_proj.weight": mha.out_proj.weight, "out_proj.bias": mha.out_proj.bias},
     lambda q, k, v, *_: mha(q, k, v, attn_mask=mask, need_weights=False)[0])

# DCNv2 cross network (2 layers) and DLRM dot interaction.
cross = tnn.ModuleList([tnn.Linear(4, 4) for _ in range(2)])


def cross_fwd(x0, *_):
    x = x0
    for l in cross:
        x = x0 * l(x) + x
    return x


params = {f"layers.{i}.{k}": v for i, l in enumerate(cross) for k, v in l.named_parameters()}
case("cross", {"x": rnd(3, 4), **params}, cross_fwd)


def interact(dense, e1, e2):
    t = torch.stack([dense, e1, e2], 1)
    z = torch.bmm(t, t.transpose(1, 2))
    li = [i for i in range(3) for j in range(i)]
    lj = [j for i in range(3) for j in range(i)]
    return torch.cat([dense, z[:, li, lj]], 1)


case("dot", {"dense": rnd(3, 4), "e1": rnd(3, 4), "e2": rnd(3, 4)}, interact)


# Whole models whose weights go to their own safetensors files, loaded by
# the Go tests through nn.LoadFile: a small CNN and a tiny DLRM.
def whole_model(name, model, inputs, loss_fn):
    y = model(*inputs)
    loss = loss_fn(y)
    loss.backward()
    out[name + ".out"], out[name + ".loss"] = y, loss
    for k, v in model.named_parameters():
        out[name + ".grad." + k] = v.grad
    save(os.path.join(HERE, name + "_weights.safetensors"), dict(model.state_dict()))


cnn = tnn.Sequential(
    tnn.Conv2d(1, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
    tnn.Conv2d(4, 6, 3, padding=1), tnn.ReLU(), tnn.AvgPool2d(2),
    tnn.Flatten(), tnn.Linear(6 * 2 * 2, 5))
out["cnn.x"] = torch.randn(3, 1, 8, 8)
out["cnn.labels"] = torch.tensor([4.0, 0.0, 2.0])
whole_model("cnn", cnn, (out["cnn.x"],),
            lambda z: F.cross_entropy(z, out["cnn.labels"].long(), label_smoothing=0.1))


class TinyDLRM(tnn.Module):
    def __init__(self):
        super().__init__()
        self.bottom = MLP([4, 8, 3])
        self.emb = tnn.ModuleList([tnn.EmbeddingBag(10, 3, mode="mean") for _ in range(2)])
        self.top = MLP([3 + 3, 8, 1])

    def forward(self, dense, ids, offsets):
        x = torch.relu(self.bottom(dense))
        feats = [x] + [e(ids[t], offsets) for t, e in enumerate(self.emb)]
        t = torch.stack(feats, 1)
        z = torch.bmm(t, t.transpose(1, 2))
        li = [i for i in range(3) for j in range(i)]
        lj = [j for i in range(3) for j in range(i)]
        return self.top(torch.cat([x, z[:, li, lj]], 1))


out["dlrm.dense"] = torch.randn(4, 4)
out["dlrm.ids"] = torch.tensor([[1, 2, 3, 9, 9, 0], [5, 5, 4, 8, 7, 6]]).float()
out["dlrm.offsets"] = torch.tensor([0, 2, 3, 5]).float()
out["dlrm.y"] = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
whole_model("dlrm", TinyDLRM(),
            (out["dlrm.dense"], out["dlrm.ids"].long(), out["dlrm.offsets"].long()),
            lambda z: F.binary_cross_entropy_with_logits(z, out["dlrm.y"]))

save(os.path.join(HERE, "torch_vectors.safetensors"), out)

# Optimizers: three steps on one parameter with fixed gradients.
opt_out = {}
p0 = torch.randn(2, 5)
grads = [torch.randn(2, 5) for _ in range(3)]
opt_out["p0"] = p0
for i, g in enumerate(grads):
    opt_out["g%d" % i] = g
optims = {
    "sgd": lambda p: torch.optim.SGD([p], lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam([p], lr=0.01, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1),
    "adagrad": lambda p: torch.optim.Adagrad([p], lr=0.1, weight_decay=0.01),
}
for name, make in optims.items():
    p = p0.clone().requires_grad_(True)
    opt = make(p)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    opt_out[name] = p
optim_dir = os.path.join(HERE, "..", "..", "optim", "testdata")
os.makedirs(optim_dir, exist_ok=True)
save(os.path.join(optim_dir, "torch_optim.safetensors"), opt_out)
print("wrote", len(out), "nn tensors and", len(opt_out), "optim tensors")
