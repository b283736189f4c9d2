"""Sizes of notebooks/13_summarization_qa.ipynb: `ci` and `full` side by side, then dry-run caps.

Summarization: the first ``xsum_articles`` XSum articles, each cut to about ``article_words``
words (whole sentences), are summarised by the lead baseline and by SmolLM2-Instruct in at most
``summary_new_tokens`` tokens, zero-shot and, when ``few_shot`` > 0, with that many example pairs
(the last articles of the file, never evaluated; their articles cut to ``few_shot_words``).
``length_articles`` articles measure the lead-k length effect (no model). ``batch_size``: prompts
per generation batch.

Question answering: recall@k of BM25 and dense retrieval over every answerable question of the
SQuAD slice; SmolLM2 answers ``qa_questions`` of them (``qa_new_tokens`` new tokens) closed-book,
with the gold paragraph, and with the top ``rag_k`` paragraphs of each retriever. The extractive
span head on MiniLM trains on ``span_train_examples`` SQuAD 1.1 questions of other articles
(``span_train``: ``steps`` of ``batch_size`` questions; ``train_encoder`` False trains only the
head, on hidden states computed once) and is scored on ``span_eval`` questions of the slice.
"""
from __future__ import annotations

CI = dict(
    xsum_articles=8, article_words=100, summary_new_tokens=32, few_shot=0, few_shot_words=80,
    length_articles=200, batch_size=8,
    qa_questions=12, qa_new_tokens=10, rag_k=1,
    span_train_examples=64, span_max_length=192, span_eval=40,
    span_train=dict(steps=300, batch_size=16, lr=1e-2, train_encoder=False),
)

FULL = dict(
    xsum_articles=997, article_words=400, summary_new_tokens=48, few_shot=2, few_shot_words=150,
    length_articles=999, batch_size=16,
    qa_questions=293, qa_new_tokens=16, rag_k=3,
    span_train_examples=10261, span_max_length=384, span_eval=293,
    span_train=dict(steps=1000, batch_size=32, lr=5e-5, train_encoder=True),
)

# Dry run: the full code path (few-shot prompts, the encoder trained) on a few items.
DRY_RUN = dict(xsum_articles=4, length_articles=20, qa_questions=4, span_train_examples=16,
               span_eval=8, batch_size=4)
