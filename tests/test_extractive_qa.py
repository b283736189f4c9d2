"""The extractive span head (llmbook.models.extractive_qa): span decoding against a brute-force
search, the loss against a hand computation and Hugging Face's BertForQuestionAnswering, and the
answer's token positions against the text."""
from __future__ import annotations

import math

import pytest
import torch

from llmbook import data
from llmbook.metrics import normalize_answer
from llmbook.models import BERT, BERTConfig, ExtractiveQA, best_span, encode_squad, \
    predict_answers, span_loss
from llmbook.models.extractive_qa import whole_words


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from llmbook import pretrained

    try:
        folder = pretrained.minilm_dir()
    except pretrained.PretrainedMissing as missing:
        pytest.skip(f"MiniLM is not installed: {missing}")
    return AutoTokenizer.from_pretrained(str(folder))


def brute_force_span(start, end, allowed, max_len):
    best = (None, None, -math.inf)
    for i in range(len(start)):
        for j in range(i, min(len(start), i + max_len)):
            if allowed[i] and allowed[j] and start[i] + end[j] > best[2]:
                best = (i, j, start[i] + end[j])
    return best


def test_best_span_equals_brute_force():
    generator = torch.Generator().manual_seed(0)
    for trial in range(200):
        seq = int(torch.randint(1, 25, (1,), generator=generator))
        start, end = torch.randn(seq, generator=generator), torch.randn(seq, generator=generator)
        allowed = torch.rand(seq, generator=generator) < 0.7
        allowed[int(torch.randint(0, seq, (1,), generator=generator))] = True
        max_len = int(torch.randint(1, 8, (1,), generator=generator))
        ours = best_span(start, end, allowed, max_len)
        reference = brute_force_span(start.double().tolist(), end.double().tolist(),
                                     allowed.tolist(), max_len)
        assert ours[:2] == reference[:2], (trial, ours, reference)
        assert ours[2] == pytest.approx(reference[2], abs=1e-12)


def test_best_span_respects_the_rules():
    start = torch.tensor([9.0, 0.0, 0.0, 5.0, 0.0])
    end = torch.tensor([0.0, 8.0, 1.0, 0.0, 7.0])
    allowed = torch.tensor([False, True, True, True, True])  # position 0 is the question
    # the best pair overall, (0, 1), starts outside the paragraph; (3, 4) beats (1, 1)
    assert best_span(start, end, allowed, 30)[:2] == (3, 4)
    assert best_span(start, end, allowed, 1)[:2] == (1, 1)  # one token: 0 + 8 > 5 + 0
    # an end before the start is never chosen, however high
    assert best_span(torch.tensor([0.0, 5.0]), torch.tensor([9.0, 0.0]),
                     torch.tensor([True, True]), 5)[:2] == (0, 0)


def test_span_loss_by_hand():
    start = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    end = torch.tensor([[0.2, 0.1, 2.0], [1.0, 1.0, 1.0]])
    starts, ends = torch.tensor([1, 2]), torch.tensor([2, 0])

    def nll(logits, gold):
        return math.log(sum(math.exp(x) for x in logits)) - logits[gold]

    by_hand = sum((nll(s, a) + nll(e, b)) / 2 for s, e, a, b in
                  zip(start.tolist(), end.tolist(), starts.tolist(), ends.tolist())) / 2
    assert float(span_loss(start, end, starts, ends)) == pytest.approx(by_hand, rel=1e-6)


def test_head_and_loss_equal_hugging_face_bert_for_question_answering():
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    reference = BertForQuestionAnswering(config).eval()
    ours = ExtractiveQA(reference.bert)
    ours.head.load_state_dict(reference.qa_outputs.state_dict())
    ids = torch.randint(0, 50, (3, 12))
    mask = torch.ones_like(ids)
    mask[0, 9:] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    starts, ends = torch.tensor([5, 6, 7]), torch.tensor([6, 9, 11])
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, token_type_ids=types,
                             start_positions=starts, end_positions=ends)
        start, end = ours(ids, attention_mask=mask, token_type_ids=types)
    torch.testing.assert_close(start, expected.start_logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(end, expected.end_logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(span_loss(start, end, starts, ends), expected.loss, rtol=1e-6,
                               atol=1e-6)


def test_works_on_the_books_bert():
    model = ExtractiveQA(BERT(BERTConfig(vocab_size=40, n_layer=1, n_head=2, n_embd=8,
                                         max_position=16)))
    start, end = model(torch.randint(0, 40, (2, 10)))
    assert start.shape == end.shape == (2, 10)


def test_answer_positions_map_back_to_the_answer(minilm_tokenizer):
    items = data.load("squad11", "train")[:60]
    batch = encode_squad(minilm_tokenizer, [x["question"] for x in items],
                         [x["context"] for x in items], [x["answer_starts"][0] for x in items],
                         [x["answers"][0] for x in items], max_length=384)
    exact = 0
    for row, item in enumerate(items):
        assert bool(batch.in_window[row])
        start, end = int(batch.start_positions[row]), int(batch.end_positions[row])
        assert batch.context_mask[row, start] and batch.context_mask[row, end] and start <= end
        text = item["context"][int(batch.offsets[row, start, 0]):int(batch.offsets[row, end, 1])]
        assert item["answers"][0] in text  # the tokens cover the answer...
        exact += normalize_answer(text) == normalize_answer(item["answers"][0])
    # ...and almost always nothing more (a word piece may hold more: '18' for the answer '8')
    assert exact >= 0.9 * len(items)


def test_answers_outside_the_window_are_flagged(minilm_tokenizer):
    context = "filler " * 60 + "The answer is Rollo."
    batch = encode_squad(minilm_tokenizer, ["Who?"], [context], [context.index("Rollo")],
                         ["Rollo"], max_length=32)
    assert not bool(batch.in_window[0])


def test_predict_answers_returns_spans_of_the_paragraph(minilm_tokenizer):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=16,
                                   num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32)).eval()
    items = data.load("squad", "val")[:5]
    contexts = [x["context"] for x in items]
    answers = predict_answers(ExtractiveQA(encoder), minilm_tokenizer,
                              [x["question"] for x in items], contexts, max_answer_length=5,
                              batch_size=2)
    assert len(answers) == 5
    assert all(a and a in c for a, c in zip(answers, contexts))


def test_whole_words():
    text = "Rollo (c. 860-930), computational theory."
    assert whole_words(text, 0, 3) == (0, 5)  # "Rol" -> "Rollo"
    assert whole_words(text, 21, 26) == (20, 33)  # "omput" -> "computational"
    assert whole_words(text, 20, 33) == (20, 33)  # already whole
    assert whole_words(text, 7, 11) == (7, 13)  # "c. 8" -> "c. 860": the start is a boundary
    assert whole_words(text, 10, 13) == (10, 13)  # "860": "-" is a boundary
    assert whole_words(text, 0, len(text)) == (0, len(text))


def test_bad_input_is_a_clear_error(minilm_tokenizer):
    with pytest.raises(ValueError, match="no position is allowed"):
        best_span(torch.zeros(3), torch.zeros(3), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="in_window"):
        span_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.tensor([0, 4]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="not at character"):
        encode_squad(minilm_tokenizer, ["Who?"], ["Rollo led them."], [3], ["Rollo"])
    with pytest.raises(ValueError, match="one paragraph per question"):
        encode_squad(minilm_tokenizer, ["Who?", "What?"], ["Rollo led them."])
