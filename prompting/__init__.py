"""Prompt construction: the original work's seed prompt, chat prompts, and graph prompts."""
