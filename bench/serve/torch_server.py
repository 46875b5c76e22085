"""The peer of mlenv serve in bench/serve: the same DLRM artifact (model.json
and weights.safetensors written by mlenv train) rebuilt in PyTorch 1.13 and
served by Python's plain http.server, as the simplest server a user would
write. It speaks just enough of the Open Inference Protocol for
servebench.Run: GET /v2/models/{m} (metadata) and POST /v2/models/{m}/infer
with JSON tensors, one raw feature column per input, encoded with the
artifact's fitted transforms exactly as mlenv does. No batching across
requests.

Usage: /usr/bin/python3 torch_server.py ARTIFACT_DIR PORT [THREADS]
       /usr/bin/python3 torch_server.py check ARTIFACT_DIR URL1 URL2
The second form sends the same 64 rows (values from the fitted
vocabularies, some unknown) to two servers and prints the largest
difference between their answers.
"""

import json
import math
import random
import struct
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch


def load_safetensors(path):
    """Reads a safetensors file into a dict of float32 tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']}, want F32")
        lo, hi = info["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + lo : 8 + n + hi]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"])
    return out


def fnv1a(s, n):
    """data.hashID: FNV-1a 64 of the UTF-8 bytes, modulo n."""
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % n


class Encoder:
    """The fitted transforms of model.json, for numeric, categorical and
    multi_hot features (the DLRM example's), as data.Transforms applies
    them."""

    def __init__(self, transforms):
        self.features = transforms["features"]
        for f in self.features:
            f.setdefault("column", f["name"])
            f["index"] = {v: i for i, v in enumerate(f.get("vocabulary") or [])}

    def dense(self, f, x):
        if x is None or x == "":
            x = None
        else:
            x = float(x)
        if x is None:
            return f.get("fill", 0.0)
        if f.get("log"):
            x = math.log1p(max(x, 0.0))
        norm = f.get("normalize", "")
        if norm == "standard":
            return (x - f.get("mean", 0.0)) / (f.get("std") or 1.0)
        if norm == "minmax":
            lo, hi = f.get("min", 0.0), f.get("max", 0.0)
            return (x - lo) / (hi - lo) if hi > lo else 0.0
        return x

    def lookup(self, f, s):
        if f.get("hash_buckets", 0) > 0:
            return fnv1a(s, f["hash_buckets"])
        i = f["index"].get(s)
        if i is not None:
            return i
        return len(f["index"]) + fnv1a(s, f["vocab"]["oov_buckets"])

    def encode(self, columns, n):
        """columns: raw column name -> list of n values. Returns the dense
        matrix, one id tensor per categorical feature and (ids, offsets) per
        multi_hot feature."""
        dense, cats, multis = [], [], []
        for f in self.features:
            col = columns[f["column"]]
            if f["type"] == "numeric":
                if f.get("buckets", {}).get("boundaries") or f.get("boundaries"):
                    raise ValueError(f"feature {f['name']}: bucketised numerics are not supported here")
                dense.append([self.dense(f, v) for v in col])
            elif f["type"] == "categorical":
                cats.append(torch.tensor([self.lookup(f, str(v)) for v in col], dtype=torch.long))
            elif f["type"] == "multi_hot":
                ids, offsets = [], []
                for v in col:
                    offsets.append(len(ids))
                    items = [s for s in str(v).split(f.get("separator") or ",") if s]
                    if f.get("max_len", 0) > 0:
                        items = items[-f["max_len"] :]
                    ids.extend(self.lookup(f, s) for s in items)
                multis.append((torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)))
            else:
                raise ValueError(f"feature {f['name']}: type {f['type']} not supported here")
        x = torch.tensor(dense, dtype=torch.float32).T.contiguous() if dense else torch.zeros(n, 0)
        return x, cats, multis


def mlp(weights, prefix):
    layers = []
    i = 0
    while f"{prefix}.layers.{i}.weight" in weights:
        w = weights[f"{prefix}.layers.{i}.weight"]
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        lin.weight.data.copy_(w)
        lin.bias.data.copy_(weights[f"{prefix}.layers.{i}.bias"])
        layers += [lin, torch.nn.ReLU()]
        i += 1
    return torch.nn.Sequential(*layers[:-1])  # no activation after the last layer


class DLRM(torch.nn.Module):
    """models.DLRM: bottom MLP + ReLU on the dense features, embeddings
    (bags pooled by mean), pairwise dot interaction, top MLP."""

    def __init__(self, weights, n_cat, n_multi):
        super().__init__()
        self.bottom = mlp(weights, "bottom")
        self.top = mlp(weights, "top")
        self.cat = torch.nn.ModuleList(torch.nn.Embedding.from_pretrained(weights[f"cat.{i}.weight"]) for i in range(n_cat))
        self.multi = torch.nn.ModuleList(
            torch.nn.EmbeddingBag.from_pretrained(weights[f"multi.{i}.weight"], mode="mean") for i in range(n_multi)
        )

    def forward(self, x, cats, multis):
        d = torch.relu(self.bottom(x))
        feats = [d] + [e(c) for e, c in zip(self.cat, cats)] + [e(ids, off) for e, (ids, off) in zip(self.multi, multis)]
        t = torch.stack(feats, 1)
        z = torch.bmm(t, t.transpose(1, 2))
        f = len(feats)
        i, j = zip(*[(i, j) for i in range(1, f) for j in range(i)])
        return self.top(torch.cat([d, z[:, list(i), list(j)]], 1))


def check(art, urls):
    """Sends one request to each server and compares the answers."""
    meta = json.load(open(f"{art}/model.json"))
    feats = {f["column"]: f for f in meta["transforms"]["features"]}
    rng, n = random.Random(1), 64
    inputs = []
    for c in meta["signature"]["inputs"]:
        f = feats[c["name"]]
        vocab = (f.get("vocabulary") or []) + ["unseen-1", "unseen-2"]
        if c["type"] == "numeric":
            data, dt = [rng.choice([0, 1, 3, 20, 150, 4000]) * rng.random() for _ in range(n)], "FP32"
        elif c["type"] == "multi_hot":
            data, dt = [(f.get("separator") or ",").join(rng.sample(vocab, rng.randint(0, 3))) for _ in range(n)], "BYTES"
        else:
            data, dt = [rng.choice(vocab) for _ in range(n)], "BYTES"
        inputs.append({"name": c["name"], "datatype": dt, "shape": [n], "data": data})
    body = json.dumps({"inputs": inputs}).encode()
    answers = []
    for u in urls:
        req = urllib.request.Request(f"{u}/v2/models/{meta['name']}/infer", body, {"Content-Type": "application/json"})
        answers.append(json.load(urllib.request.urlopen(req))["outputs"][0]["data"])
    diff = max(abs(a - b) for a, b in zip(*answers))
    print(f"{n} rows: largest difference between {urls[0]} and {urls[1]}: {diff:.2e}")
    if diff > 1e-4:
        raise SystemExit("the servers disagree")


def main():
    if sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3:5])
        return
    art, port = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    meta = json.load(open(f"{art}/model.json"))
    if meta["arch"] != "dlrm":
        raise SystemExit(f"{art}: arch {meta['arch']}, this peer rebuilds dlrm only")
    weights = load_safetensors(f"{art}/weights.safetensors")
    enc = Encoder(meta["transforms"])
    n_cat = sum(f["type"] == "categorical" for f in enc.features)
    n_multi = sum(f["type"] == "multi_hot" for f in enc.features)
    model = DLRM(weights, n_cat, n_multi).eval()
    name = meta["name"]
    kinds = {"numeric": "FP32", "categorical": "BYTES", "multi_hot": "BYTES"}
    metadata = json.dumps({
        "name": name, "versions": ["1"], "platform": "pytorch",
        "inputs": [{"name": c["name"], "datatype": kinds[c["type"]], "shape": [-1]} for c in meta["signature"]["inputs"]],
        "outputs": [{"name": "probability", "datatype": "FP32", "shape": [-1, 1]}],
    }).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Buffer the headers and body into one write (flushed after each
        # request), or Nagle's algorithm and delayed ACKs add 40 ms to
        # every keep-alive request.
        wbufsize = 1 << 16

        def reply(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path in (f"/v2/models/{name}", f"/v2/models/{name}/ready"):
                self.reply(200, metadata)
            else:
                self.reply(404, b'{"error": "not found"}')

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != f"/v2/models/{name}/infer":
                self.reply(404, b'{"error": "not found"}')
                return
            try:
                req = json.loads(body)
                cols = {t["name"]: t["data"] for t in req["inputs"]}
                n = len(next(iter(cols.values())))
                x, cats, multis = enc.encode(cols, n)
                with torch.no_grad():
                    p = torch.sigmoid(model(x, cats, multis)).reshape(-1).tolist()
            except (KeyError, ValueError, TypeError, RuntimeError) as e:
                self.reply(400, json.dumps({"error": str(e)}).encode())
                return
            out = {"model_name": name, "model_version": "1",
                   "outputs": [{"name": "probability", "datatype": "FP32", "shape": [n, 1], "data": p}]}
            self.reply(200, json.dumps(out).encode())

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        # socketserver's listen backlog is 5: with more concurrent clients
        # the kernel drops connection attempts, which then wait for TCP's
        # retransmission timer (1 s, 3 s, ...) instead of for the server.
        request_queue_size = 1024

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], ConnectionError):  # clients closing keep-alive connections
                super().handle_error(request, client_address)

    Server(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
