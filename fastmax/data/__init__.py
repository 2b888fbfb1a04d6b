"""Data preparation: GPT-2 tokenizer folder, Wiki40B cleaning, token shards, sample corpus."""
