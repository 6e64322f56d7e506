"""Torch models (the LSTM autoencoder), their training and checkpoint registry."""
