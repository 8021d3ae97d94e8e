"""Karpathy-style traces of a character-level LSTM on the course's corpus (unit 4).

Trains a one-layer LSTM language model on ``course.datasets.text.stdlib_corpus``
(the corpus the course ships: about 208,000 characters of standard-library
source, 90% for training, the last 10% held out) with truncated BPTT and a
carried-over state, and records what the lecture shows:

* at a few checkpoints (step 0 = untrained, then 100, 300, 1000, ...): the
  held-out bits per character and a sample of text (seeded, temperature 0.8),
  so that a student can watch the model learn words, then indentation, then
  Python;
* for readable properties of each held-out character (inside
  a string literal, inside a comment, the column in the line, the indentation
  of the line, the bracket depth), the correlation of every hidden unit's
  activation h_t with it over the whole held-out text, the best unit for each,
  and the activations of the best units over a snippet of held-out text (to
  colour the text with them, as in Karpathy's "The unreasonable effectiveness
  of recurrent neural networks", 2015);
* the held-out bits per character every 100 steps; the model analysed is the
  one of the best held-out step: the corpus is small and a 256-unit LSTM
  overfits it within a few thousand steps (dropout 0.3 on h slows that down).

Writes ``experiments/results/char_lm_traces.json`` (about 60 KB). Budgets are in
steps, not seconds; seeded, one thread, so a rerun gives the same numbers (checked:
two runs wrote identical results but for ``train_seconds``, 464 and 489 s on a
busy 2-core machine). Run from the repository root:

    python experiments/char_lm_traces.py
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _runs import clipped_step, n_parameters, settings_of, write_results
from torch import nn

from course.datasets.text import CharVocab, split_ids, stdlib_corpus, stream_chunks

RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS = (0, 100, 300, 1000, 2000)
EVAL_EVERY = 100


class CharLSTM(nn.Module):
    """Embedding -> one LSTM layer -> scores over the V characters. x (N, T) int64 -> (N, T, V), state."""

    def __init__(self, V, embed=32, hidden=256, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(V, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)  # on h before the read-out: the corpus is small, the model is not
        self.out = nn.Linear(hidden, V)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.out(self.drop(h)), state, h


def bits_per_char(model, ids, V):
    """Held-out cross-entropy in bits per character: 8 streams read from a zero state."""
    rows, L = 8, (len(ids) - 1) // 8
    x = torch.from_numpy(ids[: rows * L].reshape(rows, L))
    y = torch.from_numpy(ids[1 : rows * L + 1].reshape(rows, L))
    with torch.no_grad():
        logits = model(x)[0]
    return nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1)).item() / np.log(2)


def sample(model, vocab, prompt, n, temperature, seed):
    """``prompt`` followed by ``n`` characters drawn from softmax(scores / temperature), seeded."""
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        logits, state, _ = model(torch.from_numpy(vocab.encode(prompt))[None])
        for _ in range(n):
            p = torch.softmax(logits[0, -1] / temperature, dim=-1)
            c = torch.multinomial(p, 1, generator=g)
            out.append(vocab.chars[c.item()])
            logits, state, _ = model(c[None], state)
    return prompt + "".join(out)


def readable_features(text):
    """Per character of ``text``, properties a person can read off the source: name -> (len(text),) float.

    ``column`` is the position in the line, ``indent`` the number of leading
    spaces of the character's line. A small scanner (not Python's tokenizer:
    held-out text starts mid-file) gives ``in_string``, 1 inside a quoted
    literal (single, double or triple quotes, the quotes included),
    ``in_comment``, 1 from ``#`` to the end of the line, and ``bracket_depth``,
    the nesting of (), [] and {} outside strings and comments.
    """
    n = len(text)
    feats = {k: np.zeros(n) for k in ("in_string", "in_comment", "column", "indent", "bracket_depth")}
    start = 0
    for line in text.split("\n"):
        end = start + len(line) + 1  # the newline belongs to its line
        feats["column"][start:end] = np.arange(end - start)
        feats["indent"][start:end] = len(line) - len(line.lstrip(" "))
        start = end
    quote, comment, depth, i = None, False, 0, 0
    while i < n:
        c, width, inside = text[i], 1, quote is not None
        if c == "\n":
            comment = False
            if quote in ("'", '"'):  # an unclosed one-line string: resynchronise at the end of the line
                quote = None
        elif comment:
            pass
        elif quote is None:
            if text.startswith(('"""', "'''"), i):
                quote, width, inside = text[i : i + 3], 3, True
            elif c in "'\"":
                quote, inside = c, True
            elif c == "#":
                comment = True
            elif c in "([{":
                depth += 1
            elif c in ")]}":
                depth = max(depth - 1, 0)
        elif c == "\\" and text[i + 1 : i + 2] != "\n":
            width = 2  # an escaped character never closes the string
        elif text.startswith(quote, i):
            quote, width = None, len(quote)  # the closing quote is still part of the string
        feats["in_string"][i : i + width] = float(inside)
        feats["in_comment"][i : i + width] = float(comment)
        feats["bracket_depth"][i : i + width] = depth
        i += width
    return feats


def hidden_states(model, ids):
    """h_t of the LSTM for every character of ``ids`` (one stream, zero initial state): (len(ids), H)."""
    with torch.no_grad():
        return model(torch.from_numpy(ids)[None])[2][0].numpy()


def correlations(h, feature):
    """Pearson correlation of each unit of h (L, H) with feature (L,): (H,)."""
    hc = h - h.mean(0)
    fc = feature - feature.mean()
    return (hc * fc[:, None]).sum(0) / (np.sqrt((hc**2).sum(0) * (fc**2).sum()) + 1e-12)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--snippet-start", type=int, default=2000, help="offset of the shown snippet in held-out text")
    p.add_argument("--snippet-len", type=int, default=900)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    text = stdlib_corpus()
    vocab = CharVocab.from_text(text)
    V = vocab.size
    train_ids, val_ids = split_ids(vocab.encode(text))

    torch.manual_seed(args.seed)
    model = CharLSTM(V, hidden=args.hidden, dropout=args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    checkpoints, train_bits, val_curve, stream, state = [], [], [], iter(()), None
    best = (float("inf"), 0, None)  # (held-out bits/char, step, weights): the model analysed below
    t0 = time.perf_counter()
    for step in range(args.steps + 1):
        if step % EVAL_EVERY == 0 or step == args.steps:
            model.eval()
            bits = bits_per_char(model, val_ids, V)
            val_curve.append([step, round(bits, 4)])
            if bits < best[0]:
                best = (bits, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
            if step in CHECKPOINTS or step == args.steps:
                checkpoints.append(
                    {
                        "step": step,
                        "seconds": round(time.perf_counter() - t0, 1),
                        "val_bits_per_char": round(bits, 4),
                        "sample": sample(model, vocab, "def ", 300, args.temperature, seed=args.seed),
                    }
                )
            model.train()
            print(f"step {step}: {bits:.3f} bits/char held out")
        if step == args.steps:
            break
        try:
            x, y = next(stream)
        except StopIteration:  # a new pass over the text, from a zero state
            stream, state = stream_chunks(train_ids, args.batch, args.seq_len), None
            x, y = next(stream)
        logits, state, _ = model(torch.from_numpy(x), state)
        state = tuple(s.detach() for s in state)  # truncated BPTT: carry the state, cut the graph
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1))
        clipped_step(model, opt, loss, args.clip)
        train_bits.append(loss.item() / np.log(2))
    seconds = time.perf_counter() - t0

    # Which units track something readable? The model at its best held-out step, over the whole held-out text.
    model.load_state_dict(best[2])
    model.eval()
    val_text = vocab.decode(val_ids)
    h = hidden_states(model, val_ids)
    # scanned over the whole corpus, which starts at a file's start: held-out text may begin inside a string
    feats = {k: f[len(train_ids) :] for k, f in readable_features(text).items()}
    units = {}
    for name, f in feats.items():
        r = correlations(h, f)
        order = np.argsort(-np.abs(r))
        units[name] = {
            "best_unit": int(order[0]),
            "r": round(float(r[order[0]]), 4),
            "top5": [[int(u), round(float(r[u]), 4)] for u in order[:5]],
        }
        print(f"{name:14s} best unit {order[0]:3d}, r = {r[order[0]]:+.3f}")
    s0, s1 = args.snippet_start, args.snippet_start + args.snippet_len
    chosen = sorted({u["best_unit"] for u in units.values()})
    results = {
        "experiment": "character-level LSTM on course.datasets.text.stdlib_corpus: samples and hidden units",
        "settings": settings_of(args),
        "corpus_chars": len(text),
        "train_chars": len(train_ids),
        "val_chars": len(val_ids),
        "vocab_size": V,
        "parameters": n_parameters(model),
        "torch_version": torch.__version__,
        "train_seconds": round(seconds, 1),
        "checkpoints": checkpoints,
        "train_bits_per_char": [round(b, 4) for b in train_bits],
        "val_curve": val_curve,
        "best": {"step": best[1], "val_bits_per_char": round(best[0], 4)},
        "units": units,
        "snippet": {
            "val_offset": s0,
            "text": val_text[s0:s1],
            # the activations of the chosen units on the snippet, read in context (the whole held-out
            # text from a zero state, so the state at the snippet's start is the one the model had there)
            "activations": {str(u): [round(float(v), 3) for v in h[s0:s1, u]] for u in chosen},
        },
    }
    write_results(args.out / "char_lm_traces.json", results, f" (trained in {seconds:.0f} s)")


if __name__ == "__main__":
    main()
