"""Tokenizers for TF-IDF features, defined at module level so fitted vectorizers pickle by reference.

``TfidfVectorizer(tokenizer=jieba.lcut)`` does not pickle (a bound method of jieba's global tokenizer);
these functions do, and a served model finds them again by import. jieba is loaded lazily, once, with its
dictionary cache in a private temp folder (by default it writes to the system temp dir, which a read-only
container may not offer under that name).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from typing import Any

# Words (letters, digits, underscore; any script) and single symbols: '£', '!' and '?' are strong spam cues.
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_jieba_lock = threading.Lock()
_jieba: Any = None


def word_tokens(text: str) -> list[str]:
    """Word and symbol tokens (for space-separated languages)."""
    return _WORD.findall(text)


def _jieba_tokenizer() -> Any:
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                cache = os.environ.get("MLOPS_JIEBA_CACHE_DIR") or os.path.join(
                    tempfile.gettempdir(), "mlops-jieba"
                )
                os.makedirs(cache, exist_ok=True)
                jieba.dt.tmp_dir = cache
                jieba.dt.initialize()
                _jieba = jieba.dt
    return _jieba


def jieba_tokens(text: str) -> list[str]:
    """Chinese word segmentation (jieba, precise mode); whitespace tokens dropped."""
    return [t for t in _jieba_tokenizer().lcut(text) if t.strip()]


def cjk_share(texts: list[str]) -> float:
    """Share of texts containing CJK characters (``auto`` tokenizer: jieba when most texts are Chinese)."""
    if not texts:
        return 0.0
    return sum(1 for t in texts if _CJK.search(t)) / len(texts)


TOKENIZERS = {"word": word_tokens, "jieba": jieba_tokens}
