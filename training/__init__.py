"""Fine-tuning: SFT data with supervised EOS, PEFT adapters (LoRA, QLoRA, prompt tuning), the loop."""
