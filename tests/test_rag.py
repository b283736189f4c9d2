"""Retrieval-augmented question answering (llmbook.retrieval): the reader's prompt, retrieval of
either kind, batched replies equal to one-by-one replies, and clear errors."""
from __future__ import annotations

import pytest
import torch

from llmbook import data
from llmbook.retrieval import BM25, QA_EXAMPLE, DenseRetriever, answer_questions, \
    answer_with_retrieval, generate_replies, qa_messages, rag_prompt, retrieve, tokenize


@pytest.fixture(scope="module")
def paragraphs():
    return sorted({item["context"] for item in data.load("squad", "val")})[:20]


@pytest.fixture(scope="module")
def tiny_llama(smollm2_tokenizer):
    """A random 2-layer Llama with SmolLM2's vocabulary: fast, and enough to test batching."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(smollm2_tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def test_messages_closed_and_open_book():
    closed = qa_messages("Who led the Normans?")
    assert [m["role"] for m in closed] == ["system", "user"]
    assert closed[1]["content"] == "Question: Who led the Normans?"
    open_book = qa_messages("Who?", ["first passage", "second passage "])
    assert open_book[1]["content"] == ("Context:\n[1] first passage\n[2] second passage\n\n"
                                       "Question: Who?")
    assert qa_messages("Who?", []) == qa_messages("Who?")
    with_example = qa_messages("Who?", ["a passage"], example=("Q?", "P.", "A"))
    assert [m["role"] for m in with_example] == ["system", "user", "assistant", "user"]
    assert with_example[1]["content"] == "Context:\n[1] P.\n\nQuestion: Q?"
    assert with_example[2]["content"] == "A"
    assert with_example[3]["content"] == "Context:\n[1] a passage\n\nQuestion: Who?"
    # closed-book: the example is shown without its passage too
    assert qa_messages("Who?", example=("Q?", "P.", "A"))[1]["content"] == "Question: Q?"


def test_rag_prompt_uses_the_chat_template(smollm2_tokenizer):
    prompt = rag_prompt(smollm2_tokenizer, "Who?", ["Rollo led them."])
    messages = qa_messages("Who?", ["Rollo led them."], example=QA_EXAMPLE)
    expected = smollm2_tokenizer.apply_chat_template(messages, tokenize=False,
                                                     add_generation_prompt=True)
    assert prompt == expected
    assert prompt.endswith("<|im_start|>assistant\n") and "[1] Rollo led them." in prompt
    assert prompt.index(QA_EXAMPLE[1]) < prompt.index("Rollo")  # the worked example first
    assert rag_prompt(smollm2_tokenizer, "Who?", example=None).count("Question:") == 1
    assert "SmolLM" not in prompt  # our system message replaces the default one


def test_retrieve_equals_each_retrievers_ranking(paragraphs, smollm2_tokenizer):
    from transformers import BertConfig, BertModel

    questions = ["Who was Rollo?", "What is computational complexity theory about?"]
    bm25 = BM25([tokenize(p) for p in paragraphs])
    assert retrieve(bm25, questions, 3) == [bm25.top_k(tokenize(q), 3) for q in questions]

    from llmbook import pretrained

    try:
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(str(pretrained.minilm_dir()))
    except pretrained.PretrainedMissing as missing:
        pytest.skip(f"MiniLM is not installed: {missing}")
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16,
                                   num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32)).eval()
    dense = DenseRetriever(encoder, tokenizer, paragraphs)
    assert retrieve(dense, questions, 4) == [[i for i, _ in dense.search(q, 4)] for q in questions]


def test_batched_replies_equal_one_by_one(tiny_llama, smollm2_tokenizer):
    prompts = [rag_prompt(smollm2_tokenizer, "Who?"),
               rag_prompt(smollm2_tokenizer, "In what country is Normandy located?",
                          ["The Normans gave their name to Normandy, a region in France."]),
               rag_prompt(smollm2_tokenizer, "When?", ["In 911."])]
    batched = generate_replies(tiny_llama, smollm2_tokenizer, prompts, max_new_tokens=6,
                               batch_size=3)
    alone = [generate_replies(tiny_llama, smollm2_tokenizer, [p], max_new_tokens=6)[0]
             for p in prompts]
    assert batched == alone
    # duplicates are generated once and answered alike, in the caller's order
    repeated = generate_replies(tiny_llama, smollm2_tokenizer, [prompts[2], prompts[0], prompts[2]],
                                max_new_tokens=6, batch_size=2)
    assert repeated == [alone[2], alone[0], alone[2]]
    assert len(batched) == 3 and all(isinstance(r, str) for r in batched)


def test_answer_with_retrieval_reads_the_retrieved_passages(tiny_llama, smollm2_tokenizer,
                                                            paragraphs):
    bm25 = BM25([tokenize(p) for p in paragraphs])
    questions = ["Who was Rollo?", "What is a Turing machine?"]
    answers, rankings = answer_with_retrieval(tiny_llama, smollm2_tokenizer, questions, bm25,
                                              paragraphs, k=2, max_new_tokens=4)
    assert rankings == retrieve(bm25, questions, 2)
    passages = [[paragraphs[i] for i in ranking] for ranking in rankings]
    assert answers == answer_questions(tiny_llama, smollm2_tokenizer, questions, passages,
                                       max_new_tokens=4)
    assert all("\n" not in a for a in answers)  # the first line of each reply
    # an empty list of passages is closed-book for that question
    mixed = answer_questions(tiny_llama, smollm2_tokenizer, questions, [[], passages[1]],
                             max_new_tokens=4)
    assert mixed == [answer_questions(tiny_llama, smollm2_tokenizer, questions[:1],
                                      max_new_tokens=4)[0], answers[1]]


def test_bad_input_is_a_clear_error(tiny_llama, smollm2_tokenizer, paragraphs):
    bm25 = BM25([tokenize(p) for p in paragraphs])
    with pytest.raises(ValueError, match="non-empty"):
        qa_messages("  ")
    with pytest.raises(TypeError, match="one str"):
        qa_messages("Who?", "a passage")
    with pytest.raises(ValueError, match="empty"):
        retrieve(bm25, [], 3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        retrieve(bm25, ["Who?"], 0)
    with pytest.raises(TypeError, match="BM25 or a DenseRetriever"):
        retrieve(object(), ["Who?"], 1)
    with pytest.raises(ValueError, match="one list of passages per question"):
        answer_questions(tiny_llama, smollm2_tokenizer, ["Who?", "What?"], [["p"]])
    with pytest.raises(ValueError, match="indexes 20 documents"):
        answer_with_retrieval(tiny_llama, smollm2_tokenizer, ["Who?"], bm25, paragraphs[:5])
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_replies(tiny_llama, smollm2_tokenizer, ["x"], max_new_tokens=0)

    class NoTemplate:
        chat_template = None

    with pytest.raises(ValueError, match="no chat template"):
        rag_prompt(NoTemplate(), "Who?")
