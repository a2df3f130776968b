"""Spell, the streaming longest-common-subsequence log parser of Du & Li (ICDM 2016), in the standard library.

Each message is masked (user regexes → ``<*>``), split into tokens on whitespace and ``=:,``, then matched
against the known templates in the paper's order, cheapest first:

1. **prefix tree**: the templates' constant tokens are stored in a trie; a template whose constant tokens
   appear in the message in order (walking the trie skips message tokens) matches when it keeps at least
   ``tau`` of the message's constant tokens;
2. **simple loop**: a template at least half the message's length whose constant tokens all occur in the
   message (a set test, as in the reference implementation: mis-ordered tokens are rare in logs);
3. **LCS scan**: the template with the longest common subsequence with the message (ties: the shorter
   template), accepted when that LCS covers at least ``tau`` of the message's tokens; templates sharing fewer
   than half the message's distinct tokens are skipped without computing the LCS.

A message matched by the LCS scan generalises the template (tokens outside the LCS become ``<*>``); an
unmatched one starts a new template. The matching rules and their thresholds follow logpai/logparser's Spell,
whose output the published Loghub grouping accuracies measure. ``match`` runs the same three steps without
changing anything (prediction on new lines).

The parser is serialisable as plain JSON (``to_dict``/``from_dict``); the trie is rebuilt on load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

WILDCARD = "<*>"
TOKEN_SPLIT = re.compile(r"[\s=:,]+")
# Defaults when the user gives no masking: IPv4 addresses (with port), hex ids, then free-standing numbers.
DEFAULT_MASKING: tuple[str, ...] = (
    r"(\d+\.){3}\d+(:\d+)?",
    r"\b0[xX][0-9a-fA-F]+\b",
    r"(?<![\w.])[-+]?\d+(\.\d+)?(?![\w.])",
)
MAX_CACHE = 200_000  # distinct masked messages remembered by the matcher (bounded memory)


def compile_log_format(log_format: str) -> tuple[re.Pattern[str], list[str]] | None:
    """Loghub's header regex: ``<Field>`` placeholders become named lazy groups, the text between them is
    a regular expression (Loghub settings escape brackets: ``\\[<Level>\\]``) with spaces matching any run of
    whitespace. ``None`` when the format is just ``<Content>`` (the whole line is the message)."""
    fmt = (log_format or "").strip()
    if fmt in ("", "<Content>"):
        return None
    parts = re.split(r"(<[^<>]+>)", fmt)
    headers: list[str] = []
    regex = ""
    for k, part in enumerate(parts):
        if k % 2 == 0:
            regex += re.sub(" +", r"\\s+", part)
        else:
            name = part.strip("<>")
            if not name.isidentifier():
                raise ValueError(f"log_format field <{name}> is not a valid name")
            headers.append(name)
            regex += f"(?P<{name}>.*?)"
    if "Content" not in headers:
        raise ValueError("log_format must contain a <Content> field (the message part)")
    try:
        return re.compile("^" + regex + "$"), headers
    except re.error as exc:
        raise ValueError(f"log_format is not a valid pattern: {exc}") from None


def compile_masking(patterns: list[str] | tuple[str, ...]) -> list[re.Pattern[str]]:
    compiled = []
    for p in patterns:
        try:
            compiled.append(re.compile(p))
        except re.error as exc:
            raise ValueError(f"masking regex {p!r} is invalid: {exc}") from None
    return compiled


def lcs(seq1: list[str], seq2: list[str]) -> list[str]:
    """One longest common subsequence of two token lists (dynamic programming, then backtracking)."""
    n, m = len(seq1), len(seq2)
    lengths = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n):
        row, nxt = lengths[i], lengths[i + 1]
        a = seq1[i]
        for j in range(m):
            nxt[j + 1] = row[j] + 1 if a == seq2[j] else max(row[j + 1], nxt[j])
    out: list[str] = []
    i, j = n, m
    while i and j:
        if lengths[i][j] == lengths[i - 1][j]:
            i -= 1
        elif lengths[i][j] == lengths[i][j - 1]:
            j -= 1
        else:
            out.append(seq1[i - 1])
            i -= 1
            j -= 1
    out.reverse()
    return out


def merge_template(common: list[str], template: list[str]) -> list[str]:
    """``template`` with every token outside ``common`` replaced by ``<*>`` (reference implementation's rule:
    the template is cut after the last common token and ends in ``<*>`` if anything followed it)."""
    if not common:
        return []
    out: list[str] = []
    k = 0
    consumed = 0
    for token in template:
        consumed += 1
        if token == common[k]:
            out.append(token)
            k += 1
        else:
            out.append(WILDCARD)
        if k == len(common):
            break
    if consumed < len(template):
        out.append(WILDCARD)
    return out


@dataclass
class Cluster:
    cluster_id: int
    template: list[str]
    count: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.template)

    def constants(self) -> list[str]:
        return [t for t in self.template if t != WILDCARD]


class _Node:
    __slots__ = ("children", "cluster", "passing")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.cluster: Cluster | None = None
        self.passing = 0  # templates whose constant-token path runs through this node


class SpellParser:
    """The streaming parser; ``parse`` learns, ``match`` only looks up."""

    def __init__(
        self,
        tau: float = 0.5,
        masking: list[str] | tuple[str, ...] | None = None,
        log_format: str = "<Content>",
        max_samples: int = 3,
    ) -> None:
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {tau}")
        self.tau = float(tau)
        self.masking = list(DEFAULT_MASKING if masking is None else masking)
        self.log_format = log_format or "<Content>"
        self.max_samples = max_samples
        self._masks = compile_masking(self.masking)
        self._format = compile_log_format(self.log_format)
        self.clusters: list[Cluster] = []
        self._root = _Node()
        self._cache: dict[str, Cluster | None] = {}

    # ------------------------------------------------------------------ preprocessing
    def content(self, line: str) -> str:
        """The message part of a raw line; a line not in the log format is parsed whole (never dropped)."""
        if self._format is None:
            return line.strip()
        m = self._format[0].match(line.strip())
        return m.group("Content") if m else line.strip()

    def tokens(self, line: str) -> list[str]:
        text = self.content(line)
        for mask in self._masks:
            text = mask.sub(WILDCARD, text)
        return [t for t in TOKEN_SPLIT.split(text) if t]

    # ------------------------------------------------------------------ the three lookups
    def _prefix_match(self, node: _Node, constants: list[str], start: int) -> Cluster | None:
        # Iterative form of the reference recursion: descend at the first message token with a child.
        n = len(constants)
        i = start
        while i < n:
            child = node.children.get(constants[i])
            if child is not None:
                if child.cluster is None:
                    node = child
                elif len(child.cluster.constants()) >= self.tau * n:
                    return child.cluster
                # A template too short for this message: keep scanning at the same depth (as the reference).
            i += 1
        return None

    def _loop_match(self, constants: list[str]) -> Cluster | None:
        token_set = set(constants)
        half = 0.5 * len(constants)
        for cluster in self.clusters:
            if len(cluster.template) < half:
                continue
            if all(t in token_set or t == WILDCARD for t in cluster.template):
                return cluster
        return None

    def _lcs_match(self, seq: list[str]) -> tuple[Cluster | None, list[str]]:
        best: Cluster | None = None
        best_lcs: list[str] = []
        best_len = -1
        seq_set = set(seq)
        half = 0.5 * len(seq)
        for cluster in self.clusters:
            if len(seq_set.intersection(cluster.template)) < half:
                continue
            common = lcs(seq, cluster.template)
            if len(common) > best_len or (
                best is not None and len(common) == best_len and len(cluster.template) < len(best.template)
            ):
                best, best_lcs, best_len = cluster, common, len(common)
        # Masked tokens count in the LCS (reference behaviour): without them, messages differing in one unmasked
        # number (HDFS 'PacketResponder 1 …' vs '… 0 …') no longer merge — measured 0.66 instead of 1.0 on HDFS.
        if best is not None and best_len >= self.tau * len(seq):
            return best, best_lcs
        return None, []

    def _lookup(self, seq: list[str]) -> tuple[Cluster | None, list[str] | None]:
        """The matching cluster and, when it came from the LCS scan, the common subsequence."""
        constants = [t for t in seq if t != WILDCARD]
        found = self._prefix_match(self._root, constants, 0)
        if found is None:
            found = self._loop_match(constants)
        if found is not None:
            return found, None
        return self._lcs_match(seq)

    # ------------------------------------------------------------------ trie upkeep
    def _add_to_tree(self, cluster: Cluster) -> None:
        node = self._root
        for token in cluster.constants():
            child = node.children.get(token)
            if child is None:
                child = node.children[token] = _Node()
            child.passing += 1
            node = child
        if node.cluster is None:
            node.cluster = cluster

    def _remove_from_tree(self, cluster: Cluster) -> None:
        node = self._root
        for token in cluster.constants():
            child = node.children.get(token)
            if child is None:
                return
            if child.passing == 1:
                del node.children[token]  # only this template used the rest of the path
                return
            child.passing -= 1
            if child.cluster is cluster:
                child.cluster = None
            node = child

    # ------------------------------------------------------------------ public API
    def parse_tokens(self, seq: list[str], line: str = "") -> Cluster:
        """Learn from one tokenised message; returns its cluster."""
        cluster, common = self._lookup(seq)
        if cluster is None:
            cluster = Cluster(cluster_id=len(self.clusters), template=list(seq))
            self.clusters.append(cluster)
            self._add_to_tree(cluster)
        elif common is not None:
            merged = merge_template(common, cluster.template)
            if merged != cluster.template:
                self._remove_from_tree(cluster)
                cluster.template = merged
                self._add_to_tree(cluster)
        cluster.count += 1
        if len(cluster.samples) < self.max_samples and line:
            cluster.samples.append(line)
        return cluster

    def parse(self, line: str) -> Cluster:
        return self.parse_tokens(self.tokens(line), line)

    def parse_all(self, lines: list[str]) -> list[int]:
        """Learn from every line; each line's cluster id, as of the end of parsing."""
        return [self.parse(line).cluster_id for line in lines]

    def match(self, line: str) -> Cluster | None:
        """The known cluster a line belongs to, or None — the model is not changed."""
        seq = self.tokens(line)
        key = " ".join(seq)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if not seq:
            found = None
        else:
            found, _ = self._lookup(seq)
        # Safe across threads: a dict store is atomic under the GIL, and a lost store only costs a lookup.
        if len(self._cache) < MAX_CACHE:
            self._cache[key] = found
        return found

    def merge_duplicates(self) -> dict[int, int]:
        """Fold clusters that ended with the same template text into the first of them (they are one event,
        as the reference implementation reports them by template); renumber ids 0..n-1. Returns old → new."""
        by_text: dict[str, Cluster] = {}
        mapping: dict[int, int] = {}
        kept: list[Cluster] = []
        for cluster in self.clusters:
            first = by_text.get(cluster.text)
            if first is None:
                by_text[cluster.text] = cluster
                mapping[cluster.cluster_id] = len(kept)
                kept.append(cluster)
            else:
                first.count += cluster.count
                first.samples = (first.samples + cluster.samples)[: self.max_samples]
                mapping[cluster.cluster_id] = mapping[first.cluster_id]
        for new_id, cluster in enumerate(kept):
            cluster.cluster_id = new_id
        self.clusters = kept
        self._rebuild()
        return mapping

    def _rebuild(self) -> None:
        self._root = _Node()
        self._cache = {}
        for cluster in self.clusters:
            self._add_to_tree(cluster)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tau": self.tau,
            "masking": self.masking,
            "log_format": self.log_format,
            "max_samples": self.max_samples,
            "clusters": [
                {"cluster_id": c.cluster_id, "template": c.template, "count": c.count, "samples": c.samples}
                for c in self.clusters
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpellParser:
        parser = cls(
            tau=data["tau"],
            masking=data["masking"],
            log_format=data["log_format"],
            max_samples=data.get("max_samples", 3),
        )
        parser.clusters = [
            Cluster(int(c["cluster_id"]), list(c["template"]), int(c["count"]), list(c["samples"]))
            for c in data["clusters"]
        ]
        parser._rebuild()
        return parser

    # Pickling (mlflow's cloudpickle) goes through the JSON form: compiled regexes and the trie are rebuilt.
    def __getstate__(self) -> dict[str, Any]:
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(SpellParser.from_dict(state).__dict__)
