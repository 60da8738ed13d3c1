"""Retrieval building blocks: encoders (sentence-transformers and others), the Chinese lexical
channel (jieba + BM25), the persisted vector index, the embedding cache and rank fusion."""
