"""Model, training, evaluation and inference (second stage; reads what data_prep wrote)."""
