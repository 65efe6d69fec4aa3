"""Model loading (embedded SmolLM2 GGUF, any GGUF, local HF folders, tiny random Llamas)."""
